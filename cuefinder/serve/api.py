"""The JSON API: search, tracks and their audio, status and indexing, the vocabulary, and
what its other parts share (the server, parameter types, results as JSON, checks).

Teaching the catalog is in ``api_teach``, briefs in ``api_briefs``; ``app`` mounts all three.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import Field

from cuefinder.errors import DecodeError, QueryError
from cuefinder.find.caveats import query_warnings
from cuefinder.serve import media, uploads
from cuefinder.serve.errors import ApiError
from cuefinder.serve.schemas import (
    MAX_ID,
    ErrorBody,
    IndexRequest,
    IndexStatus,
    SearchResponse,
    SimilarResponse,
    Status,
    TextSearchResponse,
    TrackDetail,
    Vocabulary,
)
from cuefinder.serve.state import Server

router = APIRouter(prefix="/api")
ERRORS = {code: {"model": ErrorBody} for code in (404, 422, 503)}


def _server(request: Request) -> Server:
    return request.app.state.server


ServerDep = Annotated[Server, Depends(_server)]
TrackId = Annotated[int, Path(ge=1, le=MAX_ID, description="catalog track id")]
Limit = Annotated[int, Query(ge=1, le=500, description="most results to return")]
MinDuration = Annotated[float | None, Query(ge=0, description="shortest track, seconds")]
MaxDuration = Annotated[float | None, Query(ge=0, description="longest track, seconds")]
Start = Annotated[float | None, Query(ge=0, description="use the reference from here, seconds")]
End = Annotated[float | None, Query(gt=0, description="use the reference up to here, seconds")]
Length = Annotated[
    float | None,
    Query(gt=0, le=86400, description="a cue of this length, seconds: each result's window is "
          "its best part that long, and shorter tracks are left out"),
]  # fmt: skip
ManyIds = Annotated[
    list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None,
    Query(description="catalog track ids (repeat the parameter)"),
]


@router.get("/search", response_model=SearchResponse, responses=ERRORS)
def search(
    server: ServerDep,
    q: Annotated[str, Query(max_length=500, description="e.g. romance comedy -action horror:0.3")],
    limit: Limit = 10,
    min_duration: MinDuration = None,
    max_duration: MaxDuration = None,
    min_tempo: Annotated[float | None, Query(gt=0, le=1000, description="BPM")] = None,
    max_tempo: Annotated[float | None, Query(gt=0, le=1000, description="BPM")] = None,
    key: Annotated[str | None, Query(max_length=20, description='e.g. "A minor", Am')] = None,
    length: Length = None,
    energy: Annotated[
        Literal["low", "medium", "high"] | None,
        Query(description="a third of the catalog each, by energy (spectral activity)"),
    ] = None,
):
    """Rank the catalog's tracks for a genre query (the command line's query language),
    optionally only those in a tempo range or a key (tracks whose tempo or key is unknown
    are then left out)."""
    from cuefinder.descriptors import parse_key
    from cuefinder.find.rank import parse_in

    check_durations(min_duration, max_duration)
    if min_tempo is not None and max_tempo is not None and min_tempo > max_tempo:
        raise ApiError(422, "min_tempo must not exceed max_tempo", "min_tempo")
    try:
        key = parse_key(key) if key is not None else None
    except ValueError as err:
        raise ApiError(422, str(err), "key") from None
    tempo = None if min_tempo is None and max_tempo is None else (min_tempo, max_tempo)
    catalog = server.pool.catalog()
    model_of(catalog)  # an empty catalog is its own error
    try:
        query = parse_in(catalog, q)
    except QueryError as err:
        raise ApiError.from_library(err, "q") from None
    results = _ranked(server, query, limit, min_duration, max_duration, tempo, key, length,
                      energy)  # fmt: skip
    warnings = query_warnings(query, catalog, [r["fit"] for r in results])
    return JSONResponse({"query": query_json(q, query), "results": results, "warnings": warnings})


@router.get("/search/text", response_model=TextSearchResponse, responses=ERRORS)
def search_text(
    server: ServerDep,
    q: Annotated[str, Query(max_length=500, description="e.g. tense night chase in the rain")],
    limit: Limit = 10,
    min_duration: MinDuration = None,
    max_duration: MaxDuration = None,
    length: Length = None,
):
    """Read free text as genre weights, then rank as /api/search does."""
    from cuefinder.find.text import interpret

    check_durations(min_duration, max_duration)
    catalog = server.pool.catalog()
    model = model_of(catalog)
    try:
        reading = interpret(q, model.genres, tags_of(catalog, model))
    except QueryError as err:
        raise ApiError.from_library(err, "q") from None
    results = _ranked(server, reading.query, limit, min_duration, max_duration, length=length)
    interpretation = {"text": str(reading), "weights": reading.weights, "tags": reading.tags}
    return JSONResponse(
        {
            "query": query_json(q, reading.query),
            "interpretation": interpretation,
            "results": results,
            "warnings": query_warnings(reading.query, catalog, [r["fit"] for r in results]),
        }
    )


@router.get("/tracks/{track_id}/similar", response_model=SimilarResponse, responses=ERRORS)
def similar_to_track(
    server: ServerDep,
    track_id: TrackId,
    limit: Limit = 10,
    start: Start = None,
    end: End = None,
    min_duration: MinDuration = None,
    max_duration: MaxDuration = None,
    length: Length = None,
    also: ManyIds = None,
    not_: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None,
        Query(alias="not", description="track ids to move away from (repeat the parameter)"),
    ] = None,
):
    """Tracks that sound like a catalog track (or the part of it from start to end); with
    ``also``, like all of the tracks given; with ``not``, unlike those (left out too)."""
    reference = _track(server, track_id)
    check_part(start, end, reference.duration)
    catalog = server.pool.catalog()
    check_tracks(catalog, also or [], "also")
    check_tracks(catalog, not_ or [], "not")
    if also and (start is not None or end is not None):
        raise ApiError(422, "also: start and end choose a part of one reference track; "
                       "leave them out to compare several", "also")  # fmt: skip
    refs = [track_id, *also] if also else track_id
    results = _similar(server, refs, limit, start, end, min_duration, max_duration, "start",
                       not_=not_ or [], length=length)  # fmt: skip
    summary = {k: getattr(reference, k) for k in ("id", "path", "title", "artist", "album")}
    summary |= {"start": start, "end": end}
    summary |= {"also": also} if also else {}
    summary |= {"not": not_} if not_ else {}
    return JSONResponse({"reference": summary, "results": results_json(results)})


@router.post(
    "/similar/upload",
    response_model=SimilarResponse,
    responses={413: {"model": ErrorBody}, 415: {"model": ErrorBody}, **ERRORS},
)
def similar_to_upload(
    server: ServerDep,
    file: Annotated[UploadFile, File(description="an audio clip (mp3, ogg, flac, wav, ...)")],
    limit: Limit = 10,
    start: Start = None,
    end: End = None,
    min_duration: MinDuration = None,
    max_duration: MaxDuration = None,
    length: Length = None,
):
    """Tracks that sound like an uploaded audio clip (50 MB and 30 minutes at most)."""
    check_part(start, end, None)
    with uploads.saved(file) as path:
        try:
            results = _similar(server, path, limit, start, end, min_duration, max_duration, "file",
                               length=length, shown=file.filename)  # fmt: skip
        except DecodeError:
            raise ApiError(422, f"file: {file.filename!r} is not decodable audio", "file") from None
    reference = {"file": file.filename, "start": start, "end": end}
    return JSONResponse({"reference": reference, "results": results_json(results)})


@router.get("/tracks/{track_id}", response_model=TrackDetail, responses=ERRORS)
def track(server: ServerDep, track_id: TrackId):
    """A track's tags, genre profile, per-segment genre scores, descriptors and energy
    curve."""
    from cuefinder.descriptors import CURVE_SECONDS

    found = _track(server, track_id)
    return JSONResponse(
        {
            "id": found.id,
            "path": found.path,
            "duration": round(found.duration, 2),
            "title": found.title,
            "artist": found.artist,
            "album": found.album,
            "model": found.model_id,
            "missing": found.missing,
            "genres": found.genre_scores(),
            "tags": found.tag_profile() if hasattr(found, "tag_profile") else {},
            "timeline": {
                "segment_seconds": found.segment_seconds,
                "genres": list(found.genres),
                "scores": np.round(found.segment_scores, 3).tolist(),
            },
            "audio_url": f"/api/tracks/{found.id}/audio",
            "descriptors": found.descriptors(),
            "sounds": found.sound_profile(),
            "waveform": None if found.waveform is None else {
                "seconds": round(found.duration / len(found.waveform), 4),
                "peaks": np.round(found.waveform, 3).tolist()},
            "energy_curve": None if found.energy_curve is None else {
                "seconds": CURVE_SECONDS, "values": np.round(found.energy_curve, 3).tolist()},
        }
    )  # fmt: skip


@router.head("/tracks/{track_id}/audio", include_in_schema=False)  # as GET, no body
@router.get(
    "/tracks/{track_id}/audio",
    response_class=media.StreamingResponse,
    responses={
        200: {"content": {"audio/*": {}}, "description": "the whole file"},
        206: {"content": {"audio/*": {}}, "description": "the requested byte range"},
        403: {"model": ErrorBody},
        409: {"model": ErrorBody},
        416: {"model": ErrorBody},
        **ERRORS,
    },
)
def audio(server: ServerDep, track_id: TrackId, request: Request):
    """The track's audio file, with HTTP Range requests (seeking)."""
    catalog = server.pool.catalog()
    path = catalog.file_path(track_id)
    if path is None:
        raise ApiError(404, f"no track {track_id} in the catalog", "track_id")
    identity, indexed = catalog.file_identity(track_id), catalog.content_hash(track_id)
    opened = media.open_catalogued(path, track_id, identity, indexed)
    return media.file_response(opened, request.method, request.headers)


@router.get("/status", response_model=Status, responses=ERRORS)
def status(server: ServerDep):
    """Catalog counts, the active model, files that failed, and the indexing run."""
    catalog = server.pool.catalog()
    model = catalog.active_model()
    failures = catalog.failures()
    present = catalog.count()
    return {
        "catalog": str(server.pool.path),
        "tracks": present,
        "missing": catalog.count(include_missing=True) - present,
        "model": model and {"id": model.model_id, "name": model.name, "genres": model.genres},
        "failures": len(failures),
        "failed": [{"path": p, "reason": r} for p, r in failures[:50]],
        "indexing": server.indexer.status(),
    }


@router.post(
    "/index",
    status_code=202,
    response_model=IndexStatus,
    responses={403: {"model": ErrorBody}, 409: {"model": ErrorBody}, **ERRORS},
)
def start_index(server: ServerDep, request: IndexRequest):
    """Start indexing a folder (inside an --index-root) in the background; poll /api/status."""
    return server.indexer.start(request.path)


@router.get("/genres", response_model=Vocabulary)
def genres(server: ServerDep):
    """The search vocabulary: the active model's genres, their synonyms, and modifier words."""
    from cuefinder.find.grammar import NEGATORS, SOFTENERS, SYNONYMS
    from cuefinder.find.teach import names as taught_names

    catalog = server.pool.catalog()
    model = catalog.active_model()
    if model is not None:
        names = model.genres
    else:  # an empty catalog searches with the built-in model once indexed
        from cuefinder.model import checkpoint

        names = checkpoint.read_info(checkpoint.default_model_path()).genres
    return {
        "model": model.model_id if model else None,
        "genres": [{"genre": g, "synonyms": list(SYNONYMS.get(g, ()))} for g in names],
        "softeners": SOFTENERS,
        "negators": sorted(NEGATORS),
        "tags": list(taught_names(catalog)),
    }


def query_json(text: str, query) -> dict:
    terms = [{"genre": t.genre, "weight": t.weight, "exclude": t.exclude} for t in query.terms]
    names = [{"field": f, "words": v} for f, v in query.names]
    return {"text": text, "canonical": str(query), "terms": terms, "names": names}


def results_json(results) -> list[dict]:
    links = "/api/tracks/{}"
    return [
        r.to_dict() | {"url": links.format(r.id), "audio_url": links.format(r.id) + "/audio"}
        for r in results
    ]


def tags_of(catalog, model) -> tuple[str, ...]:
    """The query language's tags (``rank.query_tags``)."""
    from cuefinder.find.rank import query_tags

    return query_tags(catalog, model)


def check_tracks(catalog, ids, field: str) -> None:
    """422 naming the first id that is no present track of the catalog."""
    for track_id in ids:
        found = catalog.track(track_id) if track_id >= 1 else None
        if found is None or found.missing:
            raise ApiError(422, f"{field}: no track {track_id} in the catalog", field)


FLAGS = {"add": "add", "not": "not", "remove": "remove", "from": "start", "to": "end"}


def api_words(message: str) -> str:
    """The library's messages name the command line's options; here they are body fields."""
    return re.sub(r"(?<![^\s(])--(add|not|remove|from|to)\b", lambda m: FLAGS[m[1]], message)


def model_of(catalog):
    model = catalog.active_model()
    if model is None:
        raise ApiError(503, f"catalog {catalog.path} is empty: index a folder first")
    return model


def _track(server: Server, track_id: int):
    found = server.pool.catalog().track(track_id)
    if found is None:
        raise ApiError(404, f"no track {track_id} in the catalog", "track_id")
    return found


def _ranked(server: Server, query, limit, min_duration, max_duration, tempo=None,
            key=None, length=None, energy=None) -> list[dict]:  # fmt: skip
    """rank.search's results as JSON, from the cache while the catalog is unchanged."""
    from cuefinder.find.rank import search

    pool = server.pool
    cached = (query.terms, query.tempo, query.key, query.names, query.energy, limit,
              min_duration, max_duration, tempo, key, length, energy, pool.version())  # fmt: skip
    results = pool.results.get(cached)
    if results is None:
        catalog = pool.catalog()
        found = search(query, catalog, limit=limit, min_duration=min_duration,
                       max_duration=max_duration, tempo=tempo, key=key, length=length,
                       energy=energy)  # fmt: skip
        results = results_json(found)
        pool.results.put(cached, results)
    return results


def _similar(server: Server, reference, limit, start, end, min_duration, max_duration, field,
             not_=(), length=None, shown=None):  # fmt: skip
    from cuefinder.find.similar import similar

    check_durations(min_duration, max_duration)
    catalog = server.pool.catalog()
    index = server.pool.vector_index(model_of(catalog))
    try:
        return similar(reference, catalog, not_=list(not_), limit=limit, start=start, end=end,
                       index=index, min_duration=min_duration,
                       max_duration=max_duration, length=length)  # fmt: skip
    except QueryError as err:  # an upload is named as it was sent, not by its temporary file
        message = str(err) if shown is None else str(err).replace(str(reference), repr(shown))
        raise ApiError(422, f"{field}: {message}" if shown is not None else message,
                       field) from None  # fmt: skip


def check_part(start: float | None, end: float | None, duration: float | None) -> None:
    if start is not None and end is not None and end <= start:
        raise ApiError(422, f"end ({end:g} s) must be after start ({start:g} s)", "end")
    if start is not None and duration is not None and start >= duration:
        raise ApiError(
            422, f"start ({start:g} s) is past the end of the track ({duration:.1f} s)", "start"
        )


def check_durations(low: float | None, high: float | None) -> None:
    if low is not None and high is not None and high < low:
        raise ApiError(
            422, f"max_duration ({high:g}) is below min_duration ({low:g})", "max_duration"
        )
