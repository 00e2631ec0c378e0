"""Search results as files an editor or a player imports: a CSV with timecode, an M3U
playlist that starts each track at its best window, and an OpenTimelineIO timeline
(``.otio``: one audio track of the best windows, back to back, each clip pointing at
its file; DaVinci Resolve imports it, and OTIO's adapters convert it further).

Timecode is non-drop-frame ``HH:MM:SS:FF`` at a whole frame rate (24, 25, 30, ...);
the best window's in and out points are rounded to the nearest frame.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from cuefinder.errors import QueryError

FORMATS = (".csv", ".m3u", ".otio")
FPS = 25


def timecode(seconds: float, fps: int = FPS) -> str:
    """``83.52`` at 25 fps -> ``00:01:23:13``."""
    frames = int(round(seconds * fps))
    whole, frame = divmod(frames, fps)
    minutes, second = divmod(whole, 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours:02d}:{minute:02d}:{second:02d}:{frame:02d}"


def write(results, path: str | os.PathLike, *, fps: int = FPS, query: str = "") -> Path:
    """Write results to ``path``; its extension (.csv or .m3u) picks the format."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise QueryError(f"--export {path}: the name must end in {', '.join(FORMATS)}")
    if not 1 <= fps <= 120:
        raise QueryError(f"--fps must be a whole frame rate from 1 to 120, got {fps}")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        if path.suffix.lower() == ".csv":
            _csv(results, handle, fps)
        elif path.suffix.lower() == ".m3u":
            _m3u(results, handle, query)
        else:
            handle.write(_timeline(results, fps, query).to_json_string())
    os.replace(tmp, path)
    return path


def _timeline(results, fps: int, query: str):
    """An OTIO timeline: the results' best windows on one audio track, in rank order."""
    import opentimelineio as otio

    def at(seconds: float):
        return otio.opentime.RationalTime(round(seconds * fps), fps)

    timeline = otio.schema.Timeline(name=f"cuefinder: {query}" if query else "cuefinder")
    track = otio.schema.Track(name="cues", kind=otio.schema.TrackKind.Audio)
    timeline.tracks.append(track)
    for rank, r in enumerate(results, 1):
        media = otio.schema.ExternalReference(
            target_url=Path(r.path).as_uri(),
            available_range=otio.opentime.TimeRange(at(0), at(r.duration)),
        )
        start, end = r.segment["start"], r.segment["end"]
        clip = otio.schema.Clip(
            name=f"{rank}. {r.title or Path(r.path).stem}",
            media_reference=media,
            source_range=otio.opentime.TimeRange(at(start), at(end) - at(start)),
        )
        clip.metadata["cuefinder"] = {"score": r.score, "fit": r.fit, "genres": r.genres,
                                      "note": r.extra.get("note", "")}  # fmt: skip
        track.append(clip)
    return timeline


def _csv(results, handle, fps: int) -> None:
    out = csv.writer(handle)
    out.writerow(["rank", "path", "title", "artist", "album", "score", "fit", "fit_level",
                  f"in ({fps} fps)", f"out ({fps} fps)", "in_seconds", "out_seconds",
                  f"duration ({fps} fps)", "note"])  # fmt: skip
    for rank, r in enumerate(results, 1):
        start, end = r.segment["start"], r.segment["end"]
        out.writerow([rank, r.path, r.title or "", r.artist or "", r.album or "", r.score,
                      "" if r.fit is None else r.fit, r.fit_level or "",
                      timecode(start, fps), timecode(end, fps), start, end,
                      timecode(r.duration, fps), r.extra.get("note", "")])  # fmt: skip


def _m3u(results, handle, query: str) -> None:
    """Extended M3U; VLC's start/stop options play each track's best window."""
    handle.write("#EXTM3U\n")
    if query:
        handle.write(f"#PLAYLIST:cuefinder: {query}\n")
    for r in results:
        name = " - ".join(x for x in (r.artist, r.title or Path(r.path).stem) if x)
        handle.write(f"#EXTINF:{int(round(r.duration))},{name}\n")
        handle.write(f"#EXTVLCOPT:start-time={r.segment['start']:.2f}\n")
        handle.write(f"#EXTVLCOPT:stop-time={r.segment['end']:.2f}\n")
        handle.write(f"{r.path}\n")
