"""The server's hold on its catalog: one read connection per thread, one shared score table;
and ``Server``, what the endpoints share (those readers, the indexer, the limits).

Ranking needs every track's genre scores; reading them back from SQLite costs
about a quarter of a second at 100,000 tracks, so the table is kept in memory
and reloaded only when what search reads changes. ``PRAGMA data_version`` on a
connection of our own that never writes tells, for a few microseconds, whether
any other connection (an indexer in this process or another) has committed; only
then is the catalog's ``search_version`` read, which its triggers count up on changes
to tracks, models and taught tags, and not on briefs (``catalog/schema.py``). The same
version keys a small cache of recent search results, so a repeated query (the page
re-asks as chips are toggled back and forth) costs a lookup, and editing a brief
keeps both.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cuefinder.catalog import Catalog, ScoreTable, StoredModel
from cuefinder.catalog.connection import connect
from cuefinder.serve.jobs import Indexer

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class CatalogPool:
    """Per-thread ``Catalog`` readers of one database, sharing one cached score table."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        Catalog(self.path, create=False).close()  # a clear CatalogError now, not per request
        self._local = threading.local()
        self._watch = connect(self.path, check_same_thread=False)  # read-only where need be
        self._watch_lock = threading.Lock()
        self._table_lock = threading.Lock()
        self._table: tuple[tuple, ScoreTable] | None = None
        self._seen: tuple = (None, None)  # (data_version, the version it gave)
        self.results = ResultCache()

    def catalog(self) -> Catalog:
        """This thread's reader (opened on first use, kept for the thread's life)."""
        reader = getattr(self._local, "catalog", None)
        if reader is None:
            reader = self._local.catalog = _SharedTableCatalog(self)
        return reader

    def vector_index(self, model: StoredModel):
        """This thread's nearest-neighbour index over ``model``'s embeddings (kept in step
        with the catalog by the index itself)."""
        from cuefinder.catalog.vectors import VectorIndex

        held = getattr(self._local, "vectors", None)
        if held is None or held.model != model:
            held = self._local.vectors = VectorIndex(self.catalog(), model)
        return held

    def version(self) -> tuple:
        """A value that changes whenever another connection commits a change that search
        reads (a catalog too old to count them: any change)."""
        with self._watch_lock:
            seen = self._watch.execute("PRAGMA data_version").fetchone()[0]
            if seen != self._seen[0]:
                row = self._watch.execute(
                    "SELECT value FROM meta WHERE key = 'search_version'"
                ).fetchone()
                self._seen = (seen, ("search", row[0]) if row else ("any", seen))
            return self._seen[1]

    def score_table(self, model: StoredModel, load: Callable[[StoredModel], ScoreTable]):
        """The cached table for ``model`` if the catalog has not changed, else a fresh one."""
        key = (model.model_id, self.version())
        with self._table_lock:  # one loader at a time; the others then reuse its table
            if self._table is None or self._table[0] != key:
                self._table = (key, load(model))
            return self._table[1]


class _SharedTableCatalog(Catalog):
    """A Catalog whose score_table comes from its pool's cache."""

    def __init__(self, pool: CatalogPool):
        super().__init__(pool.path, create=False)
        self._pool = pool

    def score_table(self, model: StoredModel) -> ScoreTable:
        return self._pool.score_table(model, super().score_table)


class ResultCache:
    """The last ``size`` search answers, keyed by query, options and catalog version."""

    def __init__(self, size: int = 512):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@dataclass
class Server:
    """What the endpoints share: the catalog readers, the indexer, the limits."""

    pool: CatalogPool
    indexer: Indexer
    max_upload_bytes: int = MAX_UPLOAD_BYTES
