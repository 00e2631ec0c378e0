"""The SQLite connection under a catalog: WAL mode, waits for other processes' locks, and a
read-only connection where the catalog's folder cannot be written."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path


def connect(path: Path, **options) -> sqlite3.Connection:
    """A connection to the catalog file in WAL mode (``options`` for ``sqlite3.connect``);
    where its folder cannot be written (a read-only disk), a read-only one, so that
    searching still works and a write is one CatalogError (SQLite cannot make the log's
    files beside it: "unable to open database file")."""
    options = {"timeout": 30.0, "isolation_level": None} | options
    db = sqlite3.connect(path, **options)
    try:
        _use_wal(db, options["timeout"])
        return db
    except sqlite3.OperationalError:
        db.close()
        if os.access(path.parent, os.W_OK) or not path.is_file():
            raise
    uri = path.resolve().as_uri() + "?mode=ro"
    for extra in ("", "&immutable=1"):  # immutable: no log files to read or make
        db = sqlite3.connect(uri + extra, uri=True, **options)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            db.close()
    raise sqlite3.OperationalError("unable to open database file (read-only)")


def _use_wal(db: sqlite3.Connection, timeout: float) -> None:
    """Put the catalog file in WAL mode (a lasting property of the file: after its first
    open there is nothing to do). The change needs the file to itself and SQLite does not
    wait for that as it waits for other locks (its busy timeout is not used), so two
    indexers opening a new catalog at once may find it locked: try again until
    ``timeout``."""
    if db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            busy = (err.sqlite_errorcode & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
