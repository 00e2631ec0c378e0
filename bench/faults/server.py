"""A running server for the sections that speak HTTP, and a response judged as a user
would."""

from __future__ import annotations

import time

from .common import LEAKS, Section


class Served:
    """The real app under uvicorn in a thread of this process, on a free port."""

    def __init__(self, app):
        import socket
        import threading

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="critical"))  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        import httpx

        self.thread.start()
        for _ in range(400):
            try:
                httpx.get(self.url + "/api/status", timeout=2)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the server did not come up")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def raw(self, method: str, target: str, headers: dict | None = None,
            body: bytes | None = None) -> tuple[int, dict, bytes]:  # fmt: skip
        """A request with its target sent exactly as given (no client-side normalising)."""
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            from urllib.parse import quote

            target = "".join(c if ord(c) < 128 else quote(c) for c in target)  # UTF-8, escaped
            connection.putrequest(method, target, skip_accept_encoding=True)
            for key, value in (headers or {}).items():
                connection.putheader(key, value)
            if body is not None:
                connection.putheader("content-length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    response.read())  # fmt: skip
        finally:
            connection.close()


def judge_response(section: Section, what: str, status: int, body: bytes,
                   leaks: tuple[bytes, ...] = LEAKS) -> None:  # fmt: skip
    """A response a user sees: never a 5xx, a traceback or a leaked file."""
    section.add("responses")
    if status >= 500:
        section.add("5xx")
        section.problem(f"{what}: {status} {body[:160]!r}")
    if b"Traceback" in body or b'File "/' in body:
        section.add("tracebacks")
        section.problem(f"{what}: a traceback in the response")
    leaked = [marker for marker in leaks if marker in body]
    if leaked:
        section.add("leaks")
        section.problem(f"{what}: the response holds {leaked} ({status})")
