"""Briefs: named shortlists kept in the catalog ("reel 3, chase, 0:42 to fill").

A brief holds entries in order; each entry is a track (by content hash, so it
follows a moved file, and by the path it had), in and out points in seconds
(none: the whole track), a note and who added it. Every change is one transaction.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from cuefinder.catalog.db import Catalog
from cuefinder.errors import QueryError

MAX_NAME = 100
MAX_NOTE = 2000


@dataclass(frozen=True)
class Brief:
    id: int
    name: str
    note: str
    created_at: float
    updated_at: float
    entries: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Entry:
    id: int
    position: int  # 1-based
    content_hash: str
    path: str  # where the file was when added
    start: float | None  # in point, seconds
    stop: float | None  # out point, seconds
    note: str
    added_by: str
    added_at: float

    def to_dict(self) -> dict:
        return asdict(self)


def all_briefs(catalog: Catalog) -> list[Brief]:
    rows = catalog.db.execute(
        "SELECT b.id, b.name, b.note, b.created_at, b.updated_at, count(e.id) FROM briefs b"
        " LEFT JOIN brief_entries e ON e.brief_id = b.id GROUP BY b.id ORDER BY b.updated_at DESC"
    ).fetchall()
    return [Brief(*r) for r in rows]


def get(catalog: Catalog, key: int | str) -> Brief:
    """A brief by id or by name (case-insensitive); QueryError naming it when there is none."""
    sql = ("SELECT b.id, b.name, b.note, b.created_at, b.updated_at, count(e.id) FROM briefs b"
           " LEFT JOIN brief_entries e ON e.brief_id = b.id WHERE {} GROUP BY b.id")  # fmt: skip
    if isinstance(key, int):
        row = catalog.db.execute(sql.format("b.id = ?"), (key,)).fetchone()
    else:
        row = catalog.db.execute(sql.format("lower(b.name) = lower(?)"), (key.strip(),))
        row = row.fetchone()
    if row is None:
        raise QueryError(f"no brief {key!r} in {catalog.path}")
    return Brief(*row)


def create(catalog: Catalog, name: str, note: str = "") -> Brief:
    name = _name(name)
    with catalog.transaction() as db:
        if db.execute("SELECT 1 FROM briefs WHERE lower(name) = lower(?)", (name,)).fetchone():
            raise QueryError(f"a brief called '{name}' already exists")
        now = time.time()
        db.execute("INSERT INTO briefs(name, note, created_at, updated_at) VALUES (?, ?, ?, ?)",
                   (name, _note(note), now, now))  # fmt: skip
    return get(catalog, name)


def update(catalog: Catalog, brief_id: int, *, name: str | None = None,
           note: str | None = None, order: list[int] | None = None) -> Brief:  # fmt: skip
    """Rename a brief, change its note, or put its entries in ``order`` (every entry id of
    the brief, once): in one transaction, so a refused part changes nothing."""
    get(catalog, brief_id)
    with catalog.transaction() as db:
        if order is not None:
            held = [r[0] for r in db.execute("SELECT id FROM brief_entries WHERE brief_id = ?"
                                             " ORDER BY position, id", (brief_id,))]  # fmt: skip
            if sorted(order) != sorted(held):
                raise QueryError(f"order must list each of the brief's entries once: {held}")
            _renumber(db, brief_id, order)
        if name is not None:
            name = _name(name)
            clash = db.execute("SELECT id FROM briefs WHERE lower(name) = lower(?) AND id != ?",
                               (name, brief_id)).fetchone()  # fmt: skip
            if clash:
                raise QueryError(f"a brief called '{name}' already exists")
            db.execute("UPDATE briefs SET name = ? WHERE id = ?", (name, brief_id))
        if note is not None:
            db.execute("UPDATE briefs SET note = ? WHERE id = ?", (_note(note), brief_id))
        _touch(db, brief_id)
    return get(catalog, brief_id)


def delete(catalog: Catalog, brief_id: int) -> None:
    get(catalog, brief_id)
    with catalog.transaction() as db:
        db.execute("DELETE FROM briefs WHERE id = ?", (brief_id,))


def entries(catalog: Catalog, brief_id: int) -> list[Entry]:
    rows = catalog.db.execute(
        "SELECT id, position, content_hash, path, start, stop, note, added_by, added_at"
        " FROM brief_entries WHERE brief_id = ? ORDER BY position, id",
        (brief_id,),
    ).fetchall()
    return [Entry(*r) for r in rows]


def add_entry(catalog: Catalog, brief_id: int, content_hash: str, path: str,
              start: float | None, stop: float | None, note: str = "",
              by: str = "") -> Entry:  # fmt: skip
    get(catalog, brief_id)
    with catalog.transaction() as db:
        position = db.execute("SELECT coalesce(max(position), 0) + 1 FROM brief_entries"
                              " WHERE brief_id = ?", (brief_id,)).fetchone()[0]  # fmt: skip
        cursor = db.execute(
            "INSERT INTO brief_entries(brief_id, position, content_hash, path, start, stop,"
            " note, added_by, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (brief_id, position, content_hash, path, start, stop, _note(note), by[:100],
             time.time()),
        )  # fmt: skip
        _touch(db, brief_id)
    return next(e for e in entries(catalog, brief_id) if e.id == cursor.lastrowid)


def update_entry(catalog: Catalog, brief_id: int, entry_id: int, **changes) -> Entry:
    """Change an entry's ``start``, ``stop`` or ``note`` (only the keys given)."""
    entry = _entry(catalog, brief_id, entry_id)
    allowed = {"start", "stop", "note"}
    if set(changes) - allowed:
        raise QueryError(f"an entry has no {', '.join(sorted(set(changes) - allowed))}")
    if "note" in changes:
        changes["note"] = _note(changes["note"])
    with catalog.transaction() as db:
        for field, value in changes.items():
            db.execute(f"UPDATE brief_entries SET {field} = ? WHERE id = ?", (value, entry.id))
        _touch(db, brief_id)
    return _entry(catalog, brief_id, entry_id)


def remove_entry(catalog: Catalog, brief_id: int, entry_id: int) -> None:
    _entry(catalog, brief_id, entry_id)
    with catalog.transaction() as db:
        db.execute("DELETE FROM brief_entries WHERE id = ?", (entry_id,))
        _renumber(db, brief_id, None)
        _touch(db, brief_id)


def reorder(catalog: Catalog, brief_id: int, order: list[int]) -> list[Entry]:
    """Put the entries in ``order`` (every entry id of the brief, once)."""
    update(catalog, brief_id, order=order)
    return entries(catalog, brief_id)


def _entry(catalog: Catalog, brief_id: int, entry_id: int) -> Entry:
    found = [e for e in entries(catalog, brief_id) if e.id == entry_id]
    if not found:
        raise QueryError(f"brief {brief_id} has no entry {entry_id}")
    return found[0]


def _renumber(db, brief_id: int, order: list[int] | None) -> None:
    if order is None:
        order = [r[0] for r in db.execute("SELECT id FROM brief_entries WHERE brief_id = ?"
                                          " ORDER BY position, id", (brief_id,))]  # fmt: skip
    for position, entry_id in enumerate(order, 1):
        db.execute("UPDATE brief_entries SET position = ? WHERE id = ?", (position, entry_id))


def _touch(db, brief_id: int) -> None:
    db.execute("UPDATE briefs SET updated_at = ? WHERE id = ?", (time.time(), brief_id))


def _name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise QueryError(f"a brief's name is 1 to {MAX_NAME} printable characters, got {name!r}")
    return name


def _note(note: str) -> str:
    note = str(note or "")
    if len(note) > MAX_NOTE:
        raise QueryError(f"a note is at most {MAX_NOTE} characters")
    return note
