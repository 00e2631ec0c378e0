"""Serving catalogued audio: the safety checks, HTTP Range (RFC 9110), content types.

A file is served only by track id; its stored path is opened only when it is
still an absolute, regular file whose resolved path is the stored path itself
(a symlink put in its place, or a folder on the way swapped for one, is
refused), and, on Linux, when the opened descriptor names that same path.

It is served only while it is the file that was indexed: its size and modification time
are the catalog's, and its bytes hash to the catalog's content hash. The hash is read once
per state of the file, the state being its (device, inode, size, modification and change
times): another file renamed over it (a copy, a hard link to a file elsewhere) is another
inode, a rewrite in place with its old time restored moves the change time, which no one
can set. Range requests after the first read no more than the bytes they send.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass
from email.utils import formatdate
from typing import BinaryIO

import anyio
from starlette.responses import Response, StreamingResponse

from cuefinder.serve.errors import ApiError

CHUNK = 256 * 1024
CONTENT_TYPES = {
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg; codecs=opus",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".wave": "audio/wav",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".webm": "audio/webm",
    ".mka": "audio/x-matroska",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
}


def content_type(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"


@dataclass
class OpenFile:
    file: BinaryIO
    size: int
    mtime: float
    path: str


def open_catalogued(
    path: str,
    track_id: int,
    identity: tuple[int, float] | None = None,
    content_hash: str | None = None,
) -> OpenFile:
    """Open a track's stored file for reading, or raise ApiError saying why it is refused:
    among others when its size or modification time (``identity``) or the hash of its bytes
    (``content_hash``) is not what indexing saw (another file now sits under that name)."""
    where = f"track {track_id}'s file {path}"
    if not os.path.isabs(path) or os.path.normpath(path) != path:
        raise ApiError(403, f"{where} is not a plain absolute path; it is not served", "track_id")
    resolved = os.path.realpath(path)
    if resolved != path:
        raise ApiError(
            403,
            f"{where} now leads elsewhere through a symbolic link (not named here); only the "
            "catalogued file itself is served",
            "track_id",
        )
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ApiError(404, f"{where} is gone; index its folder again", "track_id") from None
    except OSError as err:
        raise ApiError(403, f"{where} cannot be read ({err.strerror})", "track_id") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or _opened_path(fd) not in (None, path):
        os.close(fd)
        raise ApiError(403, f"{where} is not the regular file that was catalogued", "track_id")
    if identity is not None and (info.st_size, info.st_mtime) != tuple(identity):
        os.close(fd)
        raise ApiError(409, f"{where} changed since it was indexed (size or time); index its "
                       "folder again", "track_id")  # fmt: skip
    opened = OpenFile(os.fdopen(fd, "rb"), info.st_size, info.st_mtime, path)
    try:
        same = content_hash is None or _content_hash(opened.file, info) == content_hash
    except OSError as err:  # a failing disk: as unreadable as a refused open
        opened.file.close()
        raise ApiError(403, f"{where} cannot be read ({err.strerror})", "track_id") from None
    if not same:
        opened.file.close()
        raise ApiError(
            409,
            f"{where} changed since it was indexed (another file of the same size and time "
            "now sits under its name); index its folder again",
            "track_id",
        )
    return opened


_HASHES: OrderedDict[tuple[int, ...], str] = OrderedDict()  # file state -> its content hash
_HASHES_KEPT = 16384  # about 2 MB; a state not kept is hashed again when next served
_HASHES_LOCK = threading.Lock()


def _state(info: os.stat_result) -> tuple[int, ...]:
    """What changes whenever a file's bytes may have: another inode, or a write to it."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _content_hash(file: BinaryIO, info: os.stat_result) -> str | None:
    """The content hash (as indexing computes it) of the open ``file`` whose fstat is
    ``info``: read once per state of the file; None when it changed while being read."""
    from cuefinder.pipeline.stages import stream_hash

    key = _state(info)
    with _HASHES_LOCK:
        known = _HASHES.get(key)
        if known is not None:
            _HASHES.move_to_end(key)
            return known
    digest = stream_hash(file)
    file.seek(0)
    if _state(os.fstat(file.fileno())) != key:
        return None  # written while it was read: not the file that was indexed either
    with _HASHES_LOCK:
        _HASHES[key] = digest
        while len(_HASHES) > _HASHES_KEPT:
            _HASHES.popitem(last=False)
    return digest


def _opened_path(fd: int) -> str | None:
    """The path the kernel says ``fd`` is open on (None where /proc cannot tell)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """RFC 9110 byte ranges: (start, end exclusive) to serve, None for the whole file,
    or "unsatisfiable".

    A missing or invalid header, another unit, or several ranges are ignored
    (the whole file is served, as the RFC allows); a valid header none of
    whose ranges overlap the file is unsatisfiable (416).
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    ranges = []
    for part in spec.split(","):
        first, dash, last = part.strip().partition("-")
        if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
            return None  # invalid: ignore the header
        if first == "" and last == "":
            return None
        if first == "":  # suffix: the last N bytes
            ranges.append((max(size - int(last), 0), size) if int(last) > 0 else None)
            continue
        start, stop = int(first), (int(last) + 1 if last else size)
        if last and stop <= start:
            return None  # last < first: invalid
        ranges.append((start, min(stop, size)) if start < size else None)
    satisfiable = [r for r in ranges if r is not None]
    if not satisfiable:
        return "unsatisfiable"
    return satisfiable[0] if len(satisfiable) == 1 else None


def file_response(opened: OpenFile, method: str, headers) -> Response:
    """200, 206 or 416 for ``opened`` (closed when sent), honouring Range and If-Range."""
    stamp = f"{opened.size}-{opened.mtime}".encode()
    etag = f'"{hashlib.blake2b(stamp, digest_size=8).hexdigest()}"'
    base = {
        "accept-ranges": "bytes",
        "content-type": content_type(opened.path),
        "etag": etag,
        "last-modified": formatdate(opened.mtime, usegmt=True),
        "cache-control": "no-cache",
    }
    wanted = parse_range(headers.get("range"), opened.size)
    if_range = headers.get("if-range")
    if if_range and if_range not in (etag, base["last-modified"]):
        wanted = None  # the client's copy is stale: send the whole file
    if wanted == "unsatisfiable":
        opened.file.close()
        raise ApiError(
            416,
            f"range {headers.get('range')!r} lies outside the file ({opened.size} bytes)",
            "range",
            headers={"content-range": f"bytes */{opened.size}", "accept-ranges": "bytes"},
        )
    start, end = wanted or (0, opened.size)
    status = 206 if wanted else 200
    if wanted:
        base["content-range"] = f"bytes {start}-{end - 1}/{opened.size}"
    base["content-length"] = str(end - start)
    if method == "HEAD":
        opened.file.close()
        return Response(status_code=status, headers=base)
    return StreamingResponse(_chunks(opened.file, start, end), status, headers=base)


async def _chunks(file: BinaryIO, start: int, end: int):
    """The bytes [start, end) of ``file``, read off the event loop; closes it however it ends."""
    try:
        file.seek(start)
        left = end - start
        while left > 0:
            chunk = await anyio.to_thread.run_sync(file.read, min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        file.close()
