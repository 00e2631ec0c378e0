"""Nearest-neighbour search over what tracks sound like: an HNSW index (usearch) beside the
catalog.

A track's vector joins two embeddings, each made unit length: the catalog model's
(``embedding``) and musicnn's tagger's penultimate layer (``sound_embedding``,
``descriptors.SOUND_DIM`` values; zeros for a track indexed without it), the whole made unit
length again (``joined``): on games held out of training the two together find tracks of
the same game more often than either alone or MFCC statistics
(``bench/bench_similarity.py``, space ``sounds+recipe``). A model that carries the
"sounds like" projection (``model/likeness.py``) has each block projected first
(space ``likeness``): the index records whether it was, and is rebuilt when that
changes (the model file found again, or gone).

The catalog (SQLite) is the source of truth; the index is derived from it and
can always be rebuilt. It lives next to the database as
``<catalog>.<model id>.sounds.usearch``, one per model, keyed by track id (an index of
the model's embedding alone, ``<catalog>.<model id>.usearch``, from before, is removed
when this one is built). ``sync``
brings it up to date incrementally: tracks added, re-tagged (``indexed_at``
newer than the last sync), vanished or deleted since. The file is replaced
atomically (write, fsync, rename) and the sync point, with the file's checksum, is
committed to the catalog's ``meta`` table in the transaction that holds the catalog's
write lock across the rename (a run saving at the same time waits), so a kill at any
moment leaves a usable index that the next sync repairs; a damaged file (its
checksum is not the recorded one) is rebuilt from the catalog, and the temporary file of
a run killed while saving is removed by the next save. A row counts as re-tagged when
its ``indexed_at`` is later than the last sync's newest: the catalog stamps each write
later than every earlier one, whatever the clock does.

Below ``exact_below`` vectors a search is exact (one matrix product); the HNSW
index takes over above it, where exact search stops being instant.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cuefinder.catalog.db import Catalog, StoredModel
from cuefinder.descriptors import SOUND_DIM
from cuefinder.errors import CatalogError, ModelFileError

EXACT_BELOW = 20_000
CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 96


@dataclass
class SyncReport:
    added: int = 0
    removed: int = 0
    rebuilt: bool = False
    size: int = 0


def file_digest(path: Path) -> str:
    """BLAKE2b-128 of a file, read in 1 MiB blocks."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def index_path(catalog: Catalog, model: StoredModel) -> Path:
    return catalog.path.with_name(f"{catalog.path.name}.{model.model_id}.sounds.usearch")


def dimensions(model: StoredModel) -> int:
    """Length of a track's vector in the index: the model's embedding, then the sound one."""
    return model.embedding_dim + SOUND_DIM


def joined(
    embeddings: np.ndarray, sound_embeddings: np.ndarray | None, likeness=None
) -> np.ndarray:
    """(n, dimensions) unit vectors: each block made unit length (a missing or zero sound
    embedding stays zeros), then the whole. Takes (n, dim) and (n, SOUND_DIM) or None, or
    one vector of each. ``likeness``: the model's projection of each block
    (``model.likeness.Likeness``), applied first when the model carries one."""
    model = np.atleast_2d(np.asarray(embeddings, np.float32))
    if sound_embeddings is None:
        sound = np.zeros((len(model), SOUND_DIM), np.float32)
    else:
        sound = np.atleast_2d(np.asarray(sound_embeddings, np.float32))
    if likeness is not None:
        model, sound = likeness.model_part(model), likeness.sound_part(sound)
    whole = np.concatenate([unit_rows(model), unit_rows(sound)], axis=1)
    whole = unit_rows(whole)
    return whole if np.ndim(embeddings) == 2 else whole[0]


def new_index(ndim: int):
    """An empty HNSW index for unit vectors under cosine distance, stored as float16."""
    index = _usearch().Index
    return index(ndim=ndim, metric="cos", dtype="f16", connectivity=CONNECTIVITY,
                 expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH)  # fmt: skip


def _usearch():
    """usearch's ``index`` module, with the system's C++ runtime loaded before it.

    usearch's wheel carries its own copy of the C++ runtime, whose locale facets are
    process-wide symbols: loaded first, they are the ones every later C++ library gets,
    and Ray's regular expressions then fail to parse ("Invalid range in brace
    expression"), aborting the process (a search, then ``index --engine ray``, in one
    process). Loading the system's runtime first, as torch and Ray do, keeps them sound.
    """
    import contextlib
    import ctypes

    with contextlib.suppress(OSError):  # not a glibc system: nothing to put first
        ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)
    import usearch.index

    return usearch.index


def likeness_of(catalog: Catalog, model: StoredModel):
    """The "sounds like" projection of a catalog's model (``model.likeness.Likeness``):
    None when its model file carries none, is no longer where it was indexed from, or
    cannot be read there now (the catalog's tracks stay searchable, joined plainly)."""
    path = catalog.model_path(model.model_id)
    if path is None:
        return None
    try:
        return _likeness(str(path), path.stat().st_mtime_ns, model.model_id)
    except (OSError, ModelFileError):
        return None


@functools.lru_cache(maxsize=8)
def _likeness(path: str, mtime_ns: int, model_id: str):
    from cuefinder.model import checkpoint

    info = checkpoint.read_info(path)
    return checkpoint.load_likeness(info) if info.model_id == model_id else None


class VectorIndex:
    """The embeddings of one model's tracks in one catalog, searchable by cosine similarity."""

    def __init__(self, catalog: Catalog, model: StoredModel, *, exact_below: int = EXACT_BELOW):
        self.catalog = catalog
        self.model = model
        self.exact_below = exact_below
        self.path = index_path(catalog, model)
        self.key = f"vectors:{model.model_id}:sounds"  # its state in the catalog's meta table
        self._index = None
        self._synced: float | None = None

    @functools.cached_property
    def likeness(self):
        """The model's projection of each block (``likeness_of``), or None; read when first
        needed (taught tags' plain vectors never need it)."""
        return likeness_of(self.catalog, self.model)

    # -- keeping up with the catalog -----------------------------------------

    def sync(self) -> SyncReport:
        """Add, replace and remove vectors so the index holds exactly the catalog's tracks."""
        report = SyncReport()
        state = self._state()
        projected = self.likeness is not None
        index = self._load() if state and state.get("projected", False) == projected else None
        if index is None:
            index, state, report.rebuilt = new_index(dimensions(self.model)), {"at": 0.0}, True
        db = self.catalog.db
        present = {
            row[0]: row[1]
            for row in db.execute(
                "SELECT id, indexed_at FROM tracks WHERE model_id = ? AND missing = 0",
                (self.model.model_id,),
            )
        }
        held = set(np.asarray(index.keys, dtype=np.int64).tolist()) if len(index) else set()
        stale = [k for k in held if k not in present or present[k] > state["at"]]
        fresh = [k for k, at in present.items() if k not in held or at > state["at"]]
        if stale:
            index.remove(np.array(stale, np.int64))
        if fresh:
            ids, vectors = self._vectors(fresh)
            index.add(ids, vectors)
        report.added, report.removed, report.size = len(fresh), len(stale), len(index)
        if stale or fresh or report.rebuilt or not self.path.exists():
            newest = max(present.values(), default=state["at"])
            at = max(newest, state["at"])
            self._save(index, {"at": at, "size": len(index), "projected": projected})
        self._index, self._synced = index, self._state().get("at")
        return report

    def _vectors(self, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        out_ids, embeddings, sounds = [], [], []
        for start in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            chunk = ids[start : start + 900]
            rows = self.catalog.db.execute(
                "SELECT id, embedding, sound_embedding FROM tracks"
                f" WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            out_ids += [r[0] for r in rows]
            embeddings += [r[1] for r in rows]
            sounds += [r[2] for r in rows]
        vectors = np.frombuffer(b"".join(embeddings), np.float32)
        vectors = vectors.reshape(-1, self.model.embedding_dim)
        return np.array(out_ids, np.int64), joined(vectors, _sound_rows(sounds), self.likeness)

    def vectors(self, projected: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(ids (n,), unit vectors (n, dimensions)) of the model's present tracks, by id: what
        the index holds, read from the catalog; ``projected`` False: the two blocks joined
        without the model's projection (the space taught tags learn in: ``find/teach.py``)."""
        ids, embeddings = self.catalog.embeddings(self.model)  # one line for a damaged row
        sql = "SELECT id, sound_embedding FROM tracks WHERE model_id = ? AND missing = 0"
        heard = dict(self.catalog.db.execute(sql, (self.model.model_id,)))
        sounds = _sound_rows([heard.get(i) for i in ids.tolist()])
        return ids, joined(embeddings, sounds, self.likeness if projected else None)

    def _state(self) -> dict:
        row = self.catalog.db.execute("SELECT value FROM meta WHERE key = ?", (self.key,))
        row = row.fetchone()
        return json.loads(row[0]) if row else {}

    def _load(self):
        """The index file, or None when it is missing, damaged or not the file the catalog
        last saved (its checksum differs): then it is rebuilt from the catalog."""
        if not self.path.exists() or not self.intact():
            return None
        index = new_index(dimensions(self.model))
        try:
            index.load(str(self.path))
        except (RuntimeError, ValueError, OSError):
            return None
        return index if index.ndim == dimensions(self.model) else None

    def intact(self) -> bool:
        """Whether the index file is the one the catalog recorded (by checksum)."""
        digest = self._state().get("digest")
        return digest is None or (self.path.exists() and file_digest(self.path) == digest)

    def _save(self, index, state: dict | None = None) -> str:
        """Write the index beside the catalog atomically; returns its checksum. A unique
        temporary name, so two runs never share one; on a full disk the previous file stays
        and the error is one line. With ``state``, the file is renamed into place and
        recorded (``state`` and its checksum) while this run holds the catalog's write lock:
        two runs saving at once leave one run's file with that run's record."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        self._remove_orphans()
        try:
            index.save(str(tmp))
            missing = index.serialized_length - os.path.getsize(tmp)
            if missing:  # written short (on a full disk usearch writes nothing, raises nothing)
                room = os.statvfs(tmp.parent)
                code = errno.ENOSPC if room.f_bavail * room.f_frsize < missing else errno.EIO
                raise OSError(code, os.strerror(code))
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            digest = file_digest(tmp)
            if state is None:
                os.replace(tmp, self.path)
                return digest
            with self.catalog.transaction() as db:
                os.replace(tmp, self.path)
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                           (self.key, json.dumps(state | {"digest": digest})))  # fmt: skip
                self._remove_older(db)
        except (OSError, RuntimeError) as err:
            tmp.unlink(missing_ok=True)
            reason = getattr(err, "strerror", None) or str(err).splitlines()[0]
            raise CatalogError(f"{self.path}: cannot save the vector index ({reason}); the "
                               "previous one is kept") from None  # fmt: skip
        except CatalogError:  # the catalog could not record it (locked, full)
            tmp.unlink(missing_ok=True)
            raise
        return digest

    def _remove_older(self, db) -> None:
        """Remove the index of the model's embedding alone that catalogs had before the
        sound embedding joined it (file and record)."""
        old = self.catalog.path.with_name(f"{self.catalog.path.name}.{self.model.model_id}.usearch")
        old.unlink(missing_ok=True)
        db.execute("DELETE FROM meta WHERE key = ?", (f"vectors:{self.model.model_id}",))

    def _remove_orphans(self) -> None:
        """Remove temporary files of this index left by runs that were killed while saving
        (their process is gone); another live run's file is left alone."""
        prefix = f".{self.path.name}."
        for tmp in self.path.parent.iterdir():
            pid = tmp.name[len(prefix) :].split(".", 1)[0]
            if tmp.name.startswith(prefix) and tmp.name.endswith(".tmp") and pid.isdigit() \
                    and not _alive(int(pid)):  # fmt: skip
                tmp.unlink(missing_ok=True)

    # -- searching -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._index) if self._index is not None else self.catalog.count()

    def search(self, query: np.ndarray, k: int, *, exact: bool | None = None):
        """The ``k`` nearest tracks: (ids (k,), cosine similarities (k,)), best first.

        ``exact`` None picks brute force below ``exact_below`` vectors, HNSW above.
        """
        query = np.asarray(query, np.float32).reshape(-1)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        if exact is None:
            exact = self.catalog.count() < self.exact_below
        if exact:
            ids, vectors = self.vectors()
            similarity = vectors @ query
            order = np.argsort(-similarity, kind="stable")[:k]
            return ids[order], similarity[order]
        if self._index is None or self._state().get("at") != self._synced:
            self.sync()
        matches = self._index.search(query, min(k, len(self._index)))
        return np.asarray(matches.keys, np.int64), 1.0 - np.asarray(matches.distances, np.float32)


def _sound_rows(blobs: list) -> np.ndarray:
    """(n, SOUND_DIM) sound embeddings of stored blobs; zeros for NULL or a wrong size."""
    rows = np.zeros((len(blobs), SOUND_DIM), np.float32)
    for n, blob in enumerate(blobs):
        if blob is not None and len(blob) == 4 * SOUND_DIM:
            rows[n] = np.frombuffer(blob, np.float32)
    return rows


def unit_rows(rows: np.ndarray) -> np.ndarray:
    """Each row divided by its length (a zero row stays zero)."""
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        pass
    return True
