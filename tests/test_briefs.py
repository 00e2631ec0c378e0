"""Briefs: named shortlists in the catalog, with in/out points and notes, handed to the edit."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from conftest import copy_catalog

from cuefinder.catalog import Catalog
from cuefinder.catalog import briefs as store
from cuefinder.errors import QueryError
from cuefinder.find import briefs
from cuefinder.pipeline.local import index


@pytest.fixture
def catalog(five_tracks, tmp_path):
    """A writable copy of the five real tracks' catalog (conftest), for each test."""
    with Catalog(copy_catalog(five_tracks, tmp_path / "c.db")) as db:
        yield db


def test_a_brief_keeps_tracks_in_order_with_points_and_notes(catalog, tmp_path):
    tracks = sorted(catalog.tracks(), key=lambda t: -t.duration)
    held = store.create(catalog, "Reel 3 chase", "0:42 to fill")
    first = briefs.add(catalog, "reel 3 CHASE", tracks[0].id, start=5.0, stop=47.0,
                       note="under the car chase", by="ana")  # fmt: skip
    briefs.add(catalog, held.id, tracks[1].path, note="alt")
    third = briefs.add(catalog, held.id, tracks[2].id, start=1.0)
    assert [e.position for e in store.entries(catalog, held.id)] == [1, 2, 3]
    expected = (5.0, 47.0, "under the car chase", "ana")
    assert (first.start, first.stop, first.note, first.added_by) == expected
    store.reorder(catalog, held.id, [third.id, first.id, store.entries(catalog, held.id)[1].id])
    assert [e.id for e in store.entries(catalog, held.id)][:2] == [third.id, first.id]
    briefs.set_points(catalog, held.id, first.id, stop=40.0, note="shorter")
    shown = briefs.results(catalog, held)
    assert [r.id for r in shown] == [tracks[2].id, tracks[0].id, tracks[1].id]
    assert shown[1].segment == {"start": 5.0, "end": 40.0}
    assert shown[2].segment == {"start": 0.0, "end": round(tracks[1].duration, 3)}
    # to the edit: CSV with timecode at 24 fps and the notes; OTIO read back
    briefs.export(catalog, held.id, tmp_path / "r3.csv", fps=24)
    with open(tmp_path / "r3.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["path"] for r in rows] == [r.path for r in shown]
    assert (rows[1]["in (24 fps)"], rows[1]["out (24 fps)"]) == ("00:00:05:00", "00:00:40:00")
    assert rows[1]["note"] == "shorter"
    briefs.export(catalog, held.id, tmp_path / "r3.otio")
    timeline = otio.adapters.read_from_file(str(tmp_path / "r3.otio"))
    clips = list(timeline.find_clips())
    assert len(clips) == 3 and clips[1].source_range.duration.to_seconds() == pytest.approx(35.0)
    assert clips[1].metadata["cuefinder"]["note"] == "shorter"
    store.remove_entry(catalog, held.id, third.id)
    assert [e.position for e in store.entries(catalog, held.id)] == [1, 2]


def test_a_brief_follows_a_moved_file(tmp_path, short_tracks):
    library = tmp_path / "library"
    library.mkdir()
    source = next(t for t in short_tracks if t.suffix == ".ogg")
    shutil.copy2(source, library / source.name)
    catalog = Catalog(tmp_path / "own.db")
    index([library], catalog, jobs=1, progress=False)
    track = next(catalog.tracks())
    held = store.create(catalog, "moves")
    briefs.add(catalog, held.id, track.id, start=1.0, stop=3.0)
    moved = library / "renamed.ogg"
    (library / source.name).rename(moved)
    index([library], catalog, jobs=1, progress=False)
    [result] = briefs.results(catalog, held.id)
    assert result.path == str(moved) and result.segment == {"start": 1.0, "end": 3.0}
    # when the file is gone, an export leaves the entry out and says so
    moved.unlink()
    index([library], catalog, jobs=1, progress=False)
    assert briefs.results(catalog, held.id) == []
    done = subprocess.run([sys.executable, "-m", "cuefinder", "--catalog", str(catalog.path),
                           "brief", "moves", "--export", str(tmp_path / "moves.csv")],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote 0 cues" in done.stderr and "left out 1 entry whose track is gone" in done.stderr


def test_bad_brief_input_is_one_line_and_changes_nothing(catalog):
    track = next(catalog.tracks())
    held = store.create(catalog, "one")
    with pytest.raises(QueryError, match="already exists"):
        store.create(catalog, "ONE")
    with pytest.raises(QueryError, match="no track 'nothing.ogg'"):
        briefs.add(catalog, held.id, "nothing.ogg")
    with pytest.raises(QueryError, match="past the end"):
        briefs.add(catalog, held.id, track.id, start=track.duration + 1)
    with pytest.raises(QueryError, match="must be after the in point"):
        briefs.add(catalog, held.id, track.id, start=3.0, stop=2.0)
    with pytest.raises(QueryError, match="no brief 'two'"):
        briefs.brief_of(catalog, "two")
    with pytest.raises(QueryError, match="each of the brief's entries once"):
        store.reorder(catalog, held.id, [99])
    with pytest.raises(QueryError, match="brief's name"):
        store.create(catalog, "  ")
    assert store.entries(catalog, held.id) == []


def test_cli_brief(catalog, tmp_path):
    track = next(catalog.tracks())
    catalog.close()
    run = [sys.executable, "-m", "cuefinder", "--catalog", str(catalog.path), "brief"]

    def cli(*args, code=0):
        done = subprocess.run([*run, *args], capture_output=True, text=True)
        assert done.returncode == code, done.stderr
        return done

    out = cli("reel 1", "--add", str(track.id), "--from", "0:01", "--to", "0:03",
              "--note", "the opening", "--by", "ana").stdout  # fmt: skip
    assert out.splitlines()[0] == "reel 1"
    assert out.splitlines()[1].strip().startswith("1. 0:01-0:03")
    assert "[ana]" in out and "the opening" in out
    assert "reel 1  (1 tracks)" in cli().stdout
    cli("reel 1", "--export", str(tmp_path / "b.m3u"))
    m3u = (tmp_path / "b.m3u").read_text()
    assert "#EXTVLCOPT:start-time=1.00" in m3u and track.path in m3u
    error = cli("reel 1", "--add", str(track.id), "--from", "9:00", code=2).stderr
    assert error.startswith("cuefinder: error: in point 540 s is past the end")
    # `export --brief` writes what `brief --export` writes
    cli("reel 1", "--export", str(tmp_path / "b.edl"), "--fps", "23.976")
    export = [sys.executable, "-m", "cuefinder", "export", "--catalog", str(catalog.path)]
    asked = ["--brief", "REEL 1", "-o", str(tmp_path / "e.edl"), "--fps", "23.976"]
    done = subprocess.run([*export, *asked], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "e.edl").read_text() == (tmp_path / "b.edl").read_text()
    assert "FCM: NON-DROP FRAME" in (tmp_path / "e.edl").read_text()
    for args, message in [
        (["--brief", "reel 1"], "export --brief needs a file"),
        (["--brief", "reel 1", "-o", str(tmp_path / "x.json"), "--format", "json"], "not json"),
        (["--format", "edl"], "export --format edl is for a brief: add --brief NAME"),
        (["--brief", "reel 9", "-o", str(tmp_path / "x.edl")], "no brief 'reel 9'"),
    ]:
        done = subprocess.run([*export, *args], capture_output=True, text=True)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert done.stderr.count("\n") == 1
    cli("reel 1", "--delete")
    assert "no briefs yet" in cli().stdout
    cli("nothing", code=2)


def test_a_brief_edit_keeps_the_servers_score_table_and_a_track_change_does_not(catalog):
    from cuefinder.serve.state import CatalogPool

    pool = CatalogPool(catalog.path)
    model = pool.catalog().active_model()
    table, version = pool.catalog().score_table(model), pool.version()
    track = next(catalog.tracks())
    held = store.create(catalog, "Reel 1", "opening titles")  # another connection writes
    briefs.add(catalog, "Reel 1", track.id, start=2.0, stop=20.0, note="maybe", by="ana")
    store.update(catalog, held.id, name="Reel 1 titles")
    assert pool.version() == version
    assert pool.catalog().score_table(model) is table  # not read again for a brief
    catalog.set_missing([track.path])  # what search reads changed
    assert pool.version() != version
    fresh = pool.catalog().score_table(model)
    assert fresh is not table and track.id not in fresh.ids.tolist()


# -- marker lists ----------------------------------------------------------------------------

RESOLVE_EVENT = re.compile(
    r"(\d{3,})  001      V     C        "
    r"(\d\d:\d\d:\d\d[:;]\d\d) (\d\d:\d\d:\d\d[:;]\d\d) (\d\d:\d\d:\d\d[:;]\d\d) "
    r"(\d\d:\d\d:\d\d[:;]\d\d)"
)
RESOLVE_MARKER = re.compile(r"([^|]*) \|C:(ResolveColor[A-Z][a-z]+) \|M:([^|]*) \|D:(\d+)")


def parse_resolve_markers(text: str) -> tuple[str, str, list[dict]]:
    """A strict reader of Resolve's timeline-marker EDL: TITLE, FCM, a blank line, then per
    marker a one-frame event (source = record), its marker line and a blank line."""
    lines = text.split("\n")
    assert text.endswith("\n") and lines[0].startswith("TITLE: ") and lines[2] == ""
    assert lines[1] in ("FCM: DROP FRAME", "FCM: NON-DROP FRAME")
    body, markers = lines[3:-1], []
    assert len(body) % 3 == 0, body
    for number, (event, marker, blank) in enumerate(zip(*[iter(body)] * 3), 1):
        found, named = RESOLVE_EVENT.fullmatch(event), RESOLVE_MARKER.fullmatch(marker)
        assert found and named and blank == "", (event, marker, blank)
        number_of, *times = found.groups()
        assert int(number_of) == number and times[:2] == times[2:]  # source = record
        note, color, name, length = named.groups()
        markers.append(
            {
                "in": found[4],
                "out": found[5],
                "note": note.strip(),
                "color": color,
                "name": name,
                "frames": int(length),
            }
        )
    return lines[0].removeprefix("TITLE: "), lines[1], markers


def smpte(frame: int, fps: str) -> str:
    """SMPTE timecode of a frame count, written out here apart from cuesheet: 29.97 drops
    frame numbers 0 and 1 at each minute but every tenth (SMPTE 12M)."""
    if fps == "29.97":
        tens, rest = divmod(frame, 17982)
        frame += 18 * tens + (2 * ((rest - 2) // 1798) if rest >= 2 else 0)
        nominal, sep = 30, ";"
    else:
        nominal, sep = {"23.976": 24, "25": 25}[fps], ":"
    seconds, ff = divmod(frame, nominal)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{sep}{ff:02d}"


def test_marker_lists_for_resolve_and_premiere(catalog, tmp_path):
    """A brief as a marker list: Resolve's marker EDL and Premiere's FCP 7 XML sequence of
    markers, one marker per cue where the EDL places it, at 23.976, 25 and 29.97 DF."""
    import io
    import xml.etree.ElementTree as ET

    import pycmx

    found = sorted(catalog.tracks(), key=lambda t: -t.duration)[:3]  # long enough for 12.4 s
    points = [(1.0, 3.52), (12.4, 40.0), (0.0, 601.7 / 30)]
    notes = ["42 s | under\nthe chase", "", "*quiet*, ü\x07 <b>&"]
    store.create(catalog, "Reel 9 | spot")
    for track, (start, stop), note in zip(found, points, notes):
        stop = min(stop, track.duration)
        briefs.add(catalog, "Reel 9 | spot", track.id, start=start, stop=stop, note=note)
    cues = briefs.results(catalog, "Reel 9 | spot")
    catalog.close()
    run = [sys.executable, "-m", "cuefinder", "--catalog", str(catalog.path), "brief"]

    def cli(*args, code=0):
        done = subprocess.run([*run, "Reel 9 | spot", *args], capture_output=True, text=True)
        assert done.returncode == code, done.stderr
        return done

    for fps, nominal in (("23.976", 24000 / 1001), ("25", 25), ("29.97", 30000 / 1001)):
        lengths = [
            round(Fraction(x.segment["end"]) * Fraction(nominal).limit_denominator(1001))
            - round(Fraction(x.segment["start"]) * Fraction(nominal).limit_denominator(1001))
            for x in cues
        ]
        places = [sum(lengths[:i]) for i in range(len(cues))]  # back to back, as in the EDL
        hour = 3600 * 30 - 108 if fps == "29.97" else 3600 * round(nominal)  # 01:00:00:00
        cli("--export", str(tmp_path / "r.markers.edl"), "--fps", fps)
        text = (tmp_path / "r.markers.edl").read_text(encoding="utf-8")
        title, fcm, markers = parse_resolve_markers(text)
        assert title == "cuefinder: Reel 9 / spot"
        assert fcm == ("FCM: DROP FRAME" if fps == "29.97" else "FCM: NON-DROP FRAME")
        assert [m["in"] for m in markers] == [smpte(hour + p, fps) for p in places]
        assert [m["out"] for m in markers] == [smpte(hour + p + 1, fps) for p in places]
        assert [m["frames"] for m in markers] == lengths
        assert {m["color"] for m in markers} == {"ResolveColorBlue"}
        titles = [x.title or Path(x.path).stem for x in cues]
        assert [m["name"] for m in markers] == [f"{i}. {t}" for i, t in enumerate(titles, 1)]
        # line breaks, control characters and | (which ends a field) are gone; a note that
        # would start like an event line (a number, a * remark) is set off by "- "
        assert [m["note"] for m in markers] == ["- 42 s / under the chase", "", "- *quiet*, ü <b>&"]
        # pycmx reads the same events, and keeps each marker line with its event
        events = list(pycmx.parse_cmx3600(io.StringIO(text)).events)
        assert [e.edits[0].record_in for e in events] == [m["in"] for m in markers]
        assert [e.edits[0].source_in for e in events] == [m["in"] for m in markers]
        kept = [
            [s.content for s in e.unrecognized_statements if "|C:" in s.content] for e in events
        ]
        assert [len(k) for k in kept] == [1, 1, 1] and "|M:2. " in kept[1][0]

        # Premiere: a Final Cut Pro 7 XML sequence of markers over the cues' length
        cli("--export", str(tmp_path / "p.markers.xml"), "--fps", fps)
        sequence = ET.parse(tmp_path / "p.markers.xml").getroot().find("project/children/sequence")
        assert sequence.findtext("rate/timebase") == str(round(nominal))
        assert sequence.findtext("rate/ntsc") == ("FALSE" if fps == "25" else "TRUE")
        assert int(sequence.findtext("duration")) == sum(lengths)
        assert sequence.findtext("timecode/displayformat") == ("DF" if fps == "29.97" else "NDF")
        assert sequence.findtext("timecode/frame") == "0"
        assert not list(sequence.iter("clipitem"))  # markers only
        marks = sequence.findall("marker")
        assert [(int(m.findtext("in")), int(m.findtext("out"))) for m in marks] == [
            (p, p + n) for p, n in zip(places, lengths)
        ]
        assert [m.findtext("name") for m in marks] == [m["name"] for m in markers]
        assert [m.findtext("comment") for m in marks] == [
            "42 s | under the chase",
            None,
            "*quiet*, ü <b>&",
        ]
        back = otio.adapters.read_from_file(str(tmp_path / "p.markers.xml"), "fcp_xml")
        assert [m.name for m in back.tracks.markers] == [m["name"] for m in markers]

    # the timeline's first timecode: Resolve's 01:00:00:00 unless given
    cli("--export", str(tmp_path / "z.markers.edl"), "--fps", "29.97", "--start-tc", "00:50:00:00")
    _, _, markers = parse_resolve_markers((tmp_path / "z.markers.edl").read_text())
    assert markers[0]["in"] == "00:50:00;00"
    bad = cli(
        "--export",
        str(tmp_path / "y.markers.edl"),
        "--fps",
        "29.97",
        "--start-tc",
        "00:59:00;00",
        code=2,
    ).stderr
    assert "'00:59:00;00' is not a drop-frame timecode at 29.97 fps" in bad
    cli("--export", str(tmp_path / "z.markers.xml"), "--fps", "25", "--start-tc", "10:00:00:00")
    sequence = ET.parse(tmp_path / "z.markers.xml").getroot().find("project/children/sequence")
    assert sequence.findtext("timecode/string") == "10:00:00:00"
    assert sequence.find("marker/in").text == "0"  # marker places count from the start
    bad = cli("--export", str(tmp_path / "y.markers.edl"), "--start-tc", "1:00", code=2).stderr
    assert "--start-tc must be a timecode HH:MM:SS:FF at 25 fps, got '1:00'" in bad
    bad = cli("--export", str(tmp_path / "y.markers.edl"), "--start-tc", "01:00:00:25", code=2)
    assert "--start-tc must be a timecode" in bad.stderr
    bad = cli("--export", str(tmp_path / "y.csv"), "--start-tc", "01:00:00:00", code=2).stderr
    assert "--start-tc is for the marker lists (markers, markers-xml), not csv" in bad
    assert not (tmp_path / "y.csv").exists() and not (tmp_path / "y.markers.edl").exists()
    cli("--export", str(tmp_path / "named.txt"), "--format", "markers")
    assert parse_resolve_markers((tmp_path / "named.txt").read_text())[2][0]["frames"] > 0


def test_search_results_export_as_a_marker_list(catalog, tmp_path):
    import json

    catalog.close()
    run = [sys.executable, "-m", "cuefinder", "--catalog", str(catalog.path), "search"]
    done = subprocess.run(
        [
            *run,
            "action",
            "-n",
            "3",
            "--json",
            "--export",
            str(tmp_path / "s.markers.edl"),
            "--fps",
            "23.976",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    _, _, markers = parse_resolve_markers((tmp_path / "s.markers.edl").read_text())
    assert len(markers) == len(results) == 3
    assert markers[0]["in"] == "01:00:00:00"
    window = results[0]["segment"]["end"] - results[0]["segment"]["start"]
    assert markers[0]["frames"] == pytest.approx(window * 24000 / 1001, abs=1)
    assert markers[1]["in"] == smpte(86400 + markers[0]["frames"], "23.976")
