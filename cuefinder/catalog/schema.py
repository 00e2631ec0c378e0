"""The catalog's tables. ``PRAGMA user_version`` holds SCHEMA_VERSION."""

import sqlite3

SCHEMA_VERSION = 8

TAUGHT = """
CREATE TABLE taught (                 -- the library's own tags, and its corrections of genres
    name TEXT PRIMARY KEY,            -- as first written
    key TEXT NOT NULL UNIQUE,         -- the name as compared (catalog.examples.key)
    kind TEXT NOT NULL,               -- 'tag', or 'correction' (name is a model genre)
    created_at REAL NOT NULL
);
CREATE TABLE examples (               -- what was taught: a track (or part of it) is / is not
    tag TEXT NOT NULL REFERENCES taught(name) ON DELETE CASCADE ON UPDATE CASCADE,
    content_hash TEXT NOT NULL,       -- the track by content: a moved file keeps its examples
    path TEXT NOT NULL,               -- where the file was when taught (for people)
    positive INTEGER NOT NULL,        -- 1: is NAME, 0: is not
    start REAL NOT NULL DEFAULT 0,    -- the part of the track, seconds (0, 0: all of it)
    stop REAL NOT NULL DEFAULT 0,
    added_at REAL NOT NULL,
    PRIMARY KEY (tag, content_hash, start, stop)
);
CREATE TABLE scorers (                -- each tag learned for a model from its examples
    tag TEXT NOT NULL REFERENCES taught(name) ON DELETE CASCADE ON UPDATE CASCADE,
    model_id TEXT NOT NULL,
    examples TEXT NOT NULL,           -- fingerprint of the examples it was learned from
    weights BLOB NOT NULL,            -- float32: the scorer's parameters (find.taught)
    meta TEXT NOT NULL,               -- JSON: method, bias, calibration, counts, self-check
    learned_at REAL NOT NULL,
    PRIMARY KEY (tag, model_id)
)
"""

BRIEFS = """
CREATE TABLE briefs (                 -- named shortlists (catalog/briefs.py)
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE UNIQUE INDEX briefs_by_name ON briefs(lower(name));
CREATE TABLE brief_entries (
    id INTEGER PRIMARY KEY,
    brief_id INTEGER NOT NULL REFERENCES briefs(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,        -- 1-based order in the brief
    content_hash TEXT NOT NULL,       -- the track by content: a moved file stays in the brief
    path TEXT NOT NULL,               -- where the file was when added
    start REAL,                       -- in point, seconds (NULL: the start)
    stop REAL,                        -- out point, seconds (NULL: the end)
    note TEXT NOT NULL DEFAULT '',
    added_by TEXT NOT NULL DEFAULT '',
    added_at REAL NOT NULL
)
"""

# ``meta.search_version`` counts changes to what search reads (tracks, models, what was
# taught), not to briefs or failures: a server keys its score table and result cache on it,
# so editing a brief keeps them (``serve/state.py``).
SEARCH_VERSION = "".join(
    f"CREATE TRIGGER IF NOT EXISTS search_version_{table}_{event.lower()} AFTER {event}"
    f" ON {table} BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1"
    " WHERE key = 'search_version'; END;\n"
    for table in ("tracks", "models", "taught", "examples", "scorers")
    for event in ("INSERT", "UPDATE", "DELETE")
)
SEARCH_VERSION += "INSERT OR IGNORE INTO meta(key, value) VALUES ('search_version', '0');\n"

SCHEMA = (
    """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE models (
    id TEXT PRIMARY KEY,              -- first 16 hex digits of the weights' SHA-256
    name TEXT NOT NULL,
    genres TEXT NOT NULL,             -- JSON list: the columns of every score array
    embedding_dim INTEGER NOT NULL,
    config TEXT NOT NULL,             -- JSON ModelConfig
    added_at REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'   -- JSON list: columns of tag_scores (pretrained tags)
);
CREATE TABLE tracks (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,        -- absolute, undecodable name bytes shown as \\xNN
    path_bytes BLOB,                  -- the file-system name, when path is not it
    content_hash TEXT NOT NULL,       -- BLAKE2b-128 of the file
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    duration REAL NOT NULL,           -- seconds of decoded audio
    title TEXT,
    artist TEXT,
    album TEXT,
    missing INTEGER NOT NULL DEFAULT 0,  -- 1 when the file vanished from an indexed folder
    model_id TEXT NOT NULL REFERENCES models(id),
    segment_seconds REAL NOT NULL,
    track_scores BLOB NOT NULL,       -- float32 (genres,)
    segment_scores BLOB NOT NULL,     -- float16 (segments, genres)
    embedding BLOB NOT NULL,          -- float32 (embedding_dim,), unit length
    indexed_at REAL NOT NULL,
    segment_embeddings BLOB,          -- float16 (segments, embedding_dim), each unit length
    tag_scores BLOB,                  -- float32 (tags,) when the model has pretrained tags
    genre_scores TEXT,                -- JSON {genre: score}: track_scores for SQL readers
    tempo REAL,                       -- beats per minute (descriptors.py), NULL if unknown
    key TEXT,                         -- e.g. 'A minor', NULL when no key is clear
    key_strength REAL,                -- correlation with that key's profile
    loudness REAL,                    -- LUFS, integrated (EBU R128, descriptors.py)
    tempo_confidence REAL,            -- 0-1: how periodic the onsets are at that tempo
    energy REAL,                      -- mean onset strength: spectral activity
    energy_curve BLOB,                -- float16, the same per 3 s (descriptors.CURVE_SECONDS)
    sounds BLOB,                      -- float32, musicnn's MagnaTagATune tags (musicnn_tags)
    waveform BLOB,                    -- uint8 peaks (0-255 of full scale) over the track
    sound_embedding BLOB              -- float32, musicnn's penultimate layer (descriptors.py)
);
CREATE INDEX tracks_by_model ON tracks(model_id, missing);
CREATE INDEX tracks_by_hash ON tracks(content_hash);
CREATE TABLE failures (
    path TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    size INTEGER,
    mtime REAL,
    at REAL NOT NULL
);
"""
    + TAUGHT
    + ";"
    + BRIEFS
    + ";\n"
    + SEARCH_VERSION
)

# Each step takes the catalog from version (index + 1) to (index + 2), in one transaction.
MIGRATIONS = [
    """
    ALTER TABLE models ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE tracks ADD COLUMN segment_embeddings BLOB;
    ALTER TABLE tracks ADD COLUMN tag_scores BLOB;
    """,
    """
    ALTER TABLE tracks ADD COLUMN genre_scores TEXT;
    """,
    TAUGHT + ";",
    """
    ALTER TABLE tracks ADD COLUMN tempo REAL;
    ALTER TABLE tracks ADD COLUMN key TEXT;
    ALTER TABLE tracks ADD COLUMN key_strength REAL;
    ALTER TABLE tracks ADD COLUMN loudness REAL;
    """,
    BRIEFS + ";",
    """
    ALTER TABLE tracks ADD COLUMN tempo_confidence REAL;
    ALTER TABLE tracks ADD COLUMN energy REAL;
    ALTER TABLE tracks ADD COLUMN energy_curve BLOB;
    ALTER TABLE tracks ADD COLUMN sounds BLOB;
    ALTER TABLE tracks ADD COLUMN waveform BLOB;
    """,
    """
    ALTER TABLE tracks ADD COLUMN sound_embedding BLOB;
    """
    + SEARCH_VERSION,
]


def upgrade(version: int):
    """The SQL statements that take a catalog from ``version`` (0: none) to SCHEMA_VERSION."""
    return statements(SCHEMA if version == 0 else "".join(MIGRATIONS[version - 1 :]))


def statements(script: str):
    """The SQL statements of a script, one by one (a trigger's body kept whole)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip():
        yield pending


# The view SQL readers (datasette, DuckDB, sqlite3) filter on: one column per genre of the
# active model, e.g. SELECT path FROM track_genres WHERE Horror > 0.5 ORDER BY Horror DESC.
# Made again whenever the active model changes (``Catalog.add_model``).
GENRE_VIEW = "track_genres"


def genre_view(model_id: str, genres) -> str:
    """CREATE VIEW statement of ``GENRE_VIEW`` for a model's genres."""

    def quoted(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def text(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    columns = "".join(
        f",\n    json_extract(genre_scores, {text('$.' + quoted(g))}) AS {quoted(g)}"
        for g in genres
    )
    return (
        f"CREATE VIEW {GENRE_VIEW} AS SELECT id, path, title, artist, album, duration, tempo,"
        " tempo_confidence, key, loudness, energy"
        f"{columns}\nFROM tracks WHERE missing = 0 AND model_id = {text(model_id)}"
    )
