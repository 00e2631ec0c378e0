"""What must hold after every fault: an intact catalog, each file exactly once, every
vector current, ``catalog check`` clean."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .command import command
from .common import Section, audio_files


@contextlib.contextmanager
def connected(db: Path, *, readonly: bool = False):
    """A plain SQLite connection to ``db``, committed and closed at the end (an open one
    would keep the file busy: a read-only remount fails)."""
    raw = sqlite3.connect(f"file:{db}?mode=ro" if readonly else db, uri=readonly)
    try:
        with raw:
            yield raw
    finally:
        raw.close()


def quick_state(db: Path) -> list[str]:
    """What must hold even right after a kill: an intact database, no damaged or repeated
    row."""
    from cuefinder.catalog import Catalog, health

    if not db.exists():
        return []
    with connected(db, readonly=True) as raw:
        integrity = [r[0] for r in raw.execute("PRAGMA quick_check")]
        repeated = raw.execute("SELECT count(*) - count(DISTINCT path) FROM tracks").fetchone()[0]
    problems = [f"integrity: {line}" for line in integrity if line != "ok"]
    if repeated:
        problems.append(f"{repeated} paths stored twice")
    if not problems:
        with Catalog(db, create=False) as catalog:
            problems += [
                f"damaged row {i} ({p}): {why}" for i, p, why in health.damaged_rows(catalog)
            ]
    return problems


@dataclass
class Verdict:
    """A catalog against its folders: every count must be 0 and ``check`` clean."""

    files: int = 0
    lost: int = 0  # files in the folders with no track
    duplicated: int = 0  # a path stored twice, or a vector held twice
    ghosts: int = 0  # tracks listed as present whose file is gone (renamed, deleted)
    stale_rows: int = 0  # a track whose stored content is not the file's
    stale_vectors: int = 0  # a vector missing, extra, or not the track's embedding
    temp_files: int = 0  # temporary files left beside the catalog
    check: str = "clean"  # `cuefinder catalog check`'s answer when not clean

    def problems(self) -> list[str]:
        bad = [f"{k.replace('_', ' ')}: {v}" for k, v in vars(self).items()
               if k not in ("files", "check") and v]  # fmt: skip
        return bad + ([f"catalog check: {self.check}"] if self.check != "clean" else [])


def verify(db: Path, roots: Iterable[Path]) -> Verdict:
    """Compare the catalog with the audio files under ``roots`` (which must be all it was
    given), its vector index with its rows, and run ``cuefinder catalog check``."""
    from cuefinder.pipeline.stages import content_hash

    expected = audio_files(roots)
    verdict = Verdict(files=len(expected))
    with connected(db, readonly=True) as raw:
        rows = raw.execute("SELECT id, path, path_bytes, content_hash FROM tracks"
                           " WHERE missing = 0").fetchall()  # fmt: skip
    paths = [r[1] for r in rows]
    verdict.lost = len(expected - set(paths))
    verdict.duplicated = len(paths) - len(set(paths))
    for _, path, raw_path, digest in rows:
        name = os.fsdecode(raw_path) if raw_path is not None else path
        if path not in expected:
            verdict.ghosts += 1
        elif content_hash(name) != digest:
            verdict.stale_rows += 1
    verdict.temp_files = len(list(db.parent.glob(f".{db.name}.*.tmp")))
    _verify_vectors(db, verdict)
    done = command("catalog", "check", catalog=db, timeout=120)
    if done.returncode != 0 or "no problem found" not in done.stdout:
        verdict.check = (done.stdout + done.stderr).strip().replace("\n", " | ")[:300]
    return verdict


def record_verdict(section: Section, verdict: Verdict, what: str) -> bool:
    """Add a verdict's counts to the section's figures; True when it is clean."""
    section.add("full checks")
    section.add("tracks lost", verdict.lost)
    section.add("tracks duplicated", verdict.duplicated)
    for key in ("ghosts", "stale_rows", "stale_vectors", "temp_files"):
        if getattr(verdict, key):
            section.add(key.replace("_", " "), getattr(verdict, key))
    for line in verdict.problems():
        section.problem(f"{what}: {line}")
    return not verdict.problems()


def _verify_vectors(db: Path, verdict: Verdict) -> None:
    """The active model's vector index against the catalog's rows: each present track's
    vector (its embedding joined with its sound embedding) held once, current, and the file
    the one the catalog recorded."""
    from cuefinder.catalog import Catalog
    from cuefinder.catalog.vectors import VectorIndex, dimensions, file_digest, joined, new_index

    with Catalog(db, create=False) as catalog:
        model = catalog.active_model()
        if model is None:
            return
        names = VectorIndex(catalog, model)  # where the index lives and its record's key
        projection = names.likeness  # the model's "sounds like" projection, read while open
        rows = catalog.db.execute(
            "SELECT id, embedding, sound_embedding FROM tracks WHERE missing = 0 AND model_id = ?",
            (model.model_id,),
        ).fetchall()
        state = catalog.db.execute("SELECT value FROM meta WHERE key = ?", (names.key,))
        state = state.fetchone()
    ours = {
        key: joined(
            np.frombuffer(embedding, np.float32),
            _sound(sound, dimensions(model), model),
            projection,  # as the index applies it
        )
        for key, embedding, sound in rows
    }
    if not names.path.exists() or state is None:
        verdict.stale_vectors = len(ours)
        return
    recorded = json.loads(state[0]).get("digest")
    index = new_index(dimensions(model))
    index.load(str(names.path))
    keys = np.asarray(index.keys, np.int64).tolist() if len(index) else []
    verdict.duplicated += len(keys) - len(set(keys))
    verdict.stale_vectors += len(set(keys) ^ set(ours))
    if recorded is not None and file_digest(names.path) != recorded:
        verdict.stale_vectors += 1
    for key in set(keys) & set(ours):
        held = np.asarray(index.get(key, dtype=np.float32)).reshape(-1)
        cosine = held @ ours[key] / max(np.linalg.norm(held) * np.linalg.norm(ours[key]), 1e-12)
        verdict.stale_vectors += int(not cosine > 0.99)


def _sound(blob: bytes | None, dimensions: int, model) -> np.ndarray | None:
    """A stored sound embedding, or None (zeros in the joined vector) where there is none."""
    size = (dimensions - model.embedding_dim) * 4
    return np.frombuffer(blob, np.float32) if blob is not None and len(blob) == size else None
