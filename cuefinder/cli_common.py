"""What the ``cuefinder`` command's modules share: exit codes, argument types, the
catalog they open, and how an error line, a time and a track are printed."""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def error(message: str) -> None:
    """One line on stderr: ``cuefinder: error: MESSAGE``."""
    print(f"cuefinder: error: {message}", file=sys.stderr)


def positive_int(text: str) -> int:
    """An argument type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def open_catalog(args, *, create: bool = False):
    """The catalog that ``--catalog`` (or the settings) named."""
    from cuefinder.catalog import Catalog

    return Catalog(args.catalog, create=create)


def time_arg(text: str) -> float:
    """An argument type: seconds from "75", "1:15", "1:02:03" or "12.5"."""
    try:
        parts = [float(p) for p in text.strip().split(":")]
    except ValueError:
        parts = []
    if not 1 <= len(parts) <= 3 or any(p < 0 or p != p for p in parts):
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (use seconds or M:SS)")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def clock(seconds: float) -> str:
    """``M:SS`` (whole seconds)."""
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def track_json(track) -> dict:
    """A catalog track as ``show --json`` and ``export --format json`` print it."""
    return {
        "id": track.id,
        "path": track.path,
        "duration": round(track.duration, 2),
        "title": track.title,
        "artist": track.artist,
        "album": track.album,
        "model": track.model_id,
        "genres": track.genre_scores(),
        **track.descriptors(),
    }
