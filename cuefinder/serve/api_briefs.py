"""The JSON API's briefs: named shortlists kept in the catalog, their entries with in and
out points and notes, and their export for the edit (``find.cuesheet``)."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from cuefinder.errors import QueryError
from cuefinder.serve.api import (
    ERRORS,
    ServerDep,
    check_tracks,
)
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
)

router = APIRouter(prefix="/api")


# -- briefs --------------------------------------------------------------------------------

BriefId = Annotated[int, Path(ge=1, le=MAX_ID, description="the brief's id")]
EntryId = Annotated[int, Path(ge=1, le=MAX_ID, description="the entry's id (in its brief)")]
ExportFormat = Literal[
    "csv", "edl", "fcpxml", "xml", "otio", "m3u", "xspf", "markers", "markers-xml"
]  # cuesheet's
_RATES = (
    "timecode rate: 23.976, 24, 25, 29.97 (drop frame), 29.97ndf, 30, 48, 50, 59.94 "
    "(drop frame), 59.94ndf, 60"
)
_START = (
    "marker lists only: the timeline's first timecode, HH:MM:SS:FF (default 01:00:00:00 for "
    "markers, Resolve's default start; 00:00:00:00 for markers-xml, Premiere's)"
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
    check_tracks(catalog, [request.track], "track")
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
              "m3u or xspf (playlists of this server's audio URLs), markers (a marker list: "
              "Resolve's timeline-marker EDL), markers-xml (a marker list: a Final Cut Pro 7 "
              "XML sequence of markers, for Premiere)"),
    ] = "csv",
    fps: Annotated[str, Query(max_length=10, description=_RATES)] = "25",
    start_tc: Annotated[str | None, Query(max_length=11, description=_START)] = None,
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

    found = briefs.results(catalog, held)
    try:
        text = cuesheet.render(
            found, format_, fps=rate, query=held.name, urls=urls(found), start=start_tc
        )
    except QueryError as err:
        raise ApiError(422, str(err).replace("--start-tc", "start_tc"), "start_tc") from None
    data = text.encode("utf-8")
    suffix = cuesheet.SUFFIXES[format_]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", held.name).strip("-.") or f"brief-{held.id}"
    disposition = (f'attachment; filename="{stem}{suffix}"; '
                   f"filename*=UTF-8''{quote(held.name, safe='')}{suffix}")  # fmt: skip
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
