""" "Sounds like this": tracks whose vectors are nearest a reference track or clip.

The reference is a catalogued track (by id or path) or any audio file outside
the catalog (a temp track), which is analysed on the fly by indexing's own stage.
The query vector joins the reference's track embedding (the catalog's model) and
its sound embedding (musicnn's tagger: ``descriptors``), each unit length, as the
catalog's vector index does (``catalog.vectors.joined``, each block projected first
when the model carries the "sounds like" projection: ``model/likeness.py``); when a
part of it is chosen (``start``/``end``), the model block is the mean of that part's
segment embeddings and the sound block what musicnn hears of that part, decoded again
(the stored one hears the whole track); where the file cannot be read any more, the
part is compared on the model's block alone.
Candidates come from the catalog's vector index (exact on small catalogs,
HNSW on large ones); each result's best-matching segment is the window
(30 s by default) whose segment embeddings are closest to the query's model block on
average.
Results have the shape of genre-search results: ``score`` is the cosine
similarity, ``genres`` the result's probabilities on the reference's strongest
genres (what the two share).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cuefinder import audio, descriptors
from cuefinder.catalog import Catalog, StoredModel, Track
from cuefinder.catalog.vectors import VectorIndex, joined
from cuefinder.errors import CatalogError, CuefinderError, QueryError
from cuefinder.find.rank import WINDOW_SECONDS, Result, _model, fitted, window_bounds

SHARED_GENRES = 3
REFERENCE_MAX_SECONDS = 1800.0  # an outside reference clip longer than this is refused
AWAY = 0.5  # weight of the --not references' mean vector, subtracted from the query


@dataclass
class Reference:
    """What a similarity query is made of."""

    name: str  # the catalog path, or the outside file's path
    track_id: int | None  # set when the reference is a catalogued track
    duration: float
    segment_seconds: float
    segment_embeddings: np.ndarray  # (segments, dim), unit rows
    segment_scores: np.ndarray  # (segments, genres)
    embedding: np.ndarray  # (dim,), unit
    track_scores: np.ndarray  # (genres,)
    sound_embedding: np.ndarray | None = None  # (descriptors.SOUND_DIM,) when measured


def similar(
    reference: int | str | os.PathLike | list,
    catalog: Catalog | None = None,
    *,
    not_=(),
    limit: int = 10,
    start: float | None = None,
    end: float | None = None,
    min_duration: float | None = None,
    max_duration: float | None = None,
    exclude_self: bool = True,
    window_seconds: float = WINDOW_SECONDS,
    length: float | None = None,
    index: VectorIndex | None = None,
) -> list[Result]:
    """Catalog tracks that sound like ``reference``, nearest first.

    Parameters
    ----------
    reference : a catalog track id, a catalog track path (or unique path suffix), or an
        audio file outside the catalog; or a list of them: tracks like all of them (the
        query is the mean of their vectors)
    not_ : references to move away from: their mean vector is subtracted at
        ``AWAY`` weight (Rocchio's relevance feedback), and they are left out
    start, end : seconds; use only this part of the reference as the query
    exclude_self : leave the reference track itself out of the results
    length : seconds; each result's window is its closest part of exactly this length,
        and shorter tracks are left out
    index : a VectorIndex to reuse between queries (a server keeps one)
    """
    if limit < 1:
        raise QueryError(f"limit must be at least 1, got {limit}")
    window_seconds, min_duration = fitted(length, window_seconds, min_duration)
    catalog = catalog or Catalog(create=False)
    model = _model(catalog)
    many = isinstance(reference, (list, tuple))
    refs = [resolve(r, catalog, model) for r in (reference if many else [reference])]
    if not refs:
        raise QueryError("give at least one reference track or file")
    if len(refs) > 1 and (start is not None or end is not None):
        raise QueryError("--from/--to choose a part of one reference; give one track with them")
    parts = [query_vector(ref, start, end) for ref in refs]
    query = _unit(np.mean([p[0] for p in parts], axis=0))  # the model block: best windows
    query_scores = np.mean([p[1] for p in parts], axis=0)
    heard = [p[2] for p in parts if p[2] is not None]
    index = index or VectorIndex(catalog, model)
    wanted = joined(query, np.mean(heard, axis=0) if heard else None, index.likeness)
    away = [resolve(r, catalog, model) for r in not_]
    if away:
        shunned = [joined(r.embedding, r.sound_embedding, index.likeness) for r in away]
        wanted = _unit(wanted - AWAY * _unit(np.mean(shunned, axis=0)))
        query = _unit(query - AWAY * _unit(np.mean([r.embedding for r in away], axis=0)))
    skip = {r.track_id for r in away} | ({r.track_id for r in refs} if exclude_self else set())
    results: list[Result] = []
    want = limit * 4 + 10
    while True:
        ids, scores = index.search(wanted, want)
        results = []
        for track_id, score in zip(ids.tolist(), scores.tolist()):
            if track_id in skip:
                continue
            track = catalog.track(int(track_id))
            if track is None or track.missing or track.model_id != model.model_id:
                continue
            if min_duration is not None and track.duration < min_duration:
                continue
            if max_duration is not None and track.duration > max_duration:
                continue
            results.append(_result(track, score, query, query_scores, window_seconds, length))
            if len(results) == limit:
                return results
        if len(ids) < want:  # the whole catalog was seen
            return results
        want *= 4


def resolve(reference: int | str | os.PathLike, catalog: Catalog, model: StoredModel) -> Reference:
    """The reference's embeddings: stored ones for a catalog track, fresh ones for a file."""
    if isinstance(reference, bool):
        raise QueryError(f"reference must be a track id, path or file, got {reference!r}")
    if isinstance(reference, int):
        track = catalog.track(reference)
        if track is None:
            raise QueryError(f"no track with id {reference} in {catalog.path}")
        return _from_track(track, catalog, model)
    text = os.fsdecode(reference)
    if not text.strip():
        raise QueryError("reference is empty: give a catalog track or an audio file")
    track = catalog.track(os.path.abspath(text)) or catalog.track(text)
    if track is not None and not track.missing:
        return _from_track(track, catalog, model)
    if os.path.isfile(text):
        return _from_file(Path(text), catalog, model)
    raise QueryError(f"{text}: neither a track in the catalog nor an audio file")


def _from_track(track: Track, catalog: Catalog, model: StoredModel) -> Reference:
    if track.model_id != model.model_id or len(track.segment_embeddings) == 0:
        if os.path.isfile(track.path):  # tagged by another model, or before segments were kept
            return _from_file(Path(track.path), catalog, model, track_id=track.id)
        raise CatalogError(f"{track.path}: re-index it ('cuefinder index') to compare it")
    return Reference(track.path, track.id, track.duration, track.segment_seconds,
                     track.segment_embeddings, track.segment_scores, track.embedding,
                     track.track_scores, track.sound_embedding)  # fmt: skip


def _from_file(path: Path, catalog: Catalog, model: StoredModel, track_id=None,
               max_seconds: float | None = None) -> Reference:  # fmt: skip
    """Decode and tag an outside file through indexing's own stage (``stages.analyse``)."""
    from cuefinder.pipeline import stages

    model_path = catalog.model_path(model.model_id)
    if model_path is None:
        raise CatalogError(
            f"the catalog's model {model.model_id} ({model.name}) is not where it was indexed "
            "from; re-index with 'cuefinder index --model PATH'"
        )
    try:
        task = stages.task_for(path)
    except OSError as err:
        raise QueryError(f"{path}: cannot read it ({err.strerror or err})") from err
    limit = max_seconds or (REFERENCE_MAX_SECONDS if track_id is None else stages.MAX_SECONDS)
    found = stages.analyse(task, stages.tagger_for(model_path, model.model_id), max_seconds=limit)
    if isinstance(found, stages.Failure):
        raise QueryError(f"{path}: {found.reason}")
    if len(found.segment_embeddings) == 0:
        raise QueryError(f"{path}: no audio to compare")
    heard = found.descriptors.sound_embedding if found.descriptors is not None else None
    return Reference(str(path), track_id, found.duration, found.segment_seconds,
                     found.segment_embeddings, found.segment_scores, found.embedding,
                     found.track_scores, heard)  # fmt: skip


def query_vector(ref: Reference, start: float | None, end: float | None):
    """(unit model-block query, genre profile, sound embedding or None) of the whole
    reference or of [start, end): the model's segments there, and what musicnn hears of
    that part (``part_sound``)."""
    if start is None and end is None:
        return ref.embedding, ref.track_scores, ref.sound_embedding
    begin = 0.0 if start is None else float(start)
    stop = ref.duration if end is None else float(end)
    if not (np.isfinite(begin) and np.isfinite(stop)) or begin < 0:
        raise QueryError(f"--from must be a time of at least 0, got {start}")
    if begin >= ref.duration:
        raise QueryError(
            f"--from {begin:g} s is past the end of {ref.name} ({ref.duration:.1f} s long)"
        )
    if stop <= begin:
        raise QueryError(f"--to ({stop:g} s) must be after --from ({begin:g} s)")
    seg = ref.segment_seconds
    first = min(int(begin // seg), len(ref.segment_embeddings) - 1)
    last = max(first + 1, int(np.ceil(min(stop, ref.duration) / seg)))
    part = slice(first, min(last, len(ref.segment_embeddings)))
    profile = ref.segment_scores[part].mean(axis=0)
    heard = part_sound(ref.name, begin, min(stop, ref.duration))
    return _unit(ref.segment_embeddings[part].mean(axis=0)), profile, heard


def part_sound(path: str, start: float, end: float) -> np.ndarray | None:
    """musicnn's sound embedding of [start, end) of the file, decoded again (a track's
    stored one hears the whole track). None where the file cannot be read now or the part
    is under 3 s: the part is then compared on the model's half alone."""
    if not os.path.isfile(path):
        return None
    try:
        samples = audio.load(path, sample_rate=descriptors.SOUND_RATE, max_seconds=end)
    except CuefinderError:
        return None
    first = int(start * descriptors.SOUND_RATE)
    return descriptors.sound_embedding(samples[first:], descriptors.SOUND_RATE)


def best_window(segment_embeddings: np.ndarray, query: np.ndarray, windows: int) -> int:
    """First segment of the ``windows``-segment run whose mean similarity to ``query`` is
    highest."""
    if len(segment_embeddings) <= windows:
        return 0
    run = np.convolve(segment_embeddings @ query, np.ones(windows), mode="valid")
    return int(np.argmax(run))


def _result(track: Track, score: float, query, query_scores, window_seconds,
            length=None) -> Result:  # fmt: skip
    windows = max(1, int(round(window_seconds / track.segment_seconds)))
    first = best_window(track.segment_embeddings, query, windows)
    start, end = window_bounds(first, windows, track, length)
    shared = np.argsort(-query_scores, kind="stable")[:SHARED_GENRES]
    probabilities = {track.genres[c]: round(float(track.track_scores[c]), 4) for c in shared}
    return Result(
        id=track.id,
        path=track.path,
        score=round(float(score), 4),
        genres=dict(probabilities),
        probabilities=probabilities,
        segment={"start": round(start, 2), "end": round(end, 2)},
        duration=round(track.duration, 2),
        title=track.title,
        artist=track.artist,
        album=track.album,
        extra=track.descriptors(),
    )


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)
