"""Uploaded reference clips: type and size checks, and a temporary file to analyse."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import UploadFile

from cuefinder.audio import AUDIO_EXTENSIONS
from cuefinder.serve.errors import ApiError

# what browsers and tools send for audio files (Chrome labels .webm and some .mp4 as video)
CONTENT_TYPES = (
    "application/octet-stream",
    "application/ogg",
    "video/mp4",
    "video/webm",
    "video/ogg",
)


def check(upload: UploadFile) -> str:
    """The upload's audio extension (e.g. ".ogg"); 415 for anything that is not audio."""
    name = upload.filename or ""
    suffix = os.path.splitext(name)[1].lower()
    if not name:
        raise ApiError(422, "file: the upload has no file name", "file")
    if suffix not in AUDIO_EXTENSIONS:
        known = " ".join(sorted(AUDIO_EXTENSIONS))
        raise ApiError(415, f"file: {name!r} is not an audio file name (one of: {known})", "file")
    kind = (upload.content_type or "").split(";")[0].strip().lower()
    if kind and not (kind.startswith("audio/") or kind in CONTENT_TYPES):
        raise ApiError(415, f"file: content type {kind!r} is not audio", "file")
    return suffix


@contextmanager
def saved(upload: UploadFile) -> Iterator[str]:
    """The upload copied to a temporary file with its audio extension; removed afterwards."""
    suffix = check(upload)
    handle, path = tempfile.mkstemp(prefix="cuefinder-upload-", suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as out:
            upload.file.seek(0)
            shutil.copyfileobj(upload.file, out, 1 << 20)
        if os.path.getsize(path) == 0:
            raise ApiError(422, "file: the upload is empty", "file")
        yield path
    finally:
        os.unlink(path)
