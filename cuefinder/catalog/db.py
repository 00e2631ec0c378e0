"""The catalog: one embedded SQLite database (WAL) holding tracks, their scores and models.

Every write is one transaction, so a kill at any moment leaves either the old
row or the new one, never half of each. Readers never block the writer (WAL).
Scores are stored against the model that produced them; the model's genre list
gives the columns of its score arrays.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from cuefinder.catalog.connection import connect
from cuefinder.catalog.records import (
    SCORE_COLUMNS,
    TRACK_COLUMNS,
    ScoreTable,
    StoredModel,
    Track,
    descriptor_values,
    mean_rows,
    score_table_from_rows,
    scores_json,
    segment_matrix,
    track_from_row,
)
from cuefinder.catalog.schema import GENRE_VIEW, SCHEMA_VERSION, genre_view, upgrade
from cuefinder.errors import CatalogError, QueryError

ENV_VAR = "CUEFINDER_CATALOG"


def default_path() -> Path:
    """$CUEFINDER_CATALOG, else catalog.db in the user's data directory."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    import platformdirs

    return Path(platformdirs.user_data_dir("cuefinder")) / "catalog.db"


class Catalog:
    """The cuefinder catalog at ``path`` (created on first write)."""

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True):
        self._sounds: tuple = (None, ())  # (catalog version, sound_tags' answer)
        self.path = Path(path) if path is not None else default_path()
        self._models: dict[str, StoredModel] = {}  # rows never change once written (id: hash)
        if not create and not self.path.exists():
            raise CatalogError(f"no catalog at {self.path}: run 'cuefinder index FOLDER' first")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = connect(self.path)
            self.db.row_factory = sqlite3.Row  # rows by column name (and still by index)
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as err:
            raise CatalogError(f"{self.path}: not a usable catalog ({err}); run 'cuefinder "
                               "catalog check'") from err  # fmt: skip
        except OSError as err:
            raise CatalogError(f"{self.path}: cannot open catalog ({err.strerror})") from err

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise CatalogError(f"{self.path}: cannot write ({err})") from err
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as err:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            if isinstance(err, sqlite3.DatabaseError):  # disk full, I/O error, corruption
                raise CatalogError(
                    f"{self.path}: write failed, nothing of it kept ({err})"
                ) from err
            raise

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path}: catalog schema {version} is newer than this cuefinder's "
                f"({SCHEMA_VERSION}); upgrade cuefinder"
            )
        try:  # one transaction: a kill leaves no half-made schema
            self.db.execute("BEGIN IMMEDIATE")
            # another process may have migrated while this one waited for the lock
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                for statement in upgrade(version):
                    self.db.execute(statement)
                if 0 < version < 3:
                    self._fill_genre_scores()
                elif version > 0:  # the view gains the columns added since
                    active = self.db.execute(
                        "SELECT value FROM meta WHERE key = 'active_model'").fetchone()  # fmt: skip
                    if active:
                        self._make_genre_view(active[0])
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def _fill_genre_scores(self) -> None:
        """Version 3: every track's scores also as JSON, and the per-genre view."""
        rows = self.db.execute("SELECT id, model_id, track_scores FROM tracks").fetchall()
        for track_id, model_id, blob in rows:
            genres = self.model(model_id).genres
            scores = np.frombuffer(blob, np.float32)
            self.db.execute("UPDATE tracks SET genre_scores = ? WHERE id = ?",
                            (scores_json(genres, scores), track_id))  # fmt: skip
        active = self.db.execute("SELECT value FROM meta WHERE key = 'active_model'").fetchone()
        if active:
            self._make_genre_view(active[0])

    def _make_genre_view(self, model_id: str) -> None:
        self.db.execute(f"DROP VIEW IF EXISTS {GENRE_VIEW}")
        self.db.execute(genre_view(model_id, self.model(model_id).genres))

    # -- models -------------------------------------------------------------

    def add_model(self, info, *, activate: bool = True) -> None:
        """Record a model (checkpoint.ModelInfo) and make it the one searches use."""
        self.add_stored_model(info.model_id, Path(info.path).name, info.genres,
                              info.config.output_dim, info.config.to_dict(),
                              getattr(info, "tags", ()), activate=activate,
                              path=str(Path(info.path).resolve()))  # fmt: skip

    def add_stored_model(self, model_id: str, name: str, genres, embedding_dim: int,
                         config: dict, tags=(), *, activate: bool = True,
                         path: str | None = None) -> None:  # fmt: skip
        """Record a model by its description (a model file's, or a Parquet file's
        metadata); ``path``: where its file is, to tag outside audio with it later."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO models(id, name, genres, embedding_dim, config, added_at,"
                " tags) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (model_id, name, json.dumps(list(genres)), int(embedding_dim),
                 json.dumps(config), time.time(), json.dumps(list(tags))),
            )  # fmt: skip
            if path is not None:
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                           (f"model_path:{model_id}", path))  # fmt: skip
            if activate:
                db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('active_model', ?)",
                    (model_id,),
                )
                self._make_genre_view(model_id)

    def active_model(self) -> StoredModel | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'active_model'").fetchone()
        return self.model(row[0]) if row else None

    def model_path(self, model_id: str) -> Path | None:
        """The file the model was loaded from when it was added, if it is still there."""
        key = f"model_path:{model_id}"
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return Path(row[0]) if row and Path(row[0]).is_file() else None

    def model(self, model_id: str) -> StoredModel | None:
        if model_id in self._models:
            return self._models[model_id]
        row = self.db.execute(
            "SELECT id, name, genres, embedding_dim, tags FROM models WHERE id = ?", (model_id,)
        ).fetchone()
        if row is None:
            return None
        model = StoredModel(row[0], row[1], tuple(json.loads(row[2])), row[3],
                            tuple(json.loads(row[4])))  # fmt: skip
        self._models[model_id] = model
        return model

    # -- writes -------------------------------------------------------------

    def put_analysis(self, a, *, indexed_at: float) -> None:
        """Insert or replace one track's row (pipeline.stages.Analysis), clearing its failure.
        ``indexed_at`` is stored later than every earlier write's, whatever the clock does
        (a clock stepped back): the vector index takes later rows as changed."""
        head = (
            a.path,
            a.path_bytes,
            a.content_hash,
            a.size,
            a.mtime,
            a.duration,
            a.tags.title,
            a.tags.artist,
            a.tags.album,
            a.model_id,
            a.segment_seconds,
            a.track_scores.astype(np.float32).tobytes(),
            segment_matrix(a).astype(np.float16).tobytes(),
            a.embedding.astype(np.float32).tobytes(),
        )
        tail = (
            a.segment_embeddings.astype(np.float16).tobytes(),
            None
            if a.segment_tag_scores is None
            else mean_rows(a.segment_tag_scores).astype(np.float32).tobytes(),
            scores_json(self.model(a.model_id).genres, a.track_scores),
            *descriptor_values(getattr(a, "descriptors", None)),
        )
        with self.transaction() as db:
            last = db.execute("SELECT value FROM meta WHERE key = 'written_at'").fetchone()
            last = float(last[0]) if last else db.execute(
                "SELECT coalesce(max(indexed_at), 0) FROM tracks").fetchone()[0]  # fmt: skip
            stamp = max(float(indexed_at), last + 1e-3)
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('written_at', ?)",
                       (repr(stamp),))  # fmt: skip
            db.execute(
                "INSERT INTO tracks(path, path_bytes, content_hash, size, mtime, duration, title,"
                " artist, album, model_id, segment_seconds, track_scores, segment_scores,"
                " embedding, indexed_at, segment_embeddings, tag_scores, genre_scores, tempo, key,"
                " key_strength, loudness, tempo_confidence, energy, energy_curve, sounds, waveform,"
                " sound_embedding, missing)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)"
                " ON CONFLICT(path) DO UPDATE SET path_bytes=excluded.path_bytes,"
                " content_hash=excluded.content_hash, size=excluded.size, mtime=excluded.mtime,"
                " duration=excluded.duration, title=excluded.title, artist=excluded.artist,"
                " album=excluded.album, model_id=excluded.model_id,"
                " segment_seconds=excluded.segment_seconds, track_scores=excluded.track_scores,"
                " segment_scores=excluded.segment_scores, embedding=excluded.embedding,"
                " indexed_at=excluded.indexed_at, segment_embeddings=excluded.segment_embeddings,"
                " tag_scores=excluded.tag_scores, genre_scores=excluded.genre_scores,"
                " tempo=excluded.tempo, key=excluded.key, key_strength=excluded.key_strength,"
                " loudness=excluded.loudness, tempo_confidence=excluded.tempo_confidence,"
                " energy=excluded.energy, energy_curve=excluded.energy_curve,"
                " sounds=excluded.sounds, waveform=excluded.waveform,"
                " sound_embedding=excluded.sound_embedding, missing=0",
                (*head, stamp, *tail),
            )
            db.execute("DELETE FROM failures WHERE path = ?", (a.path,))

    def touch(self, path: str, size: int, mtime: float) -> None:
        """Record new size/mtime for a track whose content did not change."""
        with self.transaction() as db:
            db.execute(
                "UPDATE tracks SET size = ?, mtime = ?, missing = 0 WHERE path = ?",
                (size, mtime, path),
            )
            db.execute("DELETE FROM failures WHERE path = ?", (path,))

    def put_failure(self, f, *, at: float) -> None:
        """Record why a file failed; a stored track of the same path is left as it was."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO failures(path, reason, size, mtime, at)"
                " VALUES (?, ?, ?, ?, ?)",
                (f.path, f.reason, f.size, f.mtime, at),
            )

    def set_missing(self, paths: list[str], missing: bool = True) -> None:
        """Flag tracks whose files vanished (or came back)."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE tracks SET missing = ? WHERE path = ?", [(int(missing), p) for p in paths]
            )

    # -- reads --------------------------------------------------------------

    def file_states(self) -> dict[str, tuple[int, float, str, str, bool]]:
        """path -> (size, mtime, content_hash, model_id, missing) of every stored track."""
        rows = self.db.execute(
            "SELECT path, size, mtime, content_hash, model_id, missing FROM tracks"
        )
        return {r[0]: (r[1], r[2], r[3], r[4], bool(r[5])) for r in rows}

    def incomplete(self) -> set[str]:
        """Paths of tracks stored without segment embeddings (by cuefinder 0.1, schema 1), or
        with musicnn's tags but not its sound embedding (before schema 8): the next index
        run analyses them again."""
        rows = self.db.execute(
            "SELECT path FROM tracks WHERE segment_embeddings IS NULL"
            " OR length(segment_embeddings) = 0"
            " OR (sounds IS NOT NULL AND sound_embedding IS NULL)"
        )
        return {r[0] for r in rows}

    def failures(self) -> list[tuple[str, str]]:
        return self.db.execute("SELECT path, reason FROM failures ORDER BY path").fetchall()

    def count(self, *, include_missing: bool = False) -> int:
        sql = "SELECT count(*) FROM tracks" + ("" if include_missing else " WHERE missing = 0")
        return self.db.execute(sql).fetchone()[0]

    def score_table(self, model: StoredModel) -> ScoreTable:
        """Scores of every present track tagged by ``model``: its genres' columns, then its
        pretrained tags' (``ScoreTable.labels``)."""
        rows = self.db.execute(
            f"SELECT {SCORE_COLUMNS} FROM tracks WHERE model_id = ? AND missing = 0 ORDER BY id",
            (model.model_id,),
        ).fetchall()
        with self._reading(f"a track row of model {model.model_id}"):
            return score_table_from_rows(rows, model)

    def sound_tags(self, model: StoredModel) -> tuple[str, ...]:
        """musicnn's sound tags when ``model`` has no tags of its own and some present track
        of it has them (``ScoreTable.sounds``), else ()."""
        if model.tags:
            return ()
        # asked on every query: kept until this catalog changes (here or in another process)
        version = (model.model_id, self.db.execute("PRAGMA data_version").fetchone()[0],
                   self.db.total_changes)  # fmt: skip
        if self._sounds[0] != version:
            self._sounds = (version, self._find_sound_tags(model))
        return self._sounds[1]

    def _find_sound_tags(self, model: StoredModel) -> tuple[str, ...]:
        found = self.db.execute(
            "SELECT 1 FROM tracks WHERE model_id = ? AND missing = 0 AND sounds IS NOT NULL"
            " LIMIT 1", (model.model_id,)).fetchone()  # fmt: skip
        if found is None:
            return ()
        from cuefinder.model.musicnn_tags import SOUNDS, TAGS

        return TAGS[SOUNDS]

    def embeddings(self, model: StoredModel) -> tuple[np.ndarray, np.ndarray]:
        """(ids (n,), unit embeddings (n, dim)) of present tracks tagged by ``model``."""
        rows = self.db.execute(
            "SELECT id, embedding FROM tracks WHERE model_id = ? AND missing = 0 ORDER BY id",
            (model.model_id,),
        ).fetchall()
        with self._reading(f"a track row of model {model.model_id}"):
            blob = b"".join(r[1] for r in rows)
            if len(blob) != 4 * model.embedding_dim * len(rows):
                raise ValueError("its embedding does not have the model's size")
            vectors = np.frombuffer(blob, np.float32)
        return np.array([r[0] for r in rows], np.int64), vectors.reshape(-1, model.embedding_dim)

    def track(self, key: int | str) -> Track | None:
        """A track by id or path (exact, else a unique path suffix).

        Raises QueryError naming the candidates when a suffix matches several tracks. A
        name that is not UTF-8 (surrogate escapes, as the command line gets it) is looked
        up as the catalog shows it (``\\xNN``).
        """
        if isinstance(key, str):
            key = _as_shown(key)
        where, arg = ("id = ?", key) if isinstance(key, int) else ("path = ?", str(key))
        row = self.db.execute(f"SELECT {TRACK_COLUMNS} FROM tracks WHERE {where}", (arg,))
        row = row.fetchone()
        if row is None and isinstance(key, str):
            pattern = ("%" + _like_escape(key),)
            matches = self.db.execute(
                f"SELECT {TRACK_COLUMNS} FROM tracks WHERE path LIKE ? ESCAPE '\\' "
                "ORDER BY path LIMIT 2", pattern,
            ).fetchall()  # fmt: skip
            if len(matches) > 1:
                count = self.db.execute(
                    "SELECT count(*) FROM tracks WHERE path LIKE ? ESCAPE '\\'", pattern
                ).fetchone()[0]
                paths = [r[0] for r in self.db.execute(
                    "SELECT path FROM tracks WHERE path LIKE ? ESCAPE '\\' ORDER BY path "
                    "LIMIT 5", pattern)]  # fmt: skip
                more = f", ... ({count} in all)" if count > len(paths) else ""
                raise QueryError(f"'{key}' matches {count} tracks: {', '.join(paths)}{more}; "
                                 "give more of the path, or the track id")  # fmt: skip
            row = matches[0] if matches else None
        return self._track(row) if row else None

    def tracks(self, *, include_missing: bool = False) -> Iterator[Track]:
        sql = f"SELECT {TRACK_COLUMNS} FROM tracks"
        sql += ("" if include_missing else " WHERE missing = 0") + " ORDER BY path"
        for row in self.db.execute(sql):
            yield self._track(row)

    def _track(self, row: sqlite3.Row) -> Track:
        """A row as a Track; one CatalogError for a row whose arrays do not fit its model."""
        with self._reading(f"track {row['id']} ({row['path']})"):
            return track_from_row(row, self.model(row["model_id"]))

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """Stored arrays that do not fit their model (a damaged row): one line, not a
        traceback, naming the catalog and the way back."""
        try:
            yield
        except ValueError as err:
            raise CatalogError(f"{self.path}: {what} is damaged ({err}); run 'cuefinder "
                               "catalog check', then 'catalog repair'") from None  # fmt: skip

    def file_identity(self, track_id: int) -> tuple[int, float] | None:
        """(size, mtime) of a track's file when it was last indexed or seen unchanged."""
        row = self.db.execute("SELECT size, mtime FROM tracks WHERE id = ?", (track_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def content_hash(self, track_id: int) -> str | None:
        """The hash of a track's file content when it was indexed (None for an unknown id):
        what briefs and taught examples keep, and what serving the file checks against."""
        row = self.db.execute("SELECT content_hash FROM tracks WHERE id = ?", (track_id,))
        row = row.fetchone()
        return None if row is None else row[0]

    def present_track(self, content_hash: str, path: str) -> Track | None:
        """The present track with this content (the first by id), else the present one at
        ``path``: where a kept reference (a brief's entry) now points; None if neither."""
        row = self.db.execute(
            "SELECT id FROM tracks WHERE content_hash = ? AND missing = 0 ORDER BY id LIMIT 1",
            (content_hash,),
        ).fetchone()
        if row is None:
            row = self.db.execute(
                "SELECT id FROM tracks WHERE path = ? AND missing = 0", (path,)
            ).fetchone()
        return self.track(row[0]) if row else None

    def file_path(self, track_id: int) -> str | None:
        """The file-system name of a track's file (its stored bytes when the name is not
        UTF-8), or None for an unknown id."""
        row = self.db.execute(
            "SELECT path, path_bytes FROM tracks WHERE id = ?", (track_id,)
        ).fetchone()
        if row is None:
            return None
        return os.fsdecode(row["path_bytes"]) if row["path_bytes"] is not None else row["path"]


def _as_shown(text: str) -> str:
    """A path as the catalog stores it (``stages.display_path``): bytes that are not UTF-8
    as ``\\xNN``, any other lone surrogate as ``\\uNNNN``; SQLite takes only UTF-8."""
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
