"""The JSON API: search, tracks and their audio, status and indexing, the vocabulary,
teaching the catalog (its own tags, corrections of genres, refining from kept tracks), and
briefs (named shortlists kept in the catalog, exported for the edit)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Literal
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import Field

from cuefinder.errors import DecodeError, QueryError
from cuefinder.find.caveats import query_warnings
from cuefinder.serve import media, uploads
from cuefinder.serve.app import Server
from cuefinder.serve.errors import ApiError
from cuefinder.serve.schemas import (
    MAX_ID,
    Brief,
    BriefChange,
    BriefDetail,
    BriefEntry,
    BriefRequest,
    EntryChange,
    EntryRequest,
    ErrorBody,
    IndexRequest,
    IndexStatus,
    RefineRequest,
    SearchResponse,
    SimilarResponse,
    Status,
    TagInfo,
    TagRequest,
    TextSearchResponse,
    TrackDetail,
    Vocabulary,
)

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
TagName = Annotated[
    str,
    Path(min_length=1, max_length=100, description="the tag (a model genre's name corrects it)"),
]
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

    _check_durations(min_duration, max_duration)
    if min_tempo is not None and max_tempo is not None and min_tempo > max_tempo:
        raise ApiError(422, "min_tempo must not exceed max_tempo", "min_tempo")
    try:
        key = parse_key(key) if key is not None else None
    except ValueError as err:
        raise ApiError(422, str(err), "key") from None
    tempo = None if min_tempo is None and max_tempo is None else (min_tempo, max_tempo)
    catalog = server.pool.catalog()
    _model(catalog)  # an empty catalog is its own error
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

    _check_durations(min_duration, max_duration)
    catalog = server.pool.catalog()
    model = _model(catalog)
    try:
        reading = interpret(q, model.genres, _tags(catalog, model))
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
    _check_part(start, end, reference.duration)
    catalog = server.pool.catalog()
    _check_tracks(catalog, also or [], "also")
    _check_tracks(catalog, not_ or [], "not")
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
    _check_part(start, end, None)
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
    opened = media.open_catalogued(path, track_id, catalog.file_identity(track_id))
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


# -- teaching ------------------------------------------------------------------------------


@router.get("/tags", response_model=list[TagInfo], responses=ERRORS)
def tags(server: ServerDep):
    """The catalog's own tags and corrections of genres, with how each was learned."""
    from cuefinder.find.teach import taught_tags

    return JSONResponse([t.to_dict() for t in taught_tags(server.pool.catalog())])


@router.post("/tags/{name}", response_model=TagInfo, responses=ERRORS)
def teach_tag(server: ServerDep, name: TagName, request: TagRequest):
    """Teach a tag from example tracks (``add``: tracks that are it, ``not``: tracks that are
    not, ``remove``: forget those tracks' examples), learning its scorer; search it as
    ``#name``. A model genre's name records corrections of that genre instead."""
    from cuefinder.find.teach import teach

    catalog = server.pool.catalog()
    _model(catalog)
    for field, ids in (("add", request.add), ("not", request.not_), ("remove", request.remove)):
        _check_tracks(catalog, ids, field)
    if not (request.add or request.not_ or request.remove):
        raise ApiError(422, f"nothing to teach '{name}': give track ids in add, not or remove",
                       "add")  # fmt: skip
    _check_part(request.start, request.end, None)
    try:
        info = teach(name, catalog, add=request.add, not_=request.not_, remove=request.remove,
                     start=request.start, stop=request.end)  # fmt: skip
    except QueryError as err:
        raise ApiError(422, _api_words(str(err))) from None
    return JSONResponse(info.to_dict())


@router.delete(
    "/tags/{name}", status_code=204, response_class=Response, responses={404: {"model": ErrorBody}}
)
def forget_tag(server: ServerDep, name: TagName):
    """Forget a tag (or a genre's corrections) with all its examples."""
    from cuefinder.find.teach import forget

    try:
        forget(name, server.pool.catalog())
    except QueryError:
        raise ApiError(404, f"no tag '{name}' in the catalog", "name") from None
    return Response(status_code=204)


@router.post("/refine", response_model=SearchResponse, responses=ERRORS)
def refine(server: ServerDep, request: RefineRequest):
    """Re-rank the whole catalog from tracks kept and rejected (a scorer learned from them,
    not stored), alone or beside the genre query ``q`` at equal weight; rejected tracks are
    left out. Each result's ``genres`` has the learned part as "(kept)"."""
    from cuefinder.find import teach
    from cuefinder.find.grammar import GenreQuery, Term
    from cuefinder.find.rank import parse_in

    _check_durations(request.min_duration, request.max_duration)
    catalog = server.pool.catalog()
    _model(catalog)  # an empty catalog is its own error
    if not request.kept:
        raise ApiError(422, "kept: refine needs at least one kept track", "kept")
    _check_tracks(catalog, request.kept, "kept")
    _check_tracks(catalog, request.rejected, "rejected")
    both = sorted(set(request.kept) & set(request.rejected))
    if both:
        raise ApiError(422, f"rejected: track {both[0]} is kept too", "rejected")
    query = None
    if request.q and request.q.strip():
        try:
            query = parse_in(catalog, request.q)
        except QueryError as err:
            raise ApiError.from_library(err, "q") from None
    try:
        found = teach.refine(catalog, kept=request.kept, rejected=request.rejected, query=query,
                             limit=request.limit, min_duration=request.min_duration,
                             max_duration=request.max_duration,
                             length=request.length)  # fmt: skip
    except QueryError as err:
        raise ApiError.from_library(err) from None
    terms = list(query.terms) if query is not None else []
    weight = sum(t.weight for t in terms if not t.exclude) or 1.0  # as teach.refine ranks
    plan = GenreQuery((*terms, Term(teach.KEPT, weight)), names=query.names if query else ())
    results = results_json(found)
    fits = [r["fit"] for r in results]
    warnings = query_warnings(query, catalog, fits) if query is not None else []
    return JSONResponse(
        {"query": query_json(request.q or "", plan), "results": results, "warnings": warnings}
    )


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


def _tags(catalog, model) -> tuple[str, ...]:
    """The query language's tags (``rank.query_tags``)."""
    from cuefinder.find.rank import query_tags

    return query_tags(catalog, model)


def _check_tracks(catalog, ids, field: str) -> None:
    """422 naming the first id that is no present track of the catalog."""
    for track_id in ids:
        found = catalog.track(track_id) if track_id >= 1 else None
        if found is None or found.missing:
            raise ApiError(422, f"{field}: no track {track_id} in the catalog", field)


FLAGS = {"add": "add", "not": "not", "remove": "remove", "from": "start", "to": "end"}


def _api_words(message: str) -> str:
    """The library's messages name the command line's options; here they are body fields."""
    return re.sub(r"(?<![^\s(])--(add|not|remove|from|to)\b", lambda m: FLAGS[m[1]], message)


def _model(catalog):
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

    _check_durations(min_duration, max_duration)
    catalog = server.pool.catalog()
    index = server.pool.vector_index(_model(catalog))
    try:
        return similar(reference, catalog, not_=list(not_), limit=limit, start=start, end=end,
                       index=index, min_duration=min_duration,
                       max_duration=max_duration, length=length)  # fmt: skip
    except QueryError as err:  # an upload is named as it was sent, not by its temporary file
        message = str(err) if shown is None else str(err).replace(str(reference), repr(shown))
        raise ApiError(422, f"{field}: {message}" if shown is not None else message,
                       field) from None  # fmt: skip


def _check_part(start: float | None, end: float | None, duration: float | None) -> None:
    if start is not None and end is not None and end <= start:
        raise ApiError(422, f"end ({end:g} s) must be after start ({start:g} s)", "end")
    if start is not None and duration is not None and start >= duration:
        raise ApiError(
            422, f"start ({start:g} s) is past the end of the track ({duration:.1f} s)", "start"
        )


def _check_durations(low: float | None, high: float | None) -> None:
    if low is not None and high is not None and high < low:
        raise ApiError(
            422, f"max_duration ({high:g}) is below min_duration ({low:g})", "max_duration"
        )


# -- briefs --------------------------------------------------------------------------------

BriefId = Annotated[int, Path(ge=1, le=MAX_ID, description="the brief's id")]
EntryId = Annotated[int, Path(ge=1, le=MAX_ID, description="the entry's id (in its brief)")]
ExportFormat = Literal["csv", "edl", "fcpxml", "xml", "otio", "m3u", "xspf"]  # cuesheet's
_RATES = (
    "timecode rate: 23.976, 24, 25, 29.97 (drop frame), 29.97ndf, 30, 48, 50, 59.94 "
    "(drop frame), 59.94ndf, 60"
)
_EXPORT_TYPES = ("text/csv", "text/plain", "application/xml", "application/json",
                 "audio/x-mpegurl", "application/xspf+xml")  # fmt: skip


@router.get("/briefs", response_model=list[Brief], responses=ERRORS)
def list_briefs(server: ServerDep):
    """Every brief, the most recently changed first."""
    from cuefinder.catalog import briefs as store

    return JSONResponse([brief_json(b) for b in store.all_briefs(server.pool.catalog())])


@router.post("/briefs", status_code=201, response_model=BriefDetail, responses=ERRORS)
def create_brief(server: ServerDep, request: BriefRequest):
    """A new, empty brief (its name must not be another's, in any case)."""
    from cuefinder.catalog import briefs as store

    catalog = server.pool.catalog()
    try:
        made = store.create(catalog, request.name, request.note)
    except QueryError as err:
        raise ApiError(422, str(err), "name") from None
    return JSONResponse(brief_detail(catalog, made), status_code=201)


@router.get("/briefs/{brief_id}", response_model=BriefDetail, responses=ERRORS)
def get_brief(server: ServerDep, brief_id: BriefId):
    """A brief with its entries in order, each with the track it points at now."""
    catalog = server.pool.catalog()
    return JSONResponse(brief_detail(catalog, _brief(catalog, brief_id)))


@router.patch("/briefs/{brief_id}", response_model=BriefDetail, responses=ERRORS)
def change_brief(server: ServerDep, brief_id: BriefId, request: BriefChange):
    """Rename a brief, change its note, or reorder its entries (``order``: every entry id
    once); nothing changes when any part is refused."""
    from cuefinder.catalog import briefs as store

    catalog = server.pool.catalog()
    held = _brief(catalog, brief_id)
    try:  # one transaction: a refused part changes nothing
        store.update(catalog, held.id, name=request.name, note=request.note,
                     order=request.order)  # fmt: skip
    except QueryError as err:
        message = str(err)
        if message.startswith("order"):
            ids = message.rsplit(": ", 1)[-1]
            raise ApiError(422, f"order: list each of the brief's entries once: {ids}",
                           "order") from None  # fmt: skip
        raise ApiError(422, message, "name" if request.name is not None else "note") from None
    return JSONResponse(brief_detail(catalog, _brief(catalog, held.id)))


@router.delete(
    "/briefs/{brief_id}", status_code=204, response_class=Response, responses={404: ERRORS[404]}
)
def delete_brief(server: ServerDep, brief_id: BriefId):
    """Delete a brief and its entries (the tracks stay in the catalog)."""
    from cuefinder.catalog import briefs as store

    catalog = server.pool.catalog()
    store.delete(catalog, _brief(catalog, brief_id).id)
    return Response(status_code=204)


@router.post(
    "/briefs/{brief_id}/entries", status_code=201, response_model=BriefEntry, responses=ERRORS
)
def add_entry(server: ServerDep, brief_id: BriefId, request: EntryRequest):
    """Add a catalog track to the end of a brief, with in and out points and a note."""
    from cuefinder.find import briefs

    catalog = server.pool.catalog()
    held = _brief(catalog, brief_id)
    _check_tracks(catalog, [request.track], "track")
    try:
        entry = briefs.add(catalog, held.id, request.track, start=request.start,
                           stop=request.end, note=request.note, by=request.by)  # fmt: skip
    except QueryError as err:
        raise ApiError(422, str(err), _point_field(str(err))) from None
    return JSONResponse(entry_json(catalog, entry), status_code=201)


@router.patch("/briefs/{brief_id}/entries/{entry_id}", response_model=BriefEntry, responses=ERRORS)
def change_entry(server: ServerDep, brief_id: BriefId, entry_id: EntryId, request: EntryChange):
    """Move an entry's in or out point (checked against its track), or change its note; a
    point sent as null is taken away (from the start, or to the end, of the track)."""
    from cuefinder.find import briefs

    catalog = server.pool.catalog()
    held = _brief(catalog, brief_id)
    _entry(catalog, held, entry_id)
    given = request.model_fields_set  # a point sent as null is taken away
    clear = [p for f, p in (("start", "start"), ("end", "stop"))
             if f in given and getattr(request, f) is None]  # fmt: skip
    try:
        entry = briefs.set_points(catalog, held.id, entry_id, start=request.start,
                                  stop=request.end, note=request.note, clear=clear)  # fmt: skip
    except QueryError as err:
        raise ApiError(422, str(err), _point_field(str(err))) from None
    return JSONResponse(entry_json(catalog, entry))


@router.delete(
    "/briefs/{brief_id}/entries/{entry_id}",
    status_code=204,
    response_class=Response,
    responses={404: ERRORS[404]},
)
def remove_entry(server: ServerDep, brief_id: BriefId, entry_id: EntryId):
    """Take an entry out of a brief (the others close up)."""
    from cuefinder.catalog import briefs as store

    catalog = server.pool.catalog()
    held = _brief(catalog, brief_id)
    store.remove_entry(catalog, held.id, _entry(catalog, held, entry_id).id)
    return Response(status_code=204)


@router.get(
    "/briefs/{brief_id}/export",
    response_class=Response,
    responses={200: {"content": {t: {} for t in _EXPORT_TYPES}}, **ERRORS},
)
def export_brief(
    server: ServerDep,
    brief_id: BriefId,
    request: Request,
    format_: Annotated[
        ExportFormat,
        Query(alias="format", description="csv (timecode and notes), edl (CMX 3600), fcpxml "
              "(Final Cut Pro XML 1.10), xml (Final Cut Pro 7 XML: Premiere, Resolve), otio, "
              "m3u or xspf (playlists of this server's audio URLs)"),
    ] = "csv",
    fps: Annotated[str, Query(max_length=10, description=_RATES)] = "25",
):  # fmt: skip
    """The brief as a file for the edit: its entries' in/out windows back to back, with
    their notes (entries whose track is gone are left out)."""
    from cuefinder.find import briefs, cuesheet

    catalog = server.pool.catalog()
    held = _brief(catalog, brief_id)
    try:
        rate = cuesheet.rate(fps)
    except QueryError as err:
        raise ApiError(422, str(err).replace("--fps", "fps"), "fps") from None
    base = str(request.base_url).rstrip("/")

    def urls(found) -> dict[int, str]:  # playlists play from this server
        return {r.id: f"{base}/api/tracks/{r.id}/audio" for r in found}

    with tempfile.TemporaryDirectory(prefix="cuefinder-brief-") as folder:
        written = briefs.export(catalog, held.id, FilePath(folder) / f"brief.{format_}",
                                fps=rate, format=format_, urls=urls)  # fmt: skip
        data = written.read_bytes()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", held.name).strip("-.") or f"brief-{held.id}"
    disposition = (f'attachment; filename="{stem}.{format_}"; '
                   f"filename*=UTF-8''{quote(held.name, safe='')}.{format_}")  # fmt: skip
    return Response(data, media_type=cuesheet.MEDIA_TYPES[format_],
                    headers={"content-disposition": disposition})  # fmt: skip


def brief_json(brief) -> dict:
    fields = ("id", "name", "note", "created_at", "updated_at")
    return {k: getattr(brief, k) for k in fields} | {
        "count": brief.entries,
        "url": f"/briefs/{brief.id}",
    }


def brief_detail(catalog, brief) -> dict:
    from cuefinder.catalog import briefs as store

    entries = [entry_json(catalog, e) for e in store.entries(catalog, brief.id)]
    return brief_json(brief) | {"entries": entries}


def entry_json(catalog, entry) -> dict:
    """An entry with the track it points at now (nulls when that track is gone)."""
    from cuefinder.find.briefs import current_track

    track = current_track(catalog, entry)
    link = f"/api/tracks/{track.id}" if track else None
    return {
        "id": entry.id,
        "position": entry.position,
        "path": track.path if track else entry.path,
        "start": entry.start,
        "end": entry.stop,
        "note": entry.note,
        "added_by": entry.added_by,
        "added_at": entry.added_at,
        "track_id": track.id if track else None,
        "title": track.title if track else None,
        "artist": track.artist if track else None,
        "duration": round(track.duration, 2) if track else None,
        "url": link,
        "audio_url": link + "/audio" if link else None,
    }


def _brief(catalog, brief_id: int):
    from cuefinder.catalog import briefs as store

    try:
        return store.get(catalog, brief_id)
    except QueryError:
        raise ApiError(404, f"no brief {brief_id} in the catalog", "brief_id") from None


def _entry(catalog, brief, entry_id: int):
    from cuefinder.catalog import briefs as store

    found = next((e for e in store.entries(catalog, brief.id) if e.id == entry_id), None)
    if found is None:
        raise ApiError(404, f"brief '{brief.name}' has no entry {entry_id}", "entry_id")
    return found


def _point_field(message: str) -> str | None:
    """The body field a library message about in/out points is about."""
    if message.startswith("in point"):
        return "start"
    if message.startswith("out point"):
        return "end"
    return "note" if message.startswith("a note") else None
