"""One error shape for every failure the server answers with.

``{"error": {"status": 422, "message": "...", "field": "q"}}``: ``field`` names
the request parameter at fault (null when none is), ``vocabulary`` is added when
a query named an unknown genre. Library errors (cuefinder.errors) are mapped
to statuses here, in one place; anything unexpected is logged with its traceback
and answered with a bare 500 (``CatchAll``), never the traceback itself.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from cuefinder.errors import CatalogError, CuefinderError, DecodeError, QueryError

log = logging.getLogger("cuefinder.serve")

REASONS = {
    400: "bad request",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    413: "content too large",
    415: "unsupported media type",
    416: "range not satisfiable",
    422: "unprocessable content",
    500: "internal server error",
    503: "service unavailable",
}


class ApiError(Exception):
    """An error the API answers with: status, a message a person can act on, the field."""

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        vocabulary: list[str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.headers, self.vocabulary = headers or {}, vocabulary

    @classmethod
    def from_library(cls, err: CuefinderError, field: str | None = None) -> ApiError:
        """Map a library error to a status; a QueryError carries its vocabulary."""
        if isinstance(err, QueryError):
            return cls(422, str(err), field, vocabulary=err.vocabulary or None)
        if isinstance(err, DecodeError):
            return cls(422, str(err), field)
        if isinstance(err, CatalogError):
            return cls(503, str(err))
        return cls(400, str(err), field)


def body(status: int, message: str, field: str | None = None, **extra) -> dict:
    return {"error": {"status": status, "message": message, "field": field, **extra}}


def response(err: ApiError) -> JSONResponse:
    extra = {"vocabulary": err.vocabulary} if err.vocabulary else {}
    return JSONResponse(
        body(err.status, err.message, err.field, **extra), err.status, headers=err.headers
    )


def install(app: FastAPI) -> None:
    """Route every failure, FastAPI's and Starlette's included, through the one shape."""

    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return response(exc)

    async def library_error(request: Request, exc: CuefinderError) -> JSONResponse:
        return response(ApiError.from_library(exc))

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404 and exc.detail in (None, "Not Found"):
            message = f"no such endpoint: {request.method} {request.url.path} (see /api/docs)"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail or REASONS.get(exc.status_code, "error"))
        field = getattr(exc, "field", None)
        return response(ApiError(exc.status_code, message, field, headers=dict(exc.headers or {})))

    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return response(_validation(exc))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(CuefinderError, library_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def _validation(exc: RequestValidationError) -> ApiError:
    """The first validation problem, worded as '<field>: <what is wrong> (got <value>)'."""
    first = exc.errors()[0]
    loc = [str(part) for part in first.get("loc", ())]
    if loc and loc[0] in ("query", "path", "body", "header", "cookie"):
        loc = loc[1:]  # where the parameter was sent, not its name
    field = ".".join(loc) or None
    message = first.get("msg", "invalid value")
    if first.get("type") == "missing":
        message = "required"
    got = first.get("input")
    if isinstance(got, str | int | float) and first.get("type") != "missing":
        message += f" (got {str(got)[:60]!r})"
    return ApiError(422, f"{field}: {message}" if field else message, field)


class CatchAll:
    """The outermost middleware: an unexpected exception is logged with its traceback and
    answered with a bare 500 in the one shape (the connection stays usable)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watched(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            if started:  # too late for a clean answer: let the server drop the connection
                raise
            failure = ApiError(500, "internal error: the server log has the details")
            await response(failure)(scope, receive, send)
