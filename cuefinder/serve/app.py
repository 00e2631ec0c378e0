"""The web server: ``create_app(catalog_path)`` builds the FastAPI app; ``run`` serves it.

The page (``static/``) and scripts use the same JSON API under ``/api``; its
OpenAPI schema is at ``/api/openapi.json`` and browsable at ``/api/docs``, with Swagger
UI served from the files installed with ``swagger-ui-bundle-v2`` (no request leaves the
machine).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from cuefinder.serve import api, api_briefs, api_teach, errors
from cuefinder.serve.jobs import Indexer
from cuefinder.serve.state import MAX_UPLOAD_BYTES, CatalogPool, Server

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 64 * 1024  # any other request body (JSON)
UPLOAD_PATHS = ("/api/similar/upload",)
LOOPBACK = ("127.0.0.1", "localhost", "::1")  # the Host names a server on loopback answers


def create_app(
    catalog_path: str | os.PathLike,
    *,
    cors_origins: list[str] | tuple[str, ...] = (),
    index_roots: list[str | os.PathLike] | tuple = (),
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    index_jobs: int | None = None,
    allowed_hosts: list[str] | tuple[str, ...] = LOOPBACK,
) -> FastAPI:
    """The app over the catalog at ``catalog_path`` (created empty when index roots are given).

    ``allowed_hosts``: the names a request's Host header may carry (any port), so that a web
    page elsewhere cannot reach a server on this machine through a name that resolves to it
    (DNS rebinding); ``("*",)`` allows any.
    """
    from cuefinder import __version__
    from cuefinder.catalog import Catalog

    if index_roots:
        Catalog(catalog_path, create=True).close()
    app = FastAPI(
        title="cuefinder",
        version=__version__,
        summary="Search a music catalog by the film genres its tracks suit.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # served below, from installed files rather than a CDN
        redoc_url=None,
    )
    app.state.server = Server(
        CatalogPool(catalog_path),
        Indexer(catalog_path, list(index_roots), jobs=index_jobs),
        max_upload_bytes,
    )
    errors.install(app)
    app.include_router(api.router)
    app.include_router(api_teach.router)
    app.include_router(api_briefs.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _api_docs(app)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    @app.get("/briefs/{brief_id}", include_in_schema=False)
    def brief_page(brief_id: str) -> FileResponse:
        """A brief's stable, read-only page: the same page, which reads the id from its
        address (404 with the page, which says so, when there is no such brief)."""
        from cuefinder.catalog import briefs
        from cuefinder.errors import QueryError

        found = _an_id(brief_id)
        if found:
            try:
                briefs.get(app.state.server.pool.catalog(), int(brief_id))
            except QueryError:
                found = False
        return FileResponse(STATIC / "index.html", status_code=200 if found else 404,
                            headers={"cache-control": "no-cache"})  # fmt: skip

    @app.get("/tracks/{track_id}", include_in_schema=False)
    def track_page(track_id: str) -> FileResponse:
        """A track's page: the same page, which reads the id from its address (404 with
        the page, which says so, when there is no such track)."""
        found = _an_id(track_id) and app.state.server.pool.catalog().track(int(track_id))
        return FileResponse(STATIC / "index.html", status_code=200 if found else 404,
                            headers={"cache-control": "no-cache"})  # fmt: skip

    app.add_middleware(BodyLimit, uploads=max_upload_bytes)
    if "*" not in allowed_hosts:
        app.add_middleware(HostCheck, allowed=allowed_hosts)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE"],
            allow_headers=["range", "content-type"],
            expose_headers=["content-range", "accept-ranges", "content-length"],
        )
    app.add_middleware(errors.CatchAll)  # added last: outermost
    return app


def _an_id(text: str) -> bool:
    """Whether a page's address names a catalog id at all (digits int() reads, within
    SQLite's integers): anything else is that page's 404, never a 500."""
    from cuefinder.serve.schemas import MAX_ID

    return text.isdecimal() and len(text) <= len(str(MAX_ID)) and int(text) <= MAX_ID


def _api_docs(app: FastAPI) -> None:
    """Swagger UI at /api/docs, its scripts and styles from the installed bundle."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/api/docs/assets", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @app.get("/api/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="cuefinder API",
            swagger_js_url="/api/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/api/docs/assets/swagger-ui.css",
            swagger_favicon_url="/api/docs/assets/favicon-32x32.png",
        )


def host_names(host: str, extra=()) -> tuple[str, ...]:
    """The Host names a server bound to ``host`` answers: the loopback names for a loopback
    address, anything ("*") for an address reachable from elsewhere unless names are given."""
    if host in LOOPBACK or host.startswith("127."):
        return (*LOOPBACK, host, *extra)
    return tuple(extra) if extra else ("*",)


class HostCheck:
    """400 for a request whose Host header names none of the allowed hosts (port ignored)."""

    def __init__(self, app, allowed):
        self.app, self.allowed = app, {h.lower().strip("[]") for h in allowed}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            name = name.lower().strip("[]")
            if name not in self.allowed:
                from starlette.responses import JSONResponse

                message = (f"host: {host!r} is not a name this server answers to "
                           "(serve --allowed-host)")  # fmt: skip
                body = {"error": {"status": 400, "field": "host", "message": message}}
                await JSONResponse(body, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int, field: str | None):
        what = "the upload" if field else "the request body"
        super().__init__(413, f"{what} is larger than {_size(limit)}")
        self.field = field


class BodyLimit:
    """413 for a request body over its limit: at once when Content-Length says so,
    else as soon as the bytes received pass it (chunked uploads)."""

    def __init__(self, app, uploads: int):
        self.app, self.uploads = app, uploads

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = scope["path"] in UPLOAD_PATHS
        limit, field = (self.uploads, "file") if upload else (MAX_BODY_BYTES, None)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            error = BodyTooLarge(limit, field)
            api_error = errors.ApiError(413, error.detail, field, headers={"connection": "close"})
            return await errors.response(api_error)(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit, field)
            return message

        await self.app(scope, counted, send)


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB" if n >= 1024 * 1024 else f"{n / 1024:g} KB"


def run(catalog_path, *, host: str = "127.0.0.1", port: int = 8000, **options) -> None:
    """Serve until interrupted (uvicorn, one process)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    app = create_app(catalog_path, allowed_hosts=host_names(host, options.pop("allowed_hosts", ())),
                     **options)  # fmt: skip
    shown = f"[{host}]" if ":" in host else host
    logging.getLogger("cuefinder.serve").info(
        "cuefinder on http://%s:%d/ (catalog %s)", shown, port, catalog_path
    )
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
