"""Ranking: score every catalogued track for a genre query; find each hit's best segment.

Raw probabilities are not comparable across genres (a common genre scores high
everywhere), so each genre's track score is turned into its percentile within
the catalog: "more romantic than 92% of your tracks". A track's score is the
weighted sum of its wanted genres' percentiles minus its excluded ones',
divided by the sum of wanted weights, so 1.0 means "top of the catalog on every
wanted genre and bottom on every excluded one". Each genre's signed share of
that sum is its contribution: why the track matched.

The best-fitting segment is the window (30 s by default) whose segments score
highest on the same query, each genre's segment scores standardised by the
catalog's mean and spread of that genre. A cue that must fill an exact length
(``length``: "the best 42 seconds") gets a window of exactly that length, and
tracks shorter than it are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from cuefinder.catalog import Catalog, ScoreTable, StoredModel
from cuefinder.catalog.vectors import VectorIndex
from cuefinder.errors import QueryError
from cuefinder.find import caveats, teach
from cuefinder.find.grammar import GenreQuery, Term, parse

WINDOW_SECONDS = 30.0


@dataclass
class Result:
    """One ranked track."""

    id: int
    path: str
    score: float
    genres: dict[str, float]  # each query genre's signed contribution to score
    probabilities: dict[str, float]  # the model's track-level probability per query genre
    segment: dict[str, float]  # best-fitting window: start, end (seconds)
    duration: float
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    fit: float | None = None  # calibrated probability that it suits the wanted genres
    fit_level: str | None = None  # "strong", "some" or "weak" (find.caveats.FIT_LEVELS)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        out.update(self.extra)
        return out


def percentiles(scores: np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each value within its column: (n, g) -> (n, g) in (0, 1).

    Tied values share the mean of their ranks (as ``scipy.stats.rankdata`` does), in numpy
    alone: scipy costs search almost a second of imports.
    """
    if len(scores) == 0:
        return scores.copy()
    return (_mid_ranks(np.asarray(scores)) - 0.5) / len(scores)


def _mid_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of each column's values, ties averaged."""
    n = len(scores)
    out = np.empty(scores.shape, np.float64)
    for col in range(scores.shape[1]):
        values = scores[:, col]
        order = np.argsort(values, kind="mergesort")
        ordered = values[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        ends = np.r_[starts[1:], n]
        mean_rank = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
        out[order, col] = np.repeat(mean_rank, ends - starts)
    return out


def rank(
    table: ScoreTable,
    query: GenreQuery,
    *,
    limit: int = 10,
    min_duration: float | None = None,
    max_duration: float | None = None,
    tempo: tuple[float | None, float | None] | None = None,
    key: str | None = None,
    energy: str | None = None,
) -> list[tuple[int, float, dict[str, float]]]:
    """Top ``limit`` rows of ``table``: (row, score, contribution per query genre).

    ``tempo`` (BPM, low and high, either open) and ``key`` ("A minor") keep only tracks
    whose descriptors match; a track with none is left out. Ties keep catalog order
    (lower row first).
    """
    columns = [table.labels.index(t.genre) for t in query.terms]
    signs = np.array([-t.weight if t.exclude else t.weight for t in query.terms])
    scale = sum(t.weight for t in query.wanted) or sum(t.weight for t in query.terms) or 1.0
    if "percentiles" not in table.cache:  # (labels, n): one contiguous row per label
        table.cache["percentiles"] = np.ascontiguousarray(percentiles(table.scores).T, np.float32)
    ranks = table.cache["percentiles"][columns]  # (terms, n)
    weights = (signs / scale).astype(np.float32)
    offset = 0.0 if query.wanted else np.array([t.weight for t in query.terms]) / scale
    total = weights @ ranks + np.float32(np.sum(offset))  # (n,)
    if not query.terms:  # names alone: every track so named fits, in catalog order
        total = np.ones(len(table.ids), np.float32)
    keep = None
    if query.names:
        from cuefinder.find import names

        keep = names.mask(table, query.names)
    allowed = _descriptor_filters(table, tempo, key, energy)
    if min_duration is not None:
        allowed.append(table.durations >= min_duration)
    if max_duration is not None:
        allowed.append(table.durations <= max_duration)
    for mask in allowed:
        keep = mask if keep is None else keep & mask
    if keep is not None:  # filtered-out rows can never be picked
        total = np.where(keep, total, -np.inf)
    eligible = len(total) if keep is None else int(keep.sum())
    kth = np.partition(total, len(total) - limit)[len(total) - limit] if eligible > limit else None
    # everything tied with the limit-th best (or every eligible row), then a stable sort
    candidates = np.flatnonzero(total >= kth if kth is not None else total > -np.inf)
    order = candidates[np.lexsort((candidates, -total[candidates]))][:limit]
    shares = ranks[:, order].T.astype(np.float64) * weights + offset  # (hits, terms)
    return [
        (int(i), float(total[i]), {t.genre: float(shares[r, k]) for k, t in enumerate(query.terms)})
        for r, i in enumerate(order)
    ]


def _descriptor_filters(table: ScoreTable, tempo, key, energy=None) -> list[np.ndarray]:
    masks = []
    if energy is not None and table.energies is not None:
        from cuefinder.find.grammar import ENERGY_LEVELS, energy_level

        low, high = ENERGY_LEVELS[energy_level(energy)]
        known = ~np.isnan(table.energies)
        where = np.zeros(len(known))  # each known track's percentile among the known ones
        if known.any():
            where[known] = percentiles(table.energies[known][:, None])[:, 0]
        masks.append(known & (where >= low) & ((where < high) | (high >= 1.0)))
    if tempo is not None and table.tempos is not None:
        low, high = tempo
        known = ~np.isnan(table.tempos)
        values = np.where(known, table.tempos, 0.0)
        mask = known.copy()
        if low is not None:
            mask &= values >= low
        if high is not None:
            mask &= values <= high
        masks.append(mask)
    if key is not None and table.keys is not None:
        from cuefinder.descriptors import parse_key

        try:
            wanted = parse_key(key)
        except ValueError as err:
            raise QueryError(str(err)) from None
        masks.append(np.array([k == wanted for k in table.keys], bool))
    return masks


def best_window(
    segment_scores: np.ndarray,
    table: ScoreTable,
    columns: list[int],
    signs: np.ndarray,
    windows: int,
) -> int:
    """Index of the first segment of the best ``windows``-segment run for the query.

    Parameters
    ----------
    segment_scores : (segments, genres) probabilities of one track
    table : the catalog's track scores (each genre's mean and spread standardise segments)
    columns : the query's genre columns; signs : (terms,) signed weights
    windows : run length in segments
    """
    if len(segment_scores) <= windows:
        return 0
    if "spread" not in table.cache:
        table.cache["spread"] = (table.scores.mean(axis=0), table.scores.std(axis=0))
    mean, std = table.cache["spread"]
    spread = np.maximum(std[columns], 1e-6)
    standard = (segment_scores[:, columns] - mean[columns]) / spread  # (segments, terms)
    run = np.convolve(standard @ signs, np.ones(windows), mode="valid")
    return int(np.argmax(run))


def search(
    query: str | GenreQuery,
    catalog: Catalog | None = None,
    *,
    limit: int = 10,
    min_duration: float | None = None,
    max_duration: float | None = None,
    window_seconds: float = WINDOW_SECONDS,
    tempo: tuple[float | None, float | None] | None = None,
    key: str | None = None,
    length: float | None = None,
    energy: str | None = None,
) -> list[Result]:
    """Rank the catalog's tracks for a genre query (its genres, the model's music tags and
    the catalog's own taught tags, ``find.teach``), optionally only those in a tempo range
    (BPM) or a key; with ``length`` (seconds), each result's window is its best part of
    exactly that length, and shorter tracks are left out."""
    if limit < 1:
        raise QueryError(f"limit must be at least 1, got {limit}")
    catalog = catalog or Catalog(create=False)
    model = _model(catalog)
    table = teach.extended(catalog, catalog.score_table(model))
    if isinstance(query, str):
        query = parse_in(catalog, query, table)
    return ranked(catalog, table, query, limit=limit, min_duration=min_duration,
                  max_duration=max_duration, window_seconds=window_seconds,
                  tempo=tempo or query.tempo, key=key or query.key, length=length,
                  energy=energy or query.energy)  # fmt: skip


def ranked(
    catalog: Catalog,
    table: ScoreTable,
    query: GenreQuery,
    *,
    limit: int = 10,
    min_duration: float | None = None,
    max_duration: float | None = None,
    window_seconds: float = WINDOW_SECONDS,
    tempo: tuple[float | None, float | None] | None = None,
    key: str | None = None,
    length: float | None = None,
    energy: str | None = None,
) -> list[Result]:
    """``search`` on a score table already made (with any taught columns)."""
    if limit < 1:
        raise QueryError(f"limit must be at least 1, got {limit}")
    window_seconds, min_duration = fitted(length, window_seconds, min_duration)
    unknown = [t.genre for t in query.terms if t.genre not in table.labels]
    if unknown:
        raise QueryError(f"this catalog's model has no {', '.join(unknown)}",
                         list(table.model.genres))  # fmt: skip
    hits = rank(table, query, limit=limit, min_duration=min_duration, max_duration=max_duration,
                tempo=tempo, key=key, energy=energy or query.energy)  # fmt: skip
    columns = [table.labels.index(t.genre) for t in query.terms]
    signs = np.array([-t.weight if t.exclude else t.weight for t in query.terms])
    curves = caveats.calibration(catalog) | _taught_curves(table)
    results = []
    for row, score, shares in hits:
        result = _result(catalog, table, row, score, shares, columns, signs, window_seconds,
                         length)  # fmt: skip
        value = caveats.fit(result.probabilities, query, curves)
        result.fit = None if value is None else round(value, 4)
        result.fit_level = caveats.fit_level(value)
        results.append(result)
    return results


def refine(
    catalog: Catalog | None = None,
    *,
    kept=(),
    rejected=(),
    query=None,
    limit: int = 10,
    **options,
) -> list[Result]:
    """Re-rank the catalog from kept and rejected tracks (ids, paths): a scorer learned from
    them (as a tag is, not stored) ranks alone or beside ``query``, at equal weight; the
    rejected tracks are left out."""
    from cuefinder.find import names as track_names

    catalog = catalog or Catalog(create=False)
    model = _model(catalog)
    if not kept:
        raise QueryError("refine needs at least one kept track")
    examples = [teach.example_of(catalog, teach.KEPT, r, True, (0.0, 0.0)) for r in kept]
    examples += [teach.example_of(catalog, teach.KEPT, r, False, (0.0, 0.0)) for r in rejected]
    hashes = {}
    for e in examples:
        if hashes.setdefault(e.content_hash, e.positive) != e.positive:
            raise QueryError(f"{e.path}: both kept and rejected")
    table = teach.extended(catalog, catalog.score_table(model))
    ids, vectors = table.ids, table.cache.get("vectors")  # read once, by extended
    if vectors is None:
        ids, vectors = VectorIndex(catalog, model).vectors(projected=False)
    scorer = teach.learn(
        catalog, model, examples, teach.KEPT, calibrate=False, space=(ids, vectors)
    )
    column = scorer.probability(vectors)[:, None]
    scores = np.concatenate([table.scores, column], axis=1)
    refined = replace(
        table, scores=scores, taught=(*table.taught, teach.KEPT), cache=dict(table.cache)
    )
    refined.cache.pop("percentiles", None), refined.cache.pop("spread", None)
    refined.cache["scorers"] = dict(table.cache.get("scorers", {})) | {teach.KEPT: scorer}
    if isinstance(query, str):
        text = query.strip()
        known = track_names.known(table)
        vocabulary = model.tags + table.sounds + table.taught
        query = parse(text, model.genres, vocabulary, known) if text else None
    terms = list(query.terms) if query is not None else []
    weight = sum(t.weight for t in terms if not t.exclude) or 1.0
    plan = GenreQuery(
        tuple(terms) + (Term(teach.KEPT, weight),), names=query.names if query else ()
    )
    found = teach.example_tracks(catalog, model, examples)
    rejected_ids = {track_id for example, track_id in found if not example.positive}
    results = ranked(catalog, refined, plan, limit=limit + len(rejected_ids), **options)
    return [r for r in results if r.id not in rejected_ids][:limit]


def parse_in(catalog: Catalog, text: str, table: ScoreTable | None = None) -> GenreQuery:
    """Parse a query with everything this catalog answers to: its model's genres and tags,
    its own taught tags, and its tracks' names (a word that is none of those is an error)."""
    from cuefinder.find import names

    model = _model(catalog)

    def known(word: str) -> bool:  # the table is read only when a word names no genre
        nonlocal table
        table = table if table is not None else catalog.score_table(model)
        return names.known(table)(word)

    return parse(text, model.genres, query_tags(catalog, model), known)


def query_tags(catalog: Catalog, model: StoredModel) -> tuple[str, ...]:
    """Every tag a query may name: the model's pretrained ones, musicnn's sound tags
    (when the catalog's tracks have them), then the catalog's own taught tags."""
    return model.tags + catalog.sound_tags(model) + teach.names(catalog)


def _taught_curves(table: ScoreTable) -> dict[str, tuple[float, float]]:
    """Taught tags whose probabilities are calibrated already (identity curves)."""
    scorers = table.cache.get("scorers", {})
    return {n: (1.0, 0.0) for n in table.taught if n in scorers and scorers[n].calibration}


def _model(catalog: Catalog) -> StoredModel:
    model = catalog.active_model()
    if model is None:
        raise QueryError(f"catalog {catalog.path} is empty: run 'cuefinder index FOLDER' first")
    return model


def fitted(length, window_seconds: float, min_duration):
    """(window seconds, shortest track) for a cue of ``length`` seconds (None: any)."""
    if length is None:
        return window_seconds, min_duration
    if not length > 0 or length == float("inf"):
        raise QueryError(f"length must be a positive number of seconds, got {length!r}")
    return length, max(length, min_duration or 0.0)


def window_bounds(first: int, windows: int, track, length: float | None) -> tuple[float, float]:
    """(start, end) seconds of the ``windows`` segments from ``first``; with ``length``,
    exactly that long (moved back from the track's end when it would run past it)."""
    seg = track.segment_seconds
    start = first * seg
    if length is None:
        return start, min(track.duration, (first + windows) * seg)
    start = max(0.0, min(start, track.duration - length))
    return start, min(track.duration, start + length)


def _result(catalog, table, row, score, shares, columns, signs, window_seconds,
            length=None) -> Result:  # fmt: skip
    track = catalog.track(int(table.ids[row]))
    windows = max(1, int(round(window_seconds / track.segment_seconds)))
    segments = track.segment_scores
    if track.segment_tag_scores is not None:  # columns follow table.labels: genres, then tags
        segments = np.concatenate([segments, track.segment_tag_scores], axis=1)
    if table.sounds:  # then musicnn's sound tags, one value per track: the same in each segment
        heard = track.sounds if track.sounds is not None else np.zeros(len(table.sounds))
        segments = np.concatenate([segments, np.tile(heard, (len(segments), 1))], axis=1)
    if table.taught or "corrections" in table.cache:  # then taught tags', corrections applied
        segments = teach.segment_scores(table, track, segments)
    profile = table.scores[row]
    first = best_window(segments, table, columns, signs, windows)
    start, end = window_bounds(first, windows, track, length)
    return Result(
        id=track.id,
        path=track.path,
        score=round(score, 4),
        genres={g: round(v, 4) for g, v in shares.items()},
        probabilities={table.labels[c]: round(float(profile[c]), 4) for c in columns},
        segment={"start": round(start, 2), "end": round(end, 2)},
        duration=round(track.duration, 2),
        title=track.title,
        artist=track.artist,
        album=track.album,
        extra=track.descriptors() | _corrected(table, row, [table.labels[c] for c in columns]),
    )


def _corrected(table: ScoreTable, row: int, labels) -> dict:
    """{"corrected": {genre: change}} when this catalog's corrections moved the track."""
    if "corrections" not in table.cache:
        return {}
    moved = teach.corrected(table, row, labels)
    return {"corrected": moved} if moved else {}
