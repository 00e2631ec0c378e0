"""The JSON shapes of the HTTP API (for the OpenAPI schema and the tests that check it).

A search result is exactly ``cuefinder search --json``'s item plus ``url`` (the
track's detail) and ``audio_url`` (its stream).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id names nothing (422, not a crash)
TrackIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(max_length=1000)]


class ErrorDetail(BaseModel):
    status: int
    message: str = Field(description="what went wrong, worded so a person can act on it")
    field: str | None = Field(description="the request parameter at fault, if one is")
    vocabulary: list[str] | None = Field(None, description="the genres, when a query named none")


class ErrorBody(BaseModel):
    error: ErrorDetail


class Segment(BaseModel):
    start: float
    end: float


class SearchResult(BaseModel):
    id: int
    path: str
    score: float
    genres: dict[str, float] = Field(description="each query genre's signed contribution")
    probabilities: dict[str, float] = Field(description="the model's track-level probability")
    segment: Segment = Field(description="the best-fitting window, seconds")
    duration: float
    title: str | None
    artist: str | None
    album: str | None
    fit: float | None = Field(
        None,
        description="calibrated probability (on games the model never heard) that the "
        "track suits the query's wanted genres; null without calibration or for sounds-like",
    )
    fit_level: str | None = Field(None, description='"strong" (>= 0.5), "some" (>= 0.25), "weak"')
    tempo: float | None = Field(None, description="beats per minute; null where unclear")
    key: str | None = Field(None, description='e.g. "A minor"; null where no key is clear')
    key_strength: float | None = Field(None, description="correlation with that key's profile")
    loudness: float | None = Field(None, description="LUFS, integrated (EBU R128)")
    tempo_confidence: float | None = Field(
        None,
        description="0-1: how periodic the onsets are at that tempo (low: read the "
        "tempo as a guess)",
    )
    energy: float | None = Field(
        None,
        description="mean onset strength: spectral activity, independent of level "
        "(energy:high keeps the catalog's top third)",
    )
    corrected: dict[str, float] | None = Field(
        None,
        description="how far this catalog's corrections (a genre taught through /api/tags) "
        "moved the track's probability, per query genre; absent when they did not",
    )
    url: str
    audio_url: str


class QueryTerm(BaseModel):
    genre: str
    weight: float
    exclude: bool


class QueryName(BaseModel):
    field: str = Field(description="title, artist, album, file, or name (any of the four)")
    words: str = Field(description="every word must be in that field")


class ParsedQuery(BaseModel):
    text: str = Field(description="the query as sent")
    canonical: str = Field(description="the same query in plain form: 'Romance:1 -Action:1'")
    terms: list[QueryTerm]
    names: list[QueryName] = Field(
        default_factory=list,
        description="name words: artist:maxstack, or a plain word that names no genre but "
        "some track's title, artist, album or file name",
    )


class SearchResponse(BaseModel):
    query: ParsedQuery
    results: list[SearchResult]
    warnings: list[str] = Field(
        default_factory=list,
        description="one line per genre of the query whose ranking is a hint at best (too "
        "few training games, or near-chance ROC-AUC on games the model never heard)",
    )


class Interpretation(BaseModel):
    text: str = Field(description="how the text was read, e.g. 'Thriller 0.6, Action 0.4'")
    weights: dict[str, float] = Field(description="genre -> weight, strongest first")
    tags: dict[str, float] = Field(description="music tag -> weight (when the model has tags)")


class TextSearchResponse(SearchResponse):
    interpretation: Interpretation


class Reference(BaseModel):
    id: int | None = None
    path: str | None = None
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    file: str | None = Field(None, description="the uploaded file's name")
    start: float | None
    end: float | None
    also: list[int] | None = Field(None, description="the other reference tracks, when given")
    not_: list[int] | None = Field(
        None, alias="not", description="the tracks moved away from, when given"
    )


class SimilarResponse(BaseModel):
    reference: Reference
    results: list[SearchResult] = Field(
        description="score: cosine similarity; genres: the result's probability on the "
        "reference's strongest genres; segment: the window closest to the reference"
    )


class Timeline(BaseModel):
    segment_seconds: float
    genres: list[str] = Field(description="the columns of each row of scores")
    scores: list[list[float]] = Field(description="(segments, genres) probabilities")


class EnergyCurve(BaseModel):
    seconds: float = Field(description="each value covers this much of the track")
    values: list[float] = Field(description="mean onset strength per window")


class Waveform(BaseModel):
    seconds: float = Field(description="each peak covers this much of the track")
    peaks: list[float] = Field(description="peak |amplitude| per stretch, 0 to 1 of full scale")


class TrackDetail(BaseModel):
    id: int
    path: str
    duration: float
    title: str | None
    artist: str | None
    album: str | None
    model: str
    missing: bool
    genres: dict[str, float] = Field(description="track-level score per genre")
    tags: dict[str, float] = Field(description="pretrained music tags, when the model has them")
    timeline: Timeline
    audio_url: str
    descriptors: dict[str, float | str | None] = Field(
        default_factory=dict,
        description="tempo, tempo_confidence, key, key_strength, "
        "loudness, energy (null where unknown)",
    )
    energy_curve: EnergyCurve | None = Field(None, description="null until indexed with it")
    waveform: Waveform | None = Field(None, description="null until indexed with it")
    sounds: dict[str, float] = Field(
        default_factory=dict,
        description="musicnn's instrument, voice and mood tags "
        "(MagnaTagATune), probabilities; empty until indexed with them",
    )


class GenreEntry(BaseModel):
    genre: str
    synonyms: list[str]


class Vocabulary(BaseModel):
    model: str | None
    genres: list[GenreEntry]
    softeners: dict[str, float] = Field(description="words that scale the next genre's weight")
    negators: list[str] = Field(description="words that exclude the next genre")
    tags: list[str] = Field(
        default_factory=list,
        description="the catalog's own taught tags (/api/tags): query words too, e.g. '#name'",
    )


class ModelInfo(BaseModel):
    id: str
    name: str
    genres: list[str]


class Failure(BaseModel):
    path: str
    reason: str


class IndexStatus(BaseModel):
    state: str = Field(description="idle, running, finished or failed")
    path: str | None
    started_at: float | None
    finished_at: float | None
    to_analyse: int
    processed: int
    indexed: int
    unchanged: int
    missing: int
    failed: list[Failure]
    error: str | None
    roots: list[str] = Field(description="folders that may be indexed from the web")


class Status(BaseModel):
    catalog: str
    tracks: int
    missing: int
    model: ModelInfo | None
    failures: int = Field(description="files that could not be indexed")
    failed: list[Failure] = Field(description="the first 50 of them, by path")
    indexing: IndexStatus


class IndexRequest(BaseModel):
    path: str = Field(description="absolute path of a folder inside one of the index roots")


class TagInfo(BaseModel):
    name: str = Field(description="as stored (a genre's own spelling for a correction)")
    kind: str = Field(description='"tag" (the catalog\'s own) or "correction" (of a genre)')
    positives: int = Field(description="example tracks that are it")
    negatives: int = Field(description="example tracks that are not it")
    absent: int = Field(description="examples whose track is not in the catalog now")
    method: str | None = Field(description="how its scorer was learned for the active model")
    calibrated: bool = Field(description="whether its scores are calibrated probabilities")
    self_check: float | None = Field(
        description="cross-validated ROC-AUC of its examples against the catalog (null with "
        "too few examples)"
    )


class TagRequest(BaseModel):
    """Examples to add to (or remove from) a tag; a model genre's name records corrections."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    add: TrackIds = Field(default_factory=list, description="ids of tracks that are the tag")
    not_: TrackIds = Field(
        default_factory=list, alias="not", description="ids of tracks that are not the tag"
    )
    remove: TrackIds = Field(default_factory=list, description="ids whose examples to forget")
    start: float | None = Field(None, ge=0, description="the added examples start here, seconds")
    end: float | None = Field(None, gt=0, description="the added examples end here, seconds")


class RefineRequest(BaseModel):
    """Re-rank the catalog from tracks kept and rejected (beside a genre query, if given)."""

    model_config = ConfigDict(extra="forbid")

    kept: TrackIds = Field(
        default_factory=list, description="ids of the tracks to find more like (at least one)"
    )
    rejected: TrackIds = Field(default_factory=list, description="ids to move away from")
    q: str | None = Field(None, max_length=500, description="a genre query to rank beside")
    limit: int = Field(10, ge=1, le=500, description="most results to return")
    min_duration: float | None = Field(None, ge=0, description="shortest track, seconds")
    max_duration: float | None = Field(None, ge=0, description="longest track, seconds")
    length: float | None = Field(
        None, gt=0, le=86400, description="a cue of this length, seconds (as /api/search)"
    )


# -- briefs: named shortlists kept in the catalog ------------------------------------------

BriefName = Annotated[str, Field(min_length=1, max_length=100, description="unique, any case")]
Note = Annotated[str, Field(max_length=2000)]


class Brief(BaseModel):
    id: int
    name: str
    note: str
    created_at: float = Field(description="seconds since the epoch")
    updated_at: float = Field(description="the last change to it or its entries")
    count: int = Field(description="how many entries it holds")
    url: str = Field(description="its read-only page on this server, e.g. /briefs/3")


class BriefEntry(BaseModel):
    id: int
    position: int = Field(description="1-based place in the brief")
    path: str = Field(description="the track's file now (where it was when added, if gone)")
    start: float | None = Field(description="in point, seconds (null: the start)")
    end: float | None = Field(description="out point, seconds (null: the end)")
    note: str
    added_by: str
    added_at: float = Field(description="seconds since the epoch")
    track_id: int | None = Field(description="the catalog track it points at now; null if gone")
    title: str | None
    artist: str | None
    duration: float | None
    url: str | None = Field(description="the track's detail; null when the track is gone")
    audio_url: str | None = Field(description="the track's audio; null when the track is gone")


class BriefDetail(Brief):
    entries: list[BriefEntry] = Field(description="in the brief's order")


class BriefRequest(BaseModel):
    """A new brief."""

    model_config = ConfigDict(extra="forbid")

    name: BriefName
    note: Note = ""


class BriefChange(BaseModel):
    """Rename a brief, change its note, or put its entries in a new order (any of them)."""

    model_config = ConfigDict(extra="forbid")

    name: BriefName | None = None
    note: Note | None = None
    order: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        None, max_length=10000, description="every entry id of the brief, once, in the new order"
    )


class EntryRequest(BaseModel):
    """A track added to a brief, with in and out points (the whole track without them)."""

    model_config = ConfigDict(extra="forbid")

    track: int = Field(ge=1, le=MAX_ID, description="catalog track id")
    start: float | None = Field(None, ge=0, description="in point, seconds")
    end: float | None = Field(None, gt=0, description="out point, seconds")
    note: Note = ""
    by: str = Field("", max_length=100, description="who added it")


class EntryChange(BaseModel):
    """New in or out points (checked against the track) or a new note."""

    model_config = ConfigDict(extra="forbid")

    start: float | None = Field(None, ge=0, description="in point, seconds (null: the start)")
    end: float | None = Field(None, gt=0, description="out point, seconds (null: the end)")
    note: Note | None = None
