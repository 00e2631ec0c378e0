"""Briefs as people use them: tracks named as everywhere else, entries shown with the
track they point at now, and hand-off to the edit (``cuesheet``: CSV with timecode,
M3U, OTIO).
"""

from __future__ import annotations

import os
from pathlib import Path

from cuefinder.catalog import Catalog
from cuefinder.catalog import briefs as store
from cuefinder.catalog.briefs import Brief, Entry
from cuefinder.errors import QueryError
from cuefinder.find import cuesheet
from cuefinder.find.rank import Result
from cuefinder.find.teach import track_of


def brief_of(catalog: Catalog, key) -> Brief:
    """A brief by id (a number) or name (a Brief is itself)."""
    if isinstance(key, Brief):
        return key
    if isinstance(key, int) or (isinstance(key, str) and key.strip().isdigit()):
        try:
            return store.get(catalog, int(key))
        except QueryError:
            if isinstance(key, int):
                raise
    return store.get(catalog, str(key))


def add(catalog: Catalog, brief, track, *, start: float | None = None,
        stop: float | None = None, note: str = "", by: str = "") -> Entry:  # fmt: skip
    """Add a track (id, path or unique end of one) to a brief, with in/out points."""
    found = track_of(catalog, track)
    start, stop = _points(start, stop, found.duration, found.path)
    content_hash = catalog.content_hash(found.id)
    return store.add_entry(catalog, brief_of(catalog, brief).id, content_hash, found.path,
                           start, stop, note, by)  # fmt: skip


def set_points(catalog: Catalog, brief, entry_id: int, start=None, stop=None, note=None,
               clear=()):  # fmt: skip
    """Change an entry's in/out points (checked against its track) or note; ``clear``
    names points to take away ("start": from the beginning, "stop": to the end)."""
    held = brief_of(catalog, brief)
    entry = next((e for e in store.entries(catalog, held.id) if e.id == entry_id), None)
    if entry is None:
        raise QueryError(f"brief '{held.name}' has no entry {entry_id}")
    changes = {}
    if start is not None or stop is not None:
        track = current_track(catalog, entry)
        duration = track.duration if track else float("inf")
        changes["start"], changes["stop"] = _points(
            start if start is not None else entry.start,
            stop if stop is not None else entry.stop, duration, entry.path)  # fmt: skip
    if note is not None:
        changes["note"] = note
    for point in clear:
        if point not in ("start", "stop"):
            raise QueryError(f"an entry has no point {point!r} to clear")
        changes[point] = None
    return store.update_entry(catalog, held.id, entry_id, **changes)


def current_track(catalog: Catalog, entry: Entry):
    """The present track an entry points at (by content, else by path), or None."""
    return catalog.present_track(entry.content_hash, entry.path)


def results(catalog: Catalog, brief) -> list[Result]:
    """The brief's entries whose tracks are present, as results whose segment is the
    entry's in/out (the whole track without them), in the brief's order."""
    held = brief_of(catalog, brief)
    out = []
    for entry in store.entries(catalog, held.id):
        track = current_track(catalog, entry)
        if track is None:
            continue
        start = entry.start or 0.0
        stop = entry.stop if entry.stop is not None else track.duration
        out.append(Result(id=track.id, path=track.path, score=float(entry.position),
                          genres={}, probabilities={},
                          segment={"start": round(start, 3), "end": round(stop, 3)},
                          duration=round(track.duration, 2), title=track.title,
                          artist=track.artist, album=track.album,
                          extra={"entry": entry.id, "note": entry.note,
                                 "added_by": entry.added_by}))  # fmt: skip
    return out


def export(catalog: Catalog, brief, path: str | os.PathLike, *, fps=cuesheet.FPS,
           format: str | None = None, root=None, urls=None) -> Path:  # fmt: skip
    """Write a brief for the edit (``cuesheet``: CSV, EDL, FCPXML, OTIO, M3U, XSPF), the
    format by ``path``'s extension unless ``format`` is given."""
    held = brief_of(catalog, brief)
    found = results(catalog, held)
    links = urls(found) if callable(urls) else urls
    return cuesheet.write(found, path, fps=fps, query=held.name, format=format, root=root,
                          urls=links)  # fmt: skip


def _points(start, stop, duration: float, name: str) -> tuple[float | None, float | None]:
    if start is not None and (start != start or start < 0):
        raise QueryError(f"in point must be a time of at least 0, got {start}")
    if start is not None and start >= duration:
        raise QueryError(f"in point {start:g} s is past the end of {name} "
                         f"({duration:.1f} s long)")  # fmt: skip
    if stop is not None and start is not None and stop <= start:
        raise QueryError(f"out point ({stop:g} s) must be after the in point ({start:g} s)")
    if stop is not None and (stop != stop or stop <= 0):
        raise QueryError(f"out point must be a time after 0, got {stop}")
    return start, (min(stop, duration) if stop is not None else None)
