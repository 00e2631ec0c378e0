"""The JSON API's teaching: the catalog's own tags, corrections of genres (a genre's name
as a tag), and refining a result list from the tracks kept and rejected."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse

from cuefinder.errors import QueryError
from cuefinder.find.caveats import query_warnings
from cuefinder.serve.api import (
    ERRORS,
    ServerDep,
    api_words,
    check_durations,
    check_part,
    check_tracks,
    model_of,
    query_json,
    results_json,
)
from cuefinder.serve.errors import ApiError
from cuefinder.serve.schemas import (
    ErrorBody,
    RefineRequest,
    SearchResponse,
    TagInfo,
    TagRequest,
)

router = APIRouter(prefix="/api")

TagName = Annotated[
    str,
    Path(min_length=1, max_length=100, description="the tag (a model genre's name corrects it)"),
]


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
    model_of(catalog)
    for field, ids in (("add", request.add), ("not", request.not_), ("remove", request.remove)):
        check_tracks(catalog, ids, field)
    if not (request.add or request.not_ or request.remove):
        raise ApiError(422, f"nothing to teach '{name}': give track ids in add, not or remove",
                       "add")  # fmt: skip
    check_part(request.start, request.end, None)
    try:
        info = teach(name, catalog, add=request.add, not_=request.not_, remove=request.remove,
                     start=request.start, stop=request.end)  # fmt: skip
    except QueryError as err:
        raise ApiError(422, api_words(str(err))) from None
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
    from cuefinder.find.rank import parse_in, refine

    check_durations(request.min_duration, request.max_duration)
    catalog = server.pool.catalog()
    model_of(catalog)  # an empty catalog is its own error
    if not request.kept:
        raise ApiError(422, "kept: refine needs at least one kept track", "kept")
    check_tracks(catalog, request.kept, "kept")
    check_tracks(catalog, request.rejected, "rejected")
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
        found = refine(catalog, kept=request.kept, rejected=request.rejected, query=query,
                       limit=request.limit, min_duration=request.min_duration,
                       max_duration=request.max_duration, length=request.length)  # fmt: skip
    except QueryError as err:
        raise ApiError.from_library(err) from None
    terms = list(query.terms) if query is not None else []
    weight = sum(t.weight for t in terms if not t.exclude) or 1.0  # as rank.refine ranks
    plan = GenreQuery((*terms, Term(teach.KEPT, weight)), names=query.names if query else ())
    results = results_json(found)
    fits = [r["fit"] for r in results]
    warnings = query_warnings(query, catalog, fits) if query is not None else []
    return JSONResponse(
        {"query": query_json(request.q or "", plan), "results": results, "warnings": warnings}
    )
