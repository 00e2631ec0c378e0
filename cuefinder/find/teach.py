"""Teaching a catalog: examples in, learned tags and corrections out, and search over them.

``teach`` records that tracks are (or are not) a tag, or corrects a model genre on
them, learning the tag's scorer (``find.taught``) for the active model in the same
transaction; ``taught_tags`` lists what a catalog was taught; ``extended`` gives
search (``find.rank``, which also re-ranks from kept and rejected tracks with ``learn``)
a score table with a column per taught tag and the corrections applied; CSV export and
import share a catalog's teaching with another.
"""

from __future__ import annotations

import contextlib
import csv
import os
from dataclasses import dataclass, replace

import numpy as np

from cuefinder.catalog import Catalog, ScoreTable, StoredModel, Track
from cuefinder.catalog import examples as store
from cuefinder.catalog.examples import Example
from cuefinder.catalog.vectors import VectorIndex, dimensions, joined
from cuefinder.errors import CatalogError, QueryError
from cuefinder.find import taught
from cuefinder.find.grammar import FILLER, NEGATORS, SOFTENERS, vocabulary

CSV_FIELDS = ("tag", "kind", "positive", "content_hash", "path", "start", "stop")
KEPT = "(kept)"  # the label of rank.refine's learned column in "why it matched"
MAX_WORDS = 3  # the longest phrase the query grammar reads (grammar.match_phrase)


@dataclass(frozen=True)
class TagInfo:
    """A taught tag or correction as people see it."""

    name: str
    kind: str  # "tag" or "correction"
    positives: int
    negatives: int
    absent: int  # examples whose track is not in the catalog (deleted, or not re-indexed)
    method: str | None  # how its scorer was learned for the active model
    calibrated: bool
    self_check: float | None  # cross-validated ROC-AUC of its examples against the catalog

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def names(catalog: Catalog) -> tuple[str, ...]:
    """The catalog's own tags (not corrections): extra words of its query language."""
    return tuple(t.name for t in store.taught(catalog) if t.kind == "tag")


def teach(
    name: str,
    catalog: Catalog | None = None,
    *,
    add=(),
    not_=(),
    remove=(),
    start: float | None = None,
    stop: float | None = None,
) -> TagInfo:
    """Add examples of ``name`` (tracks by id, path or unique end of a path), examples of
    not ``name`` and remove examples; a model genre's name records corrections.

    ``start``/``stop`` (seconds) make the added examples a part of each track. All is
    checked before anything is stored; QueryError names the first problem.
    """
    catalog = catalog or Catalog(create=False)
    model = _model(catalog)
    name, kind = _check_name(name, catalog, model)
    span = _span(start, stop)
    adds = [example_of(catalog, name, ref, True, span) for ref in add]
    nots = [example_of(catalog, name, ref, False, span) for ref in not_]
    removes = [example_of(catalog, name, ref, True, (0.0, 0.0)) for ref in remove]
    if not (adds or nots or removes):
        raise QueryError(f"nothing to teach '{name}': give tracks with --add, --not or --remove")
    new = {(e.content_hash, e.start, e.stop): e for e in adds}
    for e in nots:
        if (e.content_hash, e.start, e.stop) in new:
            raise QueryError(f"{e.path}: given as both '{name}' and not '{name}'")
        new[(e.content_hash, e.start, e.stop)] = e
    gone = {e.content_hash for e in removes}
    kept = [e for e in store.examples(catalog, name) if e.content_hash not in gone]
    for e in kept:
        clash = new.get((e.content_hash, e.start, e.stop))
        if clash is not None and clash.positive != e.positive:
            was = name if e.positive else f"not {name}"
            raise QueryError(f"{clash.path}: already taught as '{was}'; remove it first "
                             f"(--remove) to change its example")  # fmt: skip
    after = [e for e in kept if (e.content_hash, e.start, e.stop) not in new] + list(new.values())
    if kind == "tag" and not any(e.positive for e in after):
        raise QueryError(f"tag '{name}' needs at least one track that is it (--add)")
    scorer = None
    if kind == "tag" and after:
        scorer = learn(catalog, model, after, name)
    store.change(catalog, name, kind, add=list(new.values()), remove=removes,
                 scorer=scorer and (model.model_id, store.fingerprint(after),
                                    scorer.weights, scorer.meta()))  # fmt: skip
    return _info(catalog, model, name, kind, after, scorer)


def forget(name: str, catalog: Catalog | None = None) -> None:
    """Delete a tag (or a genre's corrections) with all its examples."""
    catalog = catalog or Catalog(create=False)
    found = store.find(catalog, name.lstrip("#"))
    if found is None:
        raise QueryError(f"no tag '{name}' in {catalog.path}")
    store.delete(catalog, found.name)


def taught_tags(catalog: Catalog | None = None) -> list[TagInfo]:
    """Every tag and correction of the catalog, with how it was learned for its model."""
    catalog = catalog or Catalog(create=False)
    model = catalog.active_model()
    out = []
    for item in store.taught(catalog):
        items = store.examples(catalog, item.name)
        scorer = None
        if model is not None and item.kind == "tag":
            scorer = _scorer(catalog, model, item.name, items)
        out.append(_info(catalog, model, item.name, item.kind, items, scorer))
    return out


# -- search over what was taught --------------------------------------------------------


def extended(catalog: Catalog, table: ScoreTable) -> ScoreTable:
    """``table`` with a column per taught tag (its probability) and each corrected genre's
    column adjusted; the table itself when the catalog was taught nothing.

    Kept in ``table.cache`` so a server's cached table is extended once per version.
    """
    if "taught" in table.cache:
        return table.cache["taught"]
    items = store.taught(catalog)
    if not items or len(table.ids) == 0:
        return table
    model = table.model
    ids, vectors = VectorIndex(catalog, model).vectors(projected=False)
    if not np.array_equal(ids, table.ids):  # both read in id order; differ only mid-write
        raise CatalogError(f"{catalog.path} changed while it was read; search again")
    scores = table.scores.copy()
    scorers, corrections = {}, {}
    for item in items:
        found = store.examples(catalog, item.name)
        if item.kind == "tag":
            scorer = _scorer(catalog, model, item.name, found, space=(ids, vectors))
            if scorer is not None:
                scorers[item.name] = scorer
        elif item.name in model.genres:
            fix = _correction(catalog, model, item.name, found)
            if fix is not None:
                column = model.genres.index(item.name)
                scores[:, column] = fix.apply(scores[:, column], vectors)
                corrections[item.name] = fix
    tag_names = tuple(scorers)
    if tag_names:
        columns = [scorers[n].probability(vectors) for n in tag_names]
        scores = np.concatenate([scores, np.stack(columns, axis=1)], axis=1)
    out = replace(table, scores=scores.astype(np.float32), taught=tag_names, cache={})
    out.cache["scorers"], out.cache["corrections"] = scorers, corrections
    out.cache["vectors"] = vectors
    out.cache["original"] = table.scores
    table.cache["taught"] = out
    return out


def segment_scores(table: ScoreTable, track: Track, segments: np.ndarray) -> np.ndarray:
    """A track's (segments, labels) scores in ``table``'s columns: the model's, corrected,
    then each taught tag's on the segment embeddings."""
    corrections = table.cache.get("corrections", {})
    scorers = table.cache.get("scorers", {})
    if not (corrections or scorers):
        return segments
    parts = track.segment_embeddings
    if len(parts) != len(segments):  # catalogs made before segment embeddings were kept
        parts = np.repeat(track.embedding[None, :], len(segments), axis=0)
    heard = track.sound_embedding  # the track's whole: each part hears it the same
    parts = joined(parts, None if heard is None else np.repeat(heard[None, :], len(parts), 0))
    out = segments.copy()
    for genre, fix in corrections.items():
        column = table.model.genres.index(genre)
        out[:, column] = fix.apply(out[:, column], parts)
    tags = [scorers[n].probability(parts) for n in table.taught]
    return np.concatenate([out, np.stack(tags, axis=1)], axis=1) if tags else out


def corrected(table: ScoreTable, row: int, labels) -> dict[str, float]:
    """How much this catalog's corrections moved a track's probability, per genre."""
    original = table.cache.get("original")
    if original is None:
        return {}
    out = {}
    for genre in labels:
        if genre in table.cache.get("corrections", {}):
            column = table.model.genres.index(genre)
            change = float(table.scores[row, column] - original[row, column])
            if abs(change) >= 5e-4:
                out[genre] = round(change, 4)
    return out


# -- sharing -------------------------------------------------------------------------------


def export_csv(path: str | os.PathLike, catalog: Catalog | None = None) -> int:
    """Write every example of every tag and correction; returns the number of rows."""
    catalog = catalog or Catalog(create=False)
    kinds = {t.name: t.kind for t in store.taught(catalog)}
    rows = store.examples(catalog)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        for e in rows:
            writer.writerow([e.tag, kinds[e.tag], int(e.positive), e.content_hash, e.path,
                             f"{e.start:g}", f"{e.stop:g}"])  # fmt: skip
    return len(rows)


def import_csv(path: str | os.PathLike, catalog: Catalog | None = None) -> dict[str, int]:
    """Add the examples of a CSV written by ``export_csv`` (tracks found by content hash,
    then by path); returns examples added per tag. A row naming no track in this catalog
    is kept as an example all the same (it counts once the track is indexed)."""
    catalog = catalog or Catalog(create=False)
    model = _model(catalog)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or err
        raise QueryError(f"{path}: cannot read it ({reason})") from None
    if rows and set(CSV_FIELDS) - set(rows[0]):
        missing = ", ".join(sorted(set(CSV_FIELDS) - set(rows[0])))
        raise QueryError(f"{path}: not a cuefinder tags file (no column {missing})")
    by_tag: dict[str, list[Example]] = {}
    for line, row in enumerate(rows, start=2):
        try:
            name, _ = _check_name(row["tag"], catalog, model)
            start, stop = float(row["start"] or 0), float(row["stop"] or 0)
            positive = row["positive"].strip() in ("1", "true", "True", "yes")
            if not row["content_hash"].strip():
                raise QueryError("no content_hash")
        except (QueryError, ValueError) as err:
            raise QueryError(f"{path}, line {line}: {err}") from None
        by_tag.setdefault(name, []).append(
            Example(name, row["content_hash"].strip(), row["path"], positive, start, stop)
        )
    added = {}
    for name, items in by_tag.items():  # each tag in one transaction, learned on the way
        kind = "correction" if name in model.genres else "tag"
        current = {(e.content_hash, e.start, e.stop): e for e in store.examples(catalog, name)}
        fresh = [e for e in items if (e.content_hash, e.start, e.stop) not in current]
        after = list(current.values()) + fresh
        scorer = learn(catalog, model, after, name) if kind == "tag" else None
        store.change(catalog, name, kind, add=fresh,
                     scorer=scorer and (model.model_id, store.fingerprint(after),
                                        scorer.weights, scorer.meta()))  # fmt: skip
        added[name] = len(fresh)
    return added


# -- helpers ----------------------------------------------------------------------------


def _model(catalog: Catalog) -> StoredModel:
    model = catalog.active_model()
    if model is None:
        raise QueryError(f"catalog {catalog.path} is empty: run 'cuefinder index FOLDER' first")
    return model


def _check_name(text: str, catalog: Catalog, model: StoredModel) -> tuple[str, str]:
    """(name as stored, kind) for a name someone typed; QueryError if it cannot be a tag."""
    name = " ".join(str(text).strip().lstrip("#").split())
    if not name:
        raise QueryError("a tag needs a name")
    if len(name) > 60 or not all(ch.isalnum() or ch in " -_'" for ch in name):
        raise QueryError(f"tag name '{text}': use letters, digits, spaces, - _ ' "
                         "(at most 60 characters)")  # fmt: skip
    if len(name.replace("-", " ").replace("_", " ").split()) > MAX_WORDS:
        raise QueryError(f"tag name '{name}': at most {MAX_WORDS} words (queries read "
                         f"phrases of up to {MAX_WORDS})")  # fmt: skip
    wanted = store.key(name)
    for genre in model.genres:
        if store.key(genre) == wanted:
            return genre, "correction"
    words = vocabulary(model.genres, model.tags)
    means = words.get(name.lower()) or words.get(name.lower().replace("-", " "))
    if means is None and store.key(name) in {store.key(w) for w in words}:
        means = next(v for w, v in words.items() if store.key(w) == wanted)
    if means is not None:
        if means in model.genres:
            raise QueryError(f"tag name '{name}' already means {means} in queries; to correct "
                             f"{means} on a track, teach '{means}'")  # fmt: skip
        raise QueryError(f"tag name '{name}' is one of the model's music tags ({means})")
    if name.lower() in FILLER | NEGATORS | set(SOFTENERS) or store.key(name) == store.key(KEPT):
        raise QueryError(f"tag name '{name}' is a word of the query language")
    found = store.find(catalog, name)
    return (found.name, found.kind) if found else (name, "tag")


def _span(start, stop) -> tuple[float, float]:
    if start is None and stop is None:
        return 0.0, 0.0
    begin = 0.0 if start is None else float(start)
    end = float(stop) if stop is not None else float("inf")
    if not np.isfinite(begin) or begin < 0:
        raise QueryError(f"--from must be a time of at least 0, got {start}")
    if end <= begin:
        raise QueryError(f"--to ({stop}) must be after --from ({begin:g})")
    return begin, end if np.isfinite(end) else 0.0


def example_of(catalog: Catalog, name: str, ref, positive: bool, span) -> Example:
    """An example of ``name`` (or, not ``positive``, of not ``name``): a track and a span."""
    track = track_of(catalog, ref)
    start, stop = span
    if (start, stop) != (0.0, 0.0):
        if start >= track.duration:
            raise QueryError(f"--from {start:g} s is past the end of {track.path} "
                             f"({track.duration:.1f} s long)")  # fmt: skip
        stop = stop if stop > 0 else track.duration
    content_hash = catalog.content_hash(track.id)
    return Example(name, content_hash, track.path, positive, start, min(stop, track.duration))


def track_of(catalog: Catalog, ref) -> Track:
    """A present catalog track by id, path or unique end of a path; QueryError naming it."""
    if isinstance(ref, bool) or not isinstance(ref, (int, str, os.PathLike)):
        raise QueryError(f"a track is an id or a path, got {ref!r}")
    text = os.fsdecode(ref) if not isinstance(ref, int) else str(ref)
    track = None
    if text.isdigit():
        track = catalog.track(int(text))
    track = track or catalog.track(os.path.abspath(text)) or catalog.track(text)
    if track is None or track.missing:
        raise QueryError(f"no track '{text}' in {catalog.path}")
    return track


def example_tracks(catalog: Catalog, model: StoredModel, items: list[Example]):
    """(example, track id) for each example whose track this model has tagged."""
    found = store.tracks_by_hash(catalog, sorted({e.content_hash for e in items}),
                                 model.model_id)  # fmt: skip
    return [(e, found[e.content_hash]) for e in items if e.content_hash in found]


def _vectors(catalog: Catalog, model: StoredModel, items: list[Example]):
    """(examples found, (k, dim) unit embeddings of each, the model's genre scores (k, g))."""
    found, vectors, scores = [], [], []
    for e, track_id in example_tracks(catalog, model, items):
        track = catalog.track(track_id)
        vector, genre_scores = track.embedding, track.track_scores
        if not e.whole and len(track.segment_embeddings):
            seg = track.segment_seconds
            first = min(int(e.start // seg), len(track.segment_embeddings) - 1)
            last = max(first + 1, int(np.ceil(e.stop / seg)))
            vector = track.segment_embeddings[first:last].mean(axis=0)
            genre_scores = track.segment_scores[first:last].mean(axis=0)
        found.append(e)
        vectors.append(joined(vector, track.sound_embedding))
        scores.append(genre_scores)
    dim = dimensions(model)
    return found, np.array(vectors, np.float32).reshape(-1, dim), np.array(scores)


def _background(catalog: Catalog, model: StoredModel, exclude: set[int], name: str, space=None):
    """A sample of the catalog's other tracks' vectors; ``space``: (ids, vectors) of the
    whole catalog when the caller has read them already."""
    ids, vectors = space or VectorIndex(catalog, model).vectors(projected=False)
    keep = np.flatnonzero(~np.isin(ids, list(exclude)))
    if len(keep) > taught.BACKGROUND:  # the same sample for the same tag, run to run
        seed = int.from_bytes(store.key(name).encode()[:8].ljust(8, b"\0"), "little")
        keep = np.sort(np.random.default_rng(seed).choice(keep, taught.BACKGROUND,
                                                          replace=False))  # fmt: skip
    return vectors[keep]


def learn(catalog, model, items, name, *, calibrate: bool = True, space=None) -> taught.Scorer:
    """The scorer of tag ``name`` learned from ``items``, its examples and counter-examples
    (``space``: the catalog's (ids, vectors), when read already)."""
    found, vectors, _ = _vectors(catalog, model, items)
    positive = np.array([e.positive for e in found], bool)
    if not positive.any():
        raise QueryError(f"tag '{name}': none of the tracks that are it is in the catalog now")
    exclude = {tid for _, tid in example_tracks(catalog, model, items)}
    background = _background(catalog, model, exclude, name, space)
    return taught.learn(vectors[positive], vectors[~positive], background, calibrate=calibrate)


def _scorer(catalog, model, name, items, space=None) -> taught.Scorer | None:
    """The stored scorer when its examples are unchanged, else learned now (and stored
    when the catalog can be written)."""
    current = store.fingerprint(items)
    held = store.stored_scorer(catalog, name, model.model_id)
    # a scorer stored before tags were learnt in the joined space has the model's size
    if held is not None and held[0] == current and len(held[1]) == dimensions(model):
        return taught.Scorer.from_stored(held[1], held[2])
    try:
        scorer = learn(catalog, model, items, name, space=space)
    except QueryError:  # none of its tracks is in the catalog now
        return None
    with contextlib.suppress(CatalogError):  # a read-only catalog searches all the same
        store.store_scorer(catalog, name, model.model_id, current, scorer.weights, scorer.meta())
    return scorer


def _correction(catalog, model, genre, items) -> taught.Correction | None:
    found, vectors, scores = _vectors(catalog, model, items)
    if not found:
        return None
    column = model.genres.index(genre)
    positive = np.array([e.positive for e in found], bool)
    return taught.correction(genre, vectors, scores[:, column], positive)


def _info(catalog, model, name, kind, items, scorer) -> TagInfo:
    present = {e.content_hash for e, _ in example_tracks(catalog, model, items)} if model else set()
    return TagInfo(
        name=name,
        kind=kind,
        positives=sum(e.positive for e in items),
        negatives=sum(not e.positive for e in items),
        absent=sum(e.content_hash not in present for e in items),
        method=scorer.method if scorer else None,
        calibrated=bool(scorer and scorer.calibration),
        self_check=None
        if scorer is None or scorer.self_check is None
        else round(scorer.self_check, 3),
    )
