"""Results and briefs as files an editor or a player imports.

The format follows the file's extension (or ``format``):

- ``.csv``: one row per cue, in and out as SMPTE timecode at the chosen rate, seconds,
  the note;
- ``.edl``: a CMX 3600 edit decision list (OpenTimelineIO's CMX 3600 adapter): one audio
  event per cue, back to back on the record side, each note as a ``* LOC:`` marker
  (Avid locators, Resolve markers); ``FCM: DROP FRAME`` at 29.97 and 59.94;
- ``.fcpxml``: Final Cut Pro XML 1.10: each file an asset, each cue an ``asset-clip``
  on the project's spine with its in point and length, each note a ``marker``;
- ``.xml``: Final Cut Pro 7 XML (xmeml, OpenTimelineIO's FCP adapter), which Premiere
  Pro and Resolve import: the cues on an audio track, each note a marker on its clip;
- ``.otio``: an OpenTimelineIO timeline (Resolve imports it; OTIO converts it further);
- ``.markers.edl`` (``markers``): a marker list in the EDL DaVinci Resolve writes and reads
  for timeline markers (Timelines > Import > Timeline Markers from EDL): one event a
  frame long per cue at its place on the record side (back to back, as in the EDL), and
  a line ``NOTE |C:ResolveColorBlue |M:NAME |D:FRAMES`` (the note, the colour, the
  marker's name, its length in frames); the record side starts at ``start``
  (01:00:00:00, Resolve's default timeline start, unless given);
- ``.markers.xml`` (``markers-xml``): the same markers for Premiere Pro, which has no
  marker-list import of its own: a Final Cut Pro 7 XML sequence holding only sequence
  markers (name, note as comment, in and out in frames from the sequence's start) over an
  empty audio track of the cues' length; Premiere (File > Import) and Resolve open it as a
  new sequence with the markers, whose timecode starts at ``start`` (00:00:00:00 unless
  given);
- ``.m3u`` / ``.xspf``: playlists whose entries start and stop at each cue's in and
  out (VLC's options), the paths as they are, relative to ``root``, or URLs.

Timecode rates (``RATES``): 23.976, 24, 25, 29.97 (drop frame), 29.97ndf, 30, 48, 50,
59.94 (drop frame), 59.94ndf, 60. In and out points are rounded to the nearest frame;
timecode counts frames at the nominal rate (OpenTimelineIO's arithmetic), so an hour of
audio at 23.976 ends at 00:59:56:10.
"""

from __future__ import annotations

import csv
import io
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from cuefinder.errors import QueryError

FORMATS = {".csv": "csv", ".edl": "edl", ".fcpxml": "fcpxml", ".xml": "xml", ".otio": "otio",
           ".m3u": "m3u", ".m3u8": "m3u", ".xspf": "xspf", ".markers.edl": "markers",
           ".markers.xml": "markers-xml"}  # fmt: skip
MEDIA_TYPES = {"csv": "text/csv", "edl": "text/plain", "fcpxml": "application/xml",
               "xml": "application/xml",
               "otio": "application/json", "m3u": "audio/x-mpegurl",
               "xspf": "application/xspf+xml", "markers": "text/plain",
               "markers-xml": "application/xml"}  # fmt: skip
SUFFIXES = {kind: suffix for suffix, kind in reversed(FORMATS.items())}  # a file name's ending
FPS = "25"
MARKER_STARTS = {"markers": "01:00:00:00", "markers-xml": "00:00:00:00"}  # record side's start
RESOLVE_COLOR = "ResolveColorBlue"  # Resolve's default marker colour


@dataclass(frozen=True)
class Rate:
    """A timecode rate: frames per second, exactly, and whether its timecode drops frames."""

    name: str
    frames: Fraction
    drop: bool = False

    @property
    def fps(self) -> float:
        return float(self.frames)


RATES = {
    r.name: r
    for r in (
        Rate("23.976", Fraction(24000, 1001)),
        Rate("24", Fraction(24)),
        Rate("25", Fraction(25)),
        Rate("29.97", Fraction(30000, 1001), drop=True),
        Rate("29.97ndf", Fraction(30000, 1001)),
        Rate("30", Fraction(30)),
        Rate("48", Fraction(48)),
        Rate("50", Fraction(50)),
        Rate("59.94", Fraction(60000, 1001), drop=True),
        Rate("59.94ndf", Fraction(60000, 1001)),
        Rate("60", Fraction(60)),
    )
}
_ALIASES = {"23.98": "23.976", "29.97df": "29.97", "59.94df": "59.94"}


def rate(value: str | int | float | Rate) -> Rate:
    """The ``Rate`` a name stands for: ``"23.976"``, ``25``, ``"29.97"`` (drop frame)."""
    if isinstance(value, Rate):
        return value
    text = str(value).strip().lower()
    text = text[:-2] if text.endswith(".0") else text
    found = RATES.get(_ALIASES.get(text, text))
    if found is None:
        raise QueryError(f"--fps must be one of {', '.join(RATES)}, got {value!r}")
    return found


def timecode(seconds: float, fps: str | int | Rate = FPS) -> str:
    """``83.52`` s at 25 fps -> ``00:01:23:13``; drop-frame rates separate frames by ``;``."""
    import opentimelineio as otio

    r = rate(fps)
    return otio.opentime.RationalTime(frames(seconds, r), r.fps).to_timecode(r.fps, r.drop)


def frame_timecode(count: int, fps: str | int | Rate = FPS) -> str:
    """Frame ``count`` (from 00:00:00:00) as timecode at the rate."""
    import opentimelineio as otio

    r = rate(fps)
    return otio.opentime.RationalTime(count, r.fps).to_timecode(r.fps, r.drop)


_TIMECODE = re.compile(r"(\d{2}):(\d{2}):(\d{2})[:;.](\d{2})")


def start_frame(text: str, fps: str | int | Rate = FPS) -> int:
    """The frame a timecode such as ``01:00:00:00`` names at the rate (drop-frame rates
    count it as drop-frame timecode, whatever its separator); QueryError if it is none."""
    import opentimelineio as otio

    r = rate(fps)
    found = _TIMECODE.fullmatch(str(text).strip())
    nominal = round(r.frames)
    if found is None or int(found[2]) > 59 or int(found[3]) > 59 or int(found[4]) >= nominal:
        raise QueryError(f"--start-tc must be a timecode HH:MM:SS:FF at {r.name} fps, got {text!r}")
    hours, minutes, secs, count = found.groups()
    label = f"{hours}:{minutes}:{secs}{';' if r.drop else ':'}{count}"
    frame = otio.opentime.from_timecode(label, r.fps).to_frames()
    if frame_timecode(frame, r) != label:  # drop frame skips this label (00:59:00;00)
        raise QueryError(
            f"--start-tc {text!r} is not a drop-frame timecode at {r.name} fps: "
            "each minute but every tenth starts at frame 02"
        )
    return frame


def frames(seconds: float, fps: str | int | Rate) -> int:
    """Whole frames nearest to ``seconds`` at the rate."""
    return int(round(Fraction(seconds) * rate(fps).frames))


def format_of(path: str | os.PathLike, format: str | None = None) -> str:
    """The export format: ``format`` if given, else ``path``'s extension (QueryError)."""
    if format is not None:
        if format not in MEDIA_TYPES:
            raise QueryError(f"--format must be one of {', '.join(MEDIA_TYPES)}, got {format!r}")
        return format
    endings = "".join(Path(path).suffixes[-2:]).lower()  # .markers.edl before .edl
    found = FORMATS.get(endings) or FORMATS.get(Path(path).suffix.lower())
    if found is None:
        raise QueryError(f"--export {path}: the name must end in {', '.join(FORMATS)} "
                         "(or give --format)")  # fmt: skip
    return found


def write(results, path: str | os.PathLike, *, fps: str | int | Rate = FPS, query: str = "",
          format: str | None = None, root: str | os.PathLike | None = None,
          urls: dict[int, str] | None = None, start: str | None = None) -> Path:  # fmt: skip
    """Write results (``rank.Result``; a brief's entries as results) to ``path``.

    ``root``: playlists name files relative to this folder; ``urls``: playlists name each
    track by this URL (track id -> URL) instead of its path; ``start``: the marker lists'
    first timecode (``MARKER_STARTS`` unless given).
    """
    path = Path(path)
    kind = format_of(path, format)
    text = render(results, kind, fps=fps, query=query, root=root, urls=urls, start=start)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path


def render(results, kind: str, *, fps: str | int | Rate = FPS, query: str = "", root=None,
           urls: dict[int, str] | None = None, start: str | None = None) -> str:  # fmt: skip
    """The file's text in format ``kind`` (``MEDIA_TYPES``); ``start`` only for the marker
    lists (QueryError for another format)."""
    r = rate(fps)
    title = f"cuefinder: {query}" if query else "cuefinder"
    if start is not None and kind not in MARKER_STARTS:
        raise QueryError(
            f"--start-tc is for the marker lists ({', '.join(MARKER_STARTS)}), not {kind}"
        )
    if kind in MARKER_STARTS:
        first = start_frame(MARKER_STARTS[kind] if start is None else start, r)
        if kind == "markers":
            return _resolve_markers(results, r, title, first)
        return _premiere_markers(results, r, title, first)
    if kind == "csv":
        return _csv(results, r)
    if kind == "edl":
        return _edl(results, r, title)
    if kind == "fcpxml":
        return _fcpxml(results, r, query or "cuefinder")
    if kind == "otio":
        return _timeline(results, r, title).to_json_string()
    if kind == "xml":
        import opentimelineio as otio

        return otio.adapters.write_to_string(_timeline(results, r, title), "fcp_xml")
    names = [_location(x, root, urls) for x in results]
    if kind == "m3u":
        return _m3u(results, names, query)
    if kind == "xspf":
        return _xspf(results, names, title)
    raise QueryError(f"unknown export format {kind!r}")


def _location(result, root, urls) -> str:
    if urls is not None:
        return urls[result.id]
    if root is None:
        return result.path
    return os.path.relpath(result.path, Path(root).expanduser().resolve())


def _name(result, rank: int | None = None) -> str:
    name = _clean(result.title or Path(result.path).stem)
    return f"{rank}. {name}" if rank is not None else name


def _clean(text: str) -> str:
    """Text for a line or an XML value: control characters (which XML cannot carry and
    which would break an EDL's lines) become spaces."""
    return "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text or "").strip()


def _timeline(results, r: Rate, title: str, *, video_track: bool = False):
    """An OTIO timeline: the cues on one audio track, back to back, in order; notes as
    markers at each cue's in point."""
    import opentimelineio as otio

    def at(seconds: float):
        return otio.opentime.RationalTime(frames(seconds, r), r.fps)

    timeline = otio.schema.Timeline(name=title)
    track = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    timeline.tracks.append(track)
    if video_track:  # the CMX 3600 adapter writes the first track, and wants one video track
        timeline.tracks.append(otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video))
    for rank, x in enumerate(results, 1):
        media = otio.schema.ExternalReference(
            target_url=Path(x.path).as_uri(),
            available_range=otio.opentime.TimeRange(at(0), at(x.duration)),
        )
        start, end = x.segment["start"], x.segment["end"]
        part = otio.opentime.TimeRange(at(start), at(end) - at(start))
        clip = otio.schema.Clip(name=_name(x, rank), media_reference=media, source_range=part)
        note = _clean(x.extra.get("note", ""))
        if note:
            clip.markers.append(otio.schema.Marker(
                name=note, marked_range=otio.opentime.TimeRange(at(start), at(0)),
                color=otio.schema.MarkerColor.GREEN))  # fmt: skip
        clip.metadata["cuefinder"] = {"score": x.score, "fit": x.fit, "genres": x.genres,
                                      "note": note}  # fmt: skip
        track.append(clip)
    return timeline


def _marker_spans(results, r: Rate):
    """Each cue's place on the record side, back to back as in the EDL: (rank, result,
    first frame from the timeline's start, length in frames)."""
    at = 0
    for rank, x in enumerate(results, 1):
        length = frames(x.segment["end"], r) - frames(x.segment["start"], r)
        yield rank, x, at, length
        at += length


_EDL_KEYWORDS = re.compile(r"(\d|\*|>>>|TITLE:|FCM:|AUD|EFFECTS NAME|SPLIT:|M2 )", re.I)


def _marker_text(text: str) -> str:
    """A name or note for a Resolve marker line: one line, no ``|`` (which ends a field)."""
    return " ".join(_clean(text).replace("|", "/").split())


def _resolve_markers(results, r: Rate, title: str, first: int) -> str:
    """DaVinci Resolve's timeline-marker EDL (what Timelines > Export > Timeline Markers to
    EDL writes, and Import reads): a one-frame video event per marker, source and record
    alike, then ``NOTE |C:COLOUR |M:NAME |D:FRAMES``."""
    lines = [
        f"TITLE: {_marker_text(title)}",
        "FCM: DROP FRAME" if r.drop else "FCM: NON-DROP FRAME",
        "",
    ]
    for rank, x, at, length in _marker_spans(results, r):
        tc_in, tc_out = frame_timecode(first + at, r), frame_timecode(first + at + 1, r)
        note = _marker_text(x.extra.get("note", ""))
        if _EDL_KEYWORDS.match(note):  # a line that Resolve or a reader takes for an event
            note = f"- {note}"
        lines += [
            f"{rank:03d}  001      V     C        {tc_in} {tc_out} {tc_in} {tc_out}",
            f"{note} |C:{RESOLVE_COLOR} |M:{_marker_text(_name(x, rank))} |D:{max(length, 1)}",
            "",
        ]
    return "\n".join(lines) + "\n"  # each marker, the last too, ends with a blank line


def _premiere_markers(results, r: Rate, title: str, first: int) -> str:
    """Final Cut Pro 7 XML (OpenTimelineIO's FCP adapter): a sequence with sequence markers
    only, over an empty audio track as long as the cues."""
    import opentimelineio as otio

    def t(count: int):
        return otio.opentime.RationalTime(count, r.fps)

    timeline = otio.schema.Timeline(
        name=_clean(title),
        global_start_time=t(first),
        metadata={"fcp_xml": {"timecode": {"displayformat": "DF" if r.drop else "NDF"}}},
    )
    track = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    timeline.tracks.append(track)
    total = 0
    for rank, x, at, length in _marker_spans(results, r):
        note = " ".join(_clean(x.extra.get("note", "")).split())
        timeline.tracks.markers.append(
            otio.schema.Marker(
                name=_name(x, rank),
                marked_range=otio.opentime.TimeRange(t(at), t(length)),
                color=otio.schema.MarkerColor.BLUE,
                metadata={"fcp_xml": {"comment": note}} if note else None,
            )
        )
        total = at + length
    if total:
        track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(t(0), t(total))))
    return otio.adapters.write_to_string(timeline, "fcp_xml")


def _edl(results, r: Rate, title: str) -> str:
    import opentimelineio as otio

    timeline = _timeline(results, r, title, video_track=True)
    text = otio.adapters.write_to_string(timeline, "cmx_3600", rate=r.fps)
    lines = text.splitlines()
    fcm = "FCM: DROP FRAME" if r.drop else "FCM: NON-DROP FRAME"
    return "\n".join([lines[0], fcm, *lines[1:]]) + "\n"


def _seconds(value: Fraction) -> str:
    """FCPXML's rational time: ``1001/24000s``, ``12s``."""
    value = Fraction(value)
    return (
        f"{value.numerator}s"
        if value.denominator == 1
        else f"{value.numerator}/{value.denominator}s"
    )


def _fcpxml(results, r: Rate, name: str) -> str:
    """Final Cut Pro XML 1.10: assets for the files, an asset-clip per cue on the spine."""
    frame = 1 / r.frames  # one frame, in seconds

    def snapped(seconds: float) -> Fraction:  # whole frames, as a rational time
        return frames(seconds, r) * frame

    root = ET.Element("fcpxml", version="1.10")
    resources = ET.SubElement(root, "resources")
    ET.SubElement(resources, "format", id="r1", name="FFVideoFormatRateUndefined",
                  frameDuration=_seconds(frame))  # fmt: skip
    assets: dict[str, str] = {}
    for x in results:
        if x.path in assets:
            continue
        assets[x.path] = f"r{len(assets) + 2}"
        asset = ET.SubElement(resources, "asset", id=assets[x.path], name=_name(x), start="0s",
                              duration=_seconds(snapped(x.duration)), hasAudio="1",
                              audioSources="1", audioChannels="2", audioRate="48000")  # fmt: skip
        ET.SubElement(asset, "media-rep", kind="original-media", src=Path(x.path).as_uri())
    event = ET.SubElement(ET.SubElement(root, "library"), "event", name="cuefinder")
    project = ET.SubElement(event, "project", name=name)
    total = sum((snapped(x.segment["end"]) - snapped(x.segment["start"]) for x in results),
                Fraction(0))  # fmt: skip
    sequence = ET.SubElement(project, "sequence", format="r1", duration=_seconds(total),
                             tcStart="0s", tcFormat="DF" if r.drop else "NDF",
                             audioLayout="stereo", audioRate="48k")  # fmt: skip
    spine = ET.SubElement(sequence, "spine")
    offset = Fraction(0)
    for rank, x in enumerate(results, 1):
        start, end = snapped(x.segment["start"]), snapped(x.segment["end"])
        clip = ET.SubElement(spine, "asset-clip", ref=assets[x.path], offset=_seconds(offset),
                             name=_name(x, rank), start=_seconds(start),
                             duration=_seconds(end - start), format="r1",
                             audioRole="music")  # fmt: skip
        if _clean(x.extra.get("note", "")):
            ET.SubElement(clip, "marker", start=_seconds(start), duration=_seconds(frame),
                          value=_clean(x.extra["note"]))  # fmt: skip
        offset += end - start
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n{body}\n'


def _csv(results, r: Rate) -> str:
    handle = io.StringIO()
    out = csv.writer(handle)
    out.writerow(["rank", "path", "title", "artist", "album", "score", "fit", "fit_level",
                  f"in ({r.name} fps)", f"out ({r.name} fps)", "in_seconds", "out_seconds",
                  f"duration ({r.name} fps)", "note"])  # fmt: skip
    for rank, x in enumerate(results, 1):
        start, end = x.segment["start"], x.segment["end"]
        out.writerow([rank, x.path, x.title or "", x.artist or "", x.album or "", x.score,
                      "" if x.fit is None else x.fit, x.fit_level or "",
                      timecode(start, r), timecode(end, r), start, end,
                      timecode(x.duration, r), x.extra.get("note", "")])  # fmt: skip
    return handle.getvalue()


def _m3u(results, names, query: str) -> str:
    """Extended M3U; VLC's start/stop options play each cue. A name with a line break (or
    another control character) is written as a percent-encoded URI: one entry, not two."""
    lines = ["#EXTM3U"] + ([f"#PLAYLIST:cuefinder: {query}"] if query else [])
    for x, name in zip(results, names, strict=True):
        shown = " - ".join(_clean(v) for v in (x.artist, x.title or Path(x.path).stem) if v)
        lines += [f"#EXTINF:{int(round(x.duration))},{shown}",
                  f"#EXTVLCOPT:start-time={x.segment['start']:.2f}",
                  f"#EXTVLCOPT:stop-time={x.segment['end']:.2f}",
                  name if _clean(name) == name else _uri(name)]  # fmt: skip
    return "\n".join(lines) + "\n"


def _uri(name: str) -> str:
    """A URL as it is, an absolute path as a file URI, a relative path percent-encoded."""
    from urllib.parse import quote

    if "://" in name:
        return name
    return Path(name).as_uri() if os.path.isabs(name) else quote(Path(name).as_posix())


XSPF = "http://xspf.org/ns/0/"
VLC = "http://www.videolan.org/vlc/playlist/ns/0/"


def _xspf(results, names, title: str) -> str:
    """XSPF 1; VLC's start-time/stop-time options play each cue."""
    ET.register_namespace("", XSPF)
    ET.register_namespace("vlc", VLC)
    root = ET.Element(f"{{{XSPF}}}playlist", version="1")
    ET.SubElement(root, f"{{{XSPF}}}title").text = title
    tracks = ET.SubElement(root, f"{{{XSPF}}}trackList")
    for x, name in zip(results, names, strict=True):
        track = ET.SubElement(tracks, f"{{{XSPF}}}track")
        ET.SubElement(track, f"{{{XSPF}}}location").text = _uri(name)
        ET.SubElement(track, f"{{{XSPF}}}title").text = _name(x)
        if x.artist:
            ET.SubElement(track, f"{{{XSPF}}}creator").text = _clean(x.artist)
        if _clean(x.extra.get("note", "")):
            ET.SubElement(track, f"{{{XSPF}}}annotation").text = _clean(x.extra["note"])
        ET.SubElement(track, f"{{{XSPF}}}duration").text = str(int(round(x.duration * 1000)))
        vlc = ET.SubElement(track, f"{{{XSPF}}}extension",
                            application="http://www.videolan.org/vlc/playlist/0")  # fmt: skip
        ET.SubElement(vlc, f"{{{VLC}}}option").text = f"start-time={x.segment['start']:.2f}"
        ET.SubElement(vlc, f"{{{VLC}}}option").text = f"stop-time={x.segment['end']:.2f}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
