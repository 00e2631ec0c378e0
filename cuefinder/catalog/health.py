"""Checking a catalog, and repairing what can be derived again.

``check`` lists what is wrong, one line each: the database's own integrity
(SQLite's quick check), track rows whose stored arrays do not fit their model or
hold values that are not finite, tracks stored without segment embeddings, and a
vector index file that is not the one the catalog recorded. ``repair`` first
copies the catalog (``VACUUM INTO``, a consistent copy even while others read),
then removes damaged rows (recording each as a failure, so the next ``index`` run
tags the file again) and rebuilds the vector index; tracks without segment
embeddings are tagged again by the next ``index`` run over their folders.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np

from cuefinder.catalog.db import Catalog
from cuefinder.catalog.vectors import VectorIndex, index_path
from cuefinder.errors import CatalogError


def unopenable(err: CatalogError) -> str | None:
    """``check``'s line for a catalog that could not even be opened because SQLite finds
    the file damaged (a garbled header, a file cut short); None when opening failed for
    another reason (locked, unreadable), which is not damage."""
    cause = err.__cause__  # the bare class: SQLITE_CORRUPT, SQLITE_NOTADB
    return _damaged(cause) if type(cause) is sqlite3.DatabaseError else None


def _damaged(err: sqlite3.DatabaseError) -> str:
    return f"the database itself is damaged ({err}): restore a backup"


def check(catalog: Catalog) -> list[str]:
    """One line per problem; empty when the catalog is sound."""
    try:
        integrity = [r[0] for r in catalog.db.execute("PRAGMA quick_check(20)")]
    except sqlite3.DatabaseError as err:
        return [_damaged(err)]
    if integrity != ["ok"]:
        return [f"the database itself is damaged: {line}" for line in integrity]
    problems = [f"track {i} ({path}): {why}" for i, path, why in damaged_rows(catalog)]
    incomplete = catalog.incomplete()
    if incomplete:
        problems.append(f"{len(incomplete)} tracks have no segment embeddings (stored by an "
                        "older cuefinder): 'cuefinder index' on their folders tags them "
                        "again")  # fmt: skip
    model = catalog.active_model()
    path = index_path(catalog, model) if model is not None else None
    if path is not None and path.exists() and not VectorIndex(catalog, model).intact():
        problems.append(f"{path}: not the vector index the catalog saved (damaged or "
                        "replaced): 'catalog repair' rebuilds it")  # fmt: skip
    return problems


def damaged_rows(catalog: Catalog) -> list[tuple[int, str, str]]:
    """(id, path, why) of track rows whose arrays do not fit their model or are not finite."""
    out = []
    rows = catalog.db.execute(
        "SELECT id, path, model_id, track_scores, embedding, segment_scores,"
        " segment_embeddings FROM tracks"
    )
    for track_id, path, model_id, scores, embedding, segments, segment_vectors in rows:
        model = catalog.model(model_id)
        if model is None:
            out.append((track_id, path, f"its model {model_id} is not in the catalog"))
            continue
        width, dim = len(model.genres), model.embedding_dim
        why = None
        if len(scores) != 4 * width or len(embedding) != 4 * dim:
            why = "its scores or embedding do not have the model's size"
        elif len(segments) % (2 * (width + len(model.tags))) or (
            segment_vectors and len(segment_vectors) % (2 * dim)
        ):
            why = "its segment arrays are cut short"
        elif not (np.isfinite(np.frombuffer(scores, np.float32)).all()
                  and np.isfinite(np.frombuffer(embedding, np.float32)).all()):  # fmt: skip
            why = "it holds values that are not finite"
        if why:
            out.append((track_id, path, why))
    return out


def repair(catalog: Catalog) -> tuple[Path, list[str]]:
    """Back the catalog up, remove damaged rows, rebuild the vector index; returns the
    backup's path and one line per thing done."""
    try:
        integrity = [r[0] for r in catalog.db.execute("PRAGMA quick_check(1)")]
    except sqlite3.DatabaseError as err:
        integrity = [str(err)]
    if integrity != ["ok"]:
        raise CatalogError(f"{catalog.path}: the database itself is damaged ({integrity[0]}); "
                           "restore a backup, or index the music into a new catalog")  # fmt: skip
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = catalog.path.with_name(f"{catalog.path.name}.backup-{stamp}")
    try:
        catalog.db.execute("VACUUM INTO ?", (str(backup),))
    except sqlite3.DatabaseError as err:
        raise CatalogError(f"{backup}: cannot write the backup ({err}); nothing changed") from None
    done = [f"backed up to {backup}"]
    damaged = damaged_rows(catalog)
    if damaged:
        now = time.time()
        with catalog.transaction() as db:
            for track_id, path, why in damaged:
                db.execute("DELETE FROM tracks WHERE id = ?", (track_id,))
                reason = f"damaged row removed by 'catalog repair' ({why})"
                db.execute("INSERT OR REPLACE INTO failures(path, reason, at) VALUES (?, ?, ?)",
                           (path, reason, now))  # fmt: skip
        done.append(f"removed {len(damaged)} damaged rows (index their folders to tag them again)")
    model = catalog.active_model()
    if model is not None:
        vectors = VectorIndex(catalog, model)
        vectors.path.unlink(missing_ok=True)
        with catalog.transaction() as db:
            db.execute("DELETE FROM meta WHERE key = ?", (vectors.key,))
        report = vectors.sync()
        done.append(f"rebuilt the vector index ({report.size} tracks)")
    return backup, done
