"""What a library taught its catalog: its own tags, corrections of genres, their examples.

A tag is a name and a set of examples, each a track (or a part of it) that is or
is not the tag. A correction is the same thing under a model genre's name ("this
track is not Comedy"). Examples name their track by content hash, so a moved or
renamed file keeps them, and re-indexing with another model keeps them too: the
scorers learned from them (``find.taught``) are stored per model and learned
again for a new one. Every change is one transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass

import numpy as np

from cuefinder.catalog.db import Catalog
from cuefinder.errors import QueryError

KINDS = ("tag", "correction")


@dataclass(frozen=True)
class Example:
    tag: str
    content_hash: str
    path: str  # where the file was when it was taught
    positive: bool
    start: float = 0.0  # seconds; start == stop == 0: the whole track
    stop: float = 0.0

    @property
    def whole(self) -> bool:
        return self.start == 0.0 and self.stop == 0.0


@dataclass(frozen=True)
class Taught:
    name: str
    kind: str  # "tag" or "correction"
    positives: int
    negatives: int


def taught(catalog: Catalog) -> list[Taught]:
    """Every tag and correction with its example counts, by name."""
    rows = catalog.db.execute(
        "SELECT t.name, t.kind, coalesce(sum(e.positive), 0), count(e.tag) - "
        "coalesce(sum(e.positive), 0) FROM taught t LEFT JOIN examples e ON e.tag = t.name "
        "GROUP BY t.name ORDER BY t.key"
    ).fetchall()
    return [Taught(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


def find(catalog: Catalog, name: str) -> Taught | None:
    """The tag or correction called ``name`` (as compared by ``key``)."""
    wanted = key(name)
    for item in taught(catalog):
        if key(item.name) == wanted:
            return item
    return None


def examples(catalog: Catalog, name: str | None = None) -> list[Example]:
    """The examples of one tag (or of all), in the order they were added."""
    sql = "SELECT tag, content_hash, path, positive, start, stop FROM examples"
    rows = catalog.db.execute(
        sql + (" WHERE tag = ? ORDER BY added_at, rowid" if name else " ORDER BY tag, rowid"),
        (name,) if name else (),
    ).fetchall()
    return [Example(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows]


def change(
    catalog: Catalog,
    name: str,
    kind: str,
    *,
    add: list[Example] = (),
    remove: list[Example] = (),
    scorer: tuple | None = None,
) -> None:
    """Create the tag if new, remove examples, add (replacing one of the same track and
    part), store ``scorer`` (model id, examples fingerprint, weights, meta) and forget a
    tag left with no example: one transaction. The caller checks names and conflicts
    (``find.teach``)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    now = time.time()
    with catalog.transaction() as db:
        db.execute(
            "INSERT OR IGNORE INTO taught(name, key, kind, created_at) VALUES (?, ?, ?, ?)",
            (name, key(name), kind, now),
        )
        for e in remove:
            if e.whole:  # the whole track: every example of it, parts too
                db.execute("DELETE FROM examples WHERE tag = ? AND content_hash = ?",
                           (name, e.content_hash))  # fmt: skip
            else:
                db.execute(
                    "DELETE FROM examples WHERE tag = ? AND content_hash = ? AND start = ? AND "
                    "stop = ?", (name, e.content_hash, e.start, e.stop),
                )  # fmt: skip
        for e in add:
            db.execute(
                "INSERT OR REPLACE INTO examples(tag, content_hash, path, positive, start, stop,"
                " added_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, e.content_hash, e.path, int(e.positive), e.start, e.stop, now),
            )
        if scorer is not None:
            _put_scorer(db, name, *scorer)
        db.execute("DELETE FROM taught WHERE name = ? AND NOT EXISTS "
                   "(SELECT 1 FROM examples WHERE tag = ?)", (name, name))  # fmt: skip


def delete(catalog: Catalog, name: str) -> None:
    """Forget a tag or correction with its examples and scorers."""
    with catalog.transaction() as db:
        if db.execute("DELETE FROM taught WHERE name = ?", (name,)).rowcount == 0:
            raise QueryError(f"no tag '{name}' in {catalog.path}")


def fingerprint(items: list[Example]) -> str:
    """A short hash of a set of examples: a stored scorer is current when it matches."""
    text = json.dumps(sorted((e.content_hash, e.positive, e.start, e.stop) for e in items))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def store_scorer(catalog: Catalog, name: str, model_id: str, examples_print: str,
                 weights: np.ndarray, meta: dict) -> None:  # fmt: skip
    with catalog.transaction() as db:
        _put_scorer(db, name, model_id, examples_print, weights, meta)


def _put_scorer(db, name, model_id, examples_print, weights, meta) -> None:
    db.execute(
        "INSERT OR REPLACE INTO scorers(tag, model_id, examples, weights, meta, learned_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (name, model_id, examples_print, np.asarray(weights, np.float32).tobytes(),
         json.dumps(meta), time.time()),
    )  # fmt: skip


def stored_scorer(catalog: Catalog, name: str, model_id: str):
    """(examples fingerprint, float32 weights, meta) of a stored scorer, or None."""
    row = catalog.db.execute(
        "SELECT examples, weights, meta FROM scorers WHERE tag = ? AND model_id = ?",
        (name, model_id),
    ).fetchone()
    if row is None:
        return None
    return row[0], np.frombuffer(row[1], np.float32).copy(), json.loads(row[2])


def tracks_by_hash(catalog: Catalog, hashes: list[str], model_id: str) -> dict[str, int]:
    """content hash -> id of a present track with that content tagged by ``model_id``."""
    found: dict[str, int] = {}
    for i in range(0, len(hashes), 500):
        chunk = hashes[i : i + 500]
        rows = catalog.db.execute(
            f"SELECT content_hash, id FROM tracks WHERE missing = 0 AND model_id = ? AND "
            f"content_hash IN ({','.join('?' * len(chunk))}) ORDER BY id",
            (model_id, *chunk),
        )
        for content_hash, track_id in rows:
            found.setdefault(content_hash, track_id)
    return found


def key(name: str) -> str:
    """A name as compared: lower case, without '#', spaces, hyphens or underscores (the
    query grammar reads ``#Tension-Build`` and ``tension build`` as the same word)."""
    return re.sub(r"[-_/#\s]", "", name.lower())
