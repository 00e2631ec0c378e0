"""Tracks as Parquet: what a cluster run writes, what ``catalog import`` reads, what
``export --format parquet`` gives other tools (pandas, DuckDB, Spark, Polars).

One row per track, tagged by one model; the model is described in the file's
metadata (key ``cuefinder``: JSON with ``model_id``, ``name``, ``genres``, ``tags``,
``embedding_dim``, ``config``). Columns:

==================  ===================================  ==========================================
column              type                                 meaning
==================  ===================================  ==========================================
path                string                               absolute path of the file
content_hash        string                               BLAKE2b-128 of the file's bytes
size, mtime         int64, float64                       the file's size and modification time
duration            float64                              seconds of decoded audio
title, artist,      string (null when the file has none) the file's tags
album
model_id            string                               the model that tagged it
segment_seconds     float64                              length of each segment
scores              struct<GENRE: float32, ...>          track-level probability per genre
                                                         (``SELECT scores.Horror FROM ...``)
track_scores        list<float32>                        the same, in the genres' order
segment_scores      list<list<float32>>                  (segments, genres [+ tags])
embedding           list<float32>                        unit-length track embedding
segment_embeddings  list<list<float32>>                  (segments, embedding_dim), unit rows
tempo, key,         float64, string, float64, float64    descriptors (``cuefinder/descriptors.py``):
key_strength,                                            BPM, e.g. "A minor", its correlation,
loudness                                                 LUFS; null where unknown
tempo_confidence,   float64, float64, list<float32>      the tempo's confidence (0-1), energy
energy,                                                  (mean onset strength) and the same
energy_curve                                             per 3 s; null where unknown
sounds              list<float32>                        musicnn's 50 MagnaTagATune tags
                                                         (``model/musicnn_tags.py``); null if none
waveform            binary                               peak per stretch, uint8 of full scale
sound_embedding     list<float32>                        musicnn's penultimate layer (200 values)
                                                         that "sounds like" compares; null if none
==================  ===================================  ==========================================

Reading back into a catalog is idempotent: a row whose path is already catalogued
with the same content and model changes nothing; any other row is stored as
indexing would store it (one transaction each), and the nearest-neighbour index is
brought up to date once at the end.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cuefinder import audio
from cuefinder.catalog import Catalog
from cuefinder.descriptors import Descriptors
from cuefinder.errors import CatalogError
from cuefinder.pipeline import stages

META_KEY = b"cuefinder"


@dataclass
class ImportReport:
    added: int = 0  # rows stored (new paths, or new content or model at a known path)
    unchanged: int = 0  # rows already in the catalog as they are
    files: int = 0
    failed: list[str] = field(default_factory=list)  # "FILE: reason"


def write(catalog: Catalog, path: str | os.PathLike) -> int:
    """Write the present tracks of the catalog's active model to one Parquet file;
    returns the number of rows."""
    model = catalog.active_model()
    if model is None:
        raise CatalogError(f"catalog {catalog.path} is empty: nothing to export")
    files = {r[0]: r for r in catalog.db.execute(
        "SELECT path, content_hash, size, mtime FROM tracks WHERE model_id = ? AND missing = 0",
        (model.model_id,))}  # fmt: skip
    tracks = [t for t in catalog.tracks() if t.model_id == model.model_id]
    columns: dict[str, list] = {name: [] for name in _COLUMNS}
    for t in tracks:
        _, digest, size, mtime = files[t.path]
        segments = t.segment_scores
        if t.segment_tag_scores is not None:
            segments = np.concatenate([segments, t.segment_tag_scores], axis=1)
        _add(columns, model.genres, t.path, digest, size, mtime, t.duration,
             (t.title, t.artist, t.album), t.model_id, t.segment_seconds, t.track_scores,
             segments, t.embedding, t.segment_embeddings,
             {"tempo": t.tempo, "key": t.key, "key_strength": t.key_strength,
              "loudness": t.loudness, "tempo_confidence": t.tempo_confidence,
              "energy": t.energy, "energy_curve": t.energy_curve,
              "sounds": t.sounds, "waveform": None if t.waveform is None
              else (np.round(t.waveform * 255).astype(np.uint8).tobytes()),
              "sound_embedding": t.sound_embedding})  # fmt: skip
    _write_table(columns, model_meta(catalog, model.model_id), Path(path))
    return len(tracks)


def write_results(results, meta: dict, path: str | os.PathLike) -> int:
    """Write indexing results (``stages.Analysis``; others are skipped) as one shard."""
    columns: dict[str, list] = {name: [] for name in _COLUMNS}
    count = 0
    for a in results:
        if not isinstance(a, stages.Analysis):
            continue
        segments = a.segment_scores
        if a.segment_tag_scores is not None:
            segments = np.concatenate([segments, a.segment_tag_scores], axis=1)
        _add(columns, meta["genres"], a.path, a.content_hash, a.size, a.mtime, a.duration,
             (a.tags.title, a.tags.artist, a.tags.album), a.model_id, a.segment_seconds,
             a.track_scores, segments, a.embedding, a.segment_embeddings,
             asdict(a.descriptors) if a.descriptors else {})  # fmt: skip
        count += 1
    _write_table(columns, meta, Path(path))
    return count


def model_meta(catalog: Catalog, model_id: str) -> dict:
    """The description of a catalogued model that a Parquet file carries."""
    model = catalog.model(model_id)
    config = catalog.db.execute("SELECT config FROM models WHERE id = ?", (model_id,)).fetchone()
    return {"model_id": model.model_id, "name": model.name, "genres": list(model.genres),
            "tags": list(model.tags), "embedding_dim": model.embedding_dim,
            "config": json.loads(config[0])}  # fmt: skip


def _add(columns, genres, path, digest, size, mtime, duration, tags, model_id, segment_seconds,
         track_scores, segments, embedding, segment_embeddings, measures) -> None:  # fmt: skip
    values = (path, digest, size, mtime, duration, *tags, model_id, segment_seconds,
              {g: float(s) for g, s in zip(genres, track_scores)},
              np.asarray(track_scores).tolist(), np.asarray(segments).tolist(),
              np.asarray(embedding).tolist(), np.asarray(segment_embeddings).tolist(),
              measures.get("tempo"), measures.get("key"), measures.get("key_strength"),
              measures.get("loudness"), measures.get("tempo_confidence"), measures.get("energy"),
              None if measures.get("energy_curve") is None
              else np.asarray(measures["energy_curve"], np.float32).tolist(),
              None if measures.get("sounds") is None
              else np.asarray(measures["sounds"], np.float32).tolist(),
              measures.get("waveform"), _floats(measures.get("sound_embedding")))  # fmt: skip
    for name, value in zip(_COLUMNS, values, strict=True):
        columns[name].append(value)


def read_into(catalog: Catalog, sources) -> ImportReport:
    """Merge Parquet files (or folders of them) into the catalog; see the module docstring."""
    import pyarrow.parquet as pq

    report = ImportReport()
    files = []
    for source in sources:
        source = Path(source)
        if source.is_dir():
            files += sorted(source.rglob("*.parquet"))
        elif source.is_file():
            files.append(source)
        else:
            report.failed.append(f"{source}: no such file or folder")
    activated = None
    for file in files:
        try:
            table = pq.read_table(file)
            meta = json.loads((table.schema.metadata or {})[META_KEY])
        except (OSError, KeyError, ValueError) as err:  # pyarrow's errors are OSError/ValueError
            report.failed.append(f"{file}: not a cuefinder Parquet file ({_one_line(err)})")
            continue
        report.files += 1
        catalog.add_stored_model(meta["model_id"], meta["name"], meta["genres"],
                                 meta["embedding_dim"], meta["config"], meta.get("tags", []),
                                 activate=activated != meta["model_id"])  # fmt: skip
        activated = meta["model_id"]
        states = catalog.file_states()
        for row in table.to_pylist():
            held = states.get(row["path"])
            if held and held[2] == row["content_hash"] and held[3] == row["model_id"]:
                report.unchanged += 1
                continue
            stages.store(catalog, _analysis(row, len(meta["genres"])))
            report.added += 1
    if activated:
        stages.refresh_vectors(catalog, activated)
    return report


_COLUMNS = ("path", "content_hash", "size", "mtime", "duration", "title", "artist", "album",
            "model_id", "segment_seconds", "scores", "track_scores", "segment_scores",
            "embedding", "segment_embeddings", "tempo", "key", "key_strength",
            "loudness", "tempo_confidence", "energy", "energy_curve", "sounds",
            "waveform", "sound_embedding")  # fmt: skip


def _write_table(columns: dict, meta: dict, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    f32 = pa.float32()
    scores = pa.struct([(g, f32) for g in meta["genres"]])
    schema = pa.schema(
        [("path", pa.string()), ("content_hash", pa.string()), ("size", pa.int64()),
         ("mtime", pa.float64()), ("duration", pa.float64()), ("title", pa.string()),
         ("artist", pa.string()), ("album", pa.string()), ("model_id", pa.string()),
         ("segment_seconds", pa.float64()), ("scores", scores),
         ("track_scores", pa.list_(f32)), ("segment_scores", pa.list_(pa.list_(f32))),
         ("embedding", pa.list_(f32)), ("segment_embeddings", pa.list_(pa.list_(f32))),
         ("tempo", pa.float64()), ("key", pa.string()), ("key_strength", pa.float64()),
         ("loudness", pa.float64()), ("tempo_confidence", pa.float64()),
         ("energy", pa.float64()), ("energy_curve", pa.list_(f32)),
         ("sounds", pa.list_(f32)), ("waveform", pa.binary()),
         ("sound_embedding", pa.list_(f32))],
        metadata={META_KEY: json.dumps(meta).encode()},
    )  # fmt: skip
    table = pa.table(columns, schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _analysis(row: dict, genres: int) -> stages.Analysis:
    segments = np.array(row["segment_scores"], np.float32).reshape(len(row["segment_scores"]), -1)
    dim = len(row["embedding"])
    return stages.Analysis(
        path=row["path"],
        content_hash=row["content_hash"],
        size=row["size"],
        mtime=row["mtime"],
        duration=row["duration"],
        tags=audio.Tags(row["title"], row["artist"], row["album"]),
        segment_seconds=row["segment_seconds"],
        segment_scores=segments[:, :genres],
        track_scores=np.array(row["track_scores"], np.float32),
        embedding=np.array(row["embedding"], np.float32),
        segment_embeddings=np.array(row["segment_embeddings"], np.float32).reshape(-1, dim),
        model_id=row["model_id"],
        segment_tag_scores=segments[:, genres:] if segments.shape[1] > genres else None,
        descriptors=None if row.get("loudness") is None else Descriptors(
            row.get("tempo"), row.get("key"), row.get("key_strength"), row["loudness"],
            row.get("tempo_confidence"), row.get("energy"),
            None if row.get("energy_curve") is None else tuple(row["energy_curve"]),
            None if row.get("sounds") is None else tuple(row["sounds"]), row.get("waveform"),
            None if row.get("sound_embedding") is None
            else np.array(row["sound_embedding"], np.float32)),
    )  # fmt: skip


def _floats(values) -> list | None:
    return None if values is None else np.asarray(values, np.float32).tolist()


def _one_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
