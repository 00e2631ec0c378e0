"""What the catalog hands out: a model as stored, a track with its scores, embeddings and
descriptors, and the table of every track's scores that ranking reads (``db.Catalog``
makes them, and writes rows with the encoders at the end; nothing here touches the
database)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class StoredModel:
    model_id: str
    name: str
    genres: tuple[str, ...]
    embedding_dim: int
    tags: tuple[str, ...] = ()  # pretrained tags it also outputs (columns of tag_scores)


@dataclass
class Track:
    """One catalogued track with its scores (columns follow ``genres``)."""

    id: int
    path: str
    duration: float
    title: str | None
    artist: str | None
    album: str | None
    missing: bool
    model_id: str
    genres: tuple[str, ...]
    track_scores: np.ndarray  # (genres,)
    segment_seconds: float
    segment_scores: np.ndarray  # (segments, genres)
    embedding: np.ndarray  # (dim,)
    segment_embeddings: np.ndarray  # (segments, dim), unit rows; (0, dim) if not stored
    tags: tuple[str, ...] = ()
    tag_scores: np.ndarray | None = None  # (tags,) when the model has pretrained tags
    segment_tag_scores: np.ndarray | None = None  # (segments, tags) likewise
    tempo: float | None = None  # descriptors (None until indexed by a version that has them)
    key: str | None = None
    key_strength: float | None = None
    loudness: float | None = None
    tempo_confidence: float | None = None
    energy: float | None = None
    energy_curve: np.ndarray | None = None  # (per 3 s,) mean onset strength
    sounds: np.ndarray | None = None  # (50,) musicnn's MagnaTagATune tags (musicnn_tags)
    waveform: np.ndarray | None = None  # (points,) peak |amplitude| 0-1 over the track
    sound_embedding: np.ndarray | None = None  # (descriptors.SOUND_DIM,) what musicnn hears

    def descriptors(self) -> dict:
        """Tempo (BPM, with its confidence), key, loudness (LUFS) and energy, rounded, as
        JSON shows them."""

        def rounded(value, places):
            return None if value is None else round(value, places)

        return {"tempo": rounded(self.tempo, 1),
                "tempo_confidence": rounded(self.tempo_confidence, 2), "key": self.key,
                "key_strength": rounded(self.key_strength, 3),
                "loudness": rounded(self.loudness, 1),
                "energy": rounded(self.energy, 3)}  # fmt: skip

    def sound_profile(self) -> dict[str, float]:
        """musicnn's instrument, voice and mood tags for this track, by name."""
        from cuefinder.model.musicnn_tags import SOUNDS, TAGS

        if self.sounds is None:
            return {}
        return {t: round(float(p), 4) for t, p in zip(TAGS[SOUNDS], self.sounds, strict=True)}

    def tag_profile(self) -> dict[str, float]:
        if self.tag_scores is None:
            return {}
        return {t: round(float(s), 4) for t, s in zip(self.tags, self.tag_scores)}

    def genre_scores(self) -> dict[str, float]:
        return {g: round(float(s), 4) for g, s in zip(self.genres, self.track_scores)}


@dataclass
class ScoreTable:
    """All present tracks of one model, as arrays for ranking.

    ``cache`` keeps statistics that every query needs (search puts them there), so a
    process that keeps its table (a server) ranks each query without re-sorting.
    """

    model: StoredModel
    ids: np.ndarray  # (n,) int64
    paths: list[str]
    durations: np.ndarray  # (n,)
    scores: np.ndarray  # (n, labels)
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # per-table statistics
    taught: tuple[str, ...] = ()  # the catalog's own tags, when search added their columns
    tempos: np.ndarray | None = None  # (n,) BPM, NaN where unknown
    keys: list | None = None  # (n,) e.g. "A minor", or None
    names: list | None = None  # (n,) (title, artist, album), each None when untagged
    energies: np.ndarray | None = None  # (n,) mean onset strength, NaN where unknown
    sounds: tuple[str, ...] = ()  # musicnn's tags as columns (models without tags of their own)

    @property
    def labels(self) -> tuple[str, ...]:
        """The columns of ``scores``: the model's genres, its pretrained tags, musicnn's
        sound tags (descriptors), then the catalog's own taught tags (``find.teach.extended``)."""
        return self.model.genres + self.model.tags + self.sounds + self.taught


# the tracks columns that track_from_row and score_table_from_rows read (the latter by place)
TRACK_COLUMNS = (
    "id, path, duration, title, artist, album, missing, model_id, track_scores,"
    " segment_seconds, segment_scores, embedding, segment_embeddings, tag_scores, tempo, key,"
    " key_strength, loudness, tempo_confidence, energy, energy_curve, sounds, waveform,"
    " sound_embedding"
)
SCORE_COLUMNS = (
    "id, path, duration, track_scores, tag_scores, tempo, key, title, artist, album, energy, sounds"
)


def track_from_row(row, model: StoredModel | None) -> Track:
    """A catalog row (``sqlite3.Row``) as a Track; ValueError when its arrays do not fit
    ``model`` (a damaged row)."""
    if model is None:
        raise ValueError(f"its model {row['model_id']} is not in the catalog")
    width = len(model.genres)
    if len(row["track_scores"]) != 4 * width or len(row["embedding"]) != 4 * model.embedding_dim:
        raise ValueError("its scores or embedding do not have the model's size")
    # segment scores hold the genre columns, then the pretrained tags' (if any)
    segments = np.frombuffer(row["segment_scores"], np.float16).astype(np.float32)
    segments = segments.reshape(-1, width + len(model.tags))
    return Track(
        id=row["id"],
        path=row["path"],
        duration=row["duration"],
        title=row["title"],
        artist=row["artist"],
        album=row["album"],
        missing=bool(row["missing"]),
        model_id=row["model_id"],
        genres=model.genres,
        track_scores=np.frombuffer(row["track_scores"], np.float32),
        segment_seconds=row["segment_seconds"],
        segment_scores=segments[:, :width],
        embedding=np.frombuffer(row["embedding"], np.float32),
        segment_embeddings=np.frombuffer(row["segment_embeddings"] or b"", np.float16)
        .astype(np.float32)
        .reshape(-1, model.embedding_dim),
        tags=model.tags,
        tag_scores=_array(row["tag_scores"], np.float32),
        segment_tag_scores=segments[:, width:] if model.tags else None,
        tempo=row["tempo"],
        key=row["key"],
        key_strength=row["key_strength"],
        loudness=row["loudness"],
        tempo_confidence=row["tempo_confidence"],
        energy=row["energy"],
        energy_curve=_array(row["energy_curve"], np.float16),
        sounds=_array(row["sounds"], np.float32),
        waveform=_array(row["waveform"], np.uint8, full_scale=255),
        sound_embedding=_array(row["sound_embedding"], np.float32),
    )


def score_table_from_rows(rows, model: StoredModel) -> ScoreTable:
    """Rows of SCORE_COLUMNS (``model``'s present tracks) as its ScoreTable; ValueError when
    their scores do not fit ``model`` (a damaged row)."""
    width = len(model.genres)
    blob = b"".join(r[3] for r in rows)
    if len(blob) != 4 * width * len(rows):  # one length, not a loop: asked per search
        raise ValueError("its scores do not have the model's size")
    scores = np.frombuffer(blob, np.float32).reshape(-1, width)
    if model.tags:
        blank = bytes(4 * len(model.tags))
        tags = np.frombuffer(b"".join(r[4] or blank for r in rows), np.float32)
        scores = np.concatenate([scores, tags.reshape(-1, len(model.tags))], axis=1)
    sounds: tuple[str, ...] = ()
    if not model.tags and any(r[11] is not None for r in rows):  # musicnn's, per track
        from cuefinder.model.musicnn_tags import SOUNDS, TAGS

        sounds = TAGS[SOUNDS]
        blank = bytes(4 * len(sounds))  # tracks indexed before: 0, the bottom of each
        heard = np.frombuffer(b"".join(r[11] or blank for r in rows), np.float32)
        scores = np.concatenate([scores, heard.reshape(-1, len(sounds))], axis=1)
    return ScoreTable(
        model,
        np.array([r[0] for r in rows], np.int64),
        [r[1] for r in rows],
        np.array([r[2] for r in rows], np.float64),
        scores,
        tempos=np.array([np.nan if r[5] is None else r[5] for r in rows], np.float64),
        keys=[r[6] for r in rows],
        names=[(r[7], r[8], r[9]) for r in rows],
        energies=np.array([np.nan if r[10] is None else r[10] for r in rows], np.float64),
        sounds=sounds,
    )


def _array(blob: bytes | None, dtype, full_scale: float = 1.0) -> np.ndarray | None:
    """A nullable column's array as float32 (divided by ``full_scale``), or None."""
    return None if blob is None else np.frombuffer(blob, dtype).astype(np.float32) / full_scale


# ---------------------------------------------------------------- writing rows


def descriptor_values(found) -> tuple:
    """(tempo, key, key_strength, loudness, tempo_confidence, energy, energy_curve, sounds,
    waveform, sound_embedding) of a descriptors.Descriptors, or NULLs."""
    if found is None:
        return (None,) * 10
    curve = found.energy_curve
    curve = None if curve is None else np.asarray(curve, np.float16).tobytes()
    sounds = None if found.sounds is None else np.asarray(found.sounds, np.float32).tobytes()
    heard = found.sound_embedding
    heard = None if heard is None else np.asarray(heard, np.float32).tobytes()
    return (found.tempo, found.key, found.key_strength, found.loudness,
            found.tempo_confidence, found.energy, curve, sounds, found.waveform, heard)  # fmt: skip


def segment_matrix(a) -> np.ndarray:
    """(segments, genres [+ tags]): what the segment_scores column stores."""
    if a.segment_tag_scores is None:
        return a.segment_scores
    return np.concatenate([a.segment_scores, a.segment_tag_scores], axis=1)


def mean_rows(values: np.ndarray) -> np.ndarray:
    return values.mean(axis=0) if len(values) else np.zeros(values.shape[1], values.dtype)


def scores_json(genres, scores) -> str:
    """Track scores as the JSON object SQL readers see (six decimals)."""
    return json.dumps({g: round(float(v), 6) for g, v in zip(genres, scores, strict=True)})
