"""Helpers for the HTTP and browser tests: a real catalog, a real server, raw requests."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cuefinder(*args, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "cuefinder", *map(str, args)], capture_output=True, text=True
    )
    if check:
        assert done.returncode in (0, 1), done.stderr + done.stdout  # 1: some files failed
    return done


def build_library(folder: Path, sources: list[Path]) -> Path:
    """Copy real tracks into ``folder`` (the names keep their formats)."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in sources:
        shutil.copy2(source, folder / source.name)
    return folder


def wait_until_up(url: str, process: subprocess.Popen | None = None, log: Path | None = None):
    for _ in range(300):
        if process is not None and process.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text() if log else ''}")
        try:
            if httpx.get(url + "/api/status", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"server at {url} did not come up")


@contextmanager
def served(catalog: Path, *options: str, log: Path):
    """``cuefinder serve`` in its own process on a free port; yields its base URL."""
    port = free_port()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cuefinder", "--catalog", str(catalog), "serve",
             "--port", str(port), *options],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def served_in_thread(app):
    """uvicorn serving ``app`` in a thread of this process (so a test can watch requests)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


def raw_get(url: str, target: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """GET with the request target sent exactly as given (no client-side normalising)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest("GET", target, skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            connection.putheader(key, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


class RangeLog:
    """ASGI wrapper that records (path, Range header) of every request."""

    def __init__(self, app):
        self.app = app
        self.seen: list[tuple[str, str | None]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            rng = headers.get(b"range")
            self.seen.append((scope["path"], rng.decode() if rng else None))
        await self.app(scope, receive, send)
