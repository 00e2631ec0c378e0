"""Briefs over HTTP: named shortlists in the catalog, their entries, exports and their
read-only page, against a real server over a real catalog of game music."""

from __future__ import annotations

import csv
import io
import sqlite3
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import httpx
import pytest
from serve_helpers import build_library, cuefinder, served_in_thread

from cuefinder.serve import create_app
from cuefinder.serve.schemas import Brief, BriefDetail, BriefEntry, ErrorBody

pytestmark = pytest.mark.slow  # not in `make test-fast`


@pytest.fixture(scope="module")
def library(tmp_path_factory, music_root) -> Path:
    return build_library(
        tmp_path_factory.mktemp("briefs") / "library",
        [
            next((music_root / "funnyboat").glob("*.ogg")),
            *sorted((music_root / "scorched3d-data").glob("*.ogg")),
            sorted((music_root / "chromium-bsu-data").glob("*.wav"))[0],
        ],
    )


@pytest.fixture(scope="module")
def catalog(library) -> Path:
    db = library.parent / "catalog.db"
    cuefinder("--catalog", db, "index", "-q", library)
    return db


@pytest.fixture(scope="module")
def http(catalog):
    with served_in_thread(create_app(catalog)) as url, httpx.Client(base_url=url) as client:
        yield client


@pytest.fixture(scope="module")
def tracks(catalog) -> dict[str, dict]:
    """File name -> {id, path, duration}."""
    with sqlite3.connect(catalog) as con:
        rows = con.execute("SELECT id, path, duration FROM tracks").fetchall()
    return {Path(p).name: {"id": i, "path": p, "duration": d} for i, p, d in rows}


def error_of(response: httpx.Response, status: int, field: str | None = None) -> str:
    """The error's message, the body checked for the one shape."""
    assert response.status_code == status, response.text
    error = ErrorBody.model_validate(response.json()).error
    assert error.status == status and error.field == field, error
    assert "Traceback" not in response.text
    return error.message


def new_brief(http, name: str, note: str = "") -> dict:
    response = http.post("/api/briefs", json={"name": name, "note": note})
    assert response.status_code == 201, response.text
    return BriefDetail.model_validate(response.json()).model_dump()


def add(http, brief: dict, track: int, **body) -> dict:
    response = http.post(f"/api/briefs/{brief['id']}/entries", json={"track": track, **body})
    assert response.status_code == 201, response.text
    return BriefEntry.model_validate(response.json()).model_dump()


def test_create_list_get_rename_and_delete_a_brief(http):
    made = new_brief(http, "Reel 1 opening", "warm, slow")
    assert made["name"] == "Reel 1 opening" and made["note"] == "warm, slow"
    assert made["count"] == 0 and made["entries"] == [] and made["url"] == f"/briefs/{made['id']}"
    listed = [Brief.model_validate(b) for b in http.get("/api/briefs").json()]
    assert made["id"] in [b.id for b in listed]
    assert http.get(f"/api/briefs/{made['id']}").json() == made

    renamed = http.patch(f"/api/briefs/{made['id']}", json={"name": "Reel 1  open", "note": "x"})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["note"]) == ("Reel 1 open", "x")
    assert renamed.json()["updated_at"] >= made["updated_at"]

    assert http.delete(f"/api/briefs/{made['id']}").status_code == 204
    error_of(http.get(f"/api/briefs/{made['id']}"), 404, "brief_id")
    error_of(http.delete(f"/api/briefs/{made['id']}"), 404, "brief_id")
    assert made["id"] not in [b["id"] for b in http.get("/api/briefs").json()]


def test_brief_names_are_unique_in_any_case_and_printable(http):
    first = new_brief(http, "Chase")
    other = new_brief(http, "Dusk")
    message = error_of(http.post("/api/briefs", json={"name": "chase"}), 422, "name")
    assert message == "a brief called 'chase' already exists"
    message = error_of(
        http.patch(f"/api/briefs/{other['id']}", json={"name": "CHASE"}), 422, "name"
    )
    assert "already exists" in message
    assert http.get(f"/api/briefs/{other['id']}").json()["name"] == "Dusk"
    assert "printable" in error_of(http.post("/api/briefs", json={"name": "   "}), 422, "name")
    error_of(http.post("/api/briefs", json={"name": ""}), 422, "name")
    error_of(http.post("/api/briefs", json={"name": "x" * 101}), 422, "name")
    error_of(http.post("/api/briefs", json={}), 422, "name")
    error_of(http.post("/api/briefs", json={"name": "A", "colour": "red"}), 422, "colour")
    # renaming to its own name in another case is no clash
    same = http.patch(f"/api/briefs/{first['id']}", json={"name": "CHASE"})
    assert same.status_code == 200 and same.json()["name"] == "CHASE"


def test_entries_carry_their_track_points_note_and_who_added_them(http, tracks):
    boat = tracks["JDruid-Trip_on_the_Funny_Boat.ogg"]
    brief = new_brief(http, "Reel 2 boat")
    entry = add(http, brief, boat["id"], start=12.4, end=40, note="under the titles", by="Ana")
    assert entry["position"] == 1 and (entry["start"], entry["end"]) == (12.4, 40.0)
    assert (entry["note"], entry["added_by"]) == ("under the titles", "Ana")
    assert entry["track_id"] == boat["id"] and entry["title"] == "Trip on the Funny Boat"
    assert entry["artist"] == "JDruid" and entry["path"] == boat["path"]
    assert entry["duration"] == round(boat["duration"], 2)
    assert entry["url"] == f"/api/tracks/{boat['id']}"
    assert entry["audio_url"] == f"/api/tracks/{boat['id']}/audio"
    whole = add(http, brief, tracks["mix3_loop1.ogg"]["id"])
    assert (whole["position"], whole["start"], whole["end"], whole["note"]) == (2, None, None, "")

    detail = BriefDetail.model_validate(http.get(f"/api/briefs/{brief['id']}").json())
    assert detail.count == 2 and [e.id for e in detail.entries] == [entry["id"], whole["id"]]
    assert detail.entries[0].model_dump() == entry
    assert next(b for b in http.get("/api/briefs").json() if b["id"] == brief["id"])["count"] == 2

    url = f"/api/briefs/{brief['id']}/entries/{entry['id']}"
    moved = http.patch(url, json={"start": 20}).json()
    assert (moved["start"], moved["end"], moved["note"]) == (20.0, 40.0, "under the titles")
    moved = http.patch(url, json={"end": 10_000, "note": "longer"}).json()
    assert moved["end"] == pytest.approx(boat["duration"]) and moved["note"] == "longer"
    assert http.patch(url, json={}).json() == moved
    whole_again = http.patch(url, json={"start": None, "end": None}).json()  # null: taken away
    assert (whole_again["start"], whole_again["end"], whole_again["note"]) == (None, None, "longer")
    assert http.patch(url, json={"start": 5}).json()["end"] is None  # the other stays away

    assert http.delete(url).status_code == 204
    left = http.get(f"/api/briefs/{brief['id']}").json()["entries"]
    assert [(e["id"], e["position"]) for e in left] == [(whole["id"], 1)]
    error_of(http.delete(url), 404, "entry_id")
    error_of(http.patch(url, json={"note": "x"}), 404, "entry_id")


def test_bad_entries_are_422_naming_the_field(http, tracks):
    boat = tracks["JDruid-Trip_on_the_Funny_Boat.ogg"]
    brief = new_brief(http, "Reel 4 bad input")
    url = f"/api/briefs/{brief['id']}/entries"
    message = error_of(http.post(url, json={"track": 99999}), 422, "track")
    assert message == "track: no track 99999 in the catalog"
    message = error_of(http.post(url, json={"track": boat["id"], "start": 5000}), 422, "start")
    assert message.startswith("in point 5000 s is past the end of") and boat["path"] in message
    message = error_of(
        http.post(url, json={"track": boat["id"], "start": 30, "end": 20}), 422, "end"
    )
    assert message == "out point (20 s) must be after the in point (30 s)"
    error_of(http.post(url, json={"track": boat["id"], "start": -1}), 422, "start")
    error_of(http.post(url, json={"track": "boat"}), 422, "track")
    error_of(http.post(url, json={"track": 0}), 422, "track")
    error_of(http.post(url, json={}), 422, "track")
    error_of(http.post(url, json={"track": boat["id"], "note": "x" * 2001}), 422, "note")
    assert http.get(f"/api/briefs/{brief['id']}").json()["entries"] == []  # nothing added

    entry = add(http, brief, boat["id"], start=10, end=20)
    at = f"{url}/{entry['id']}"
    assert "past the end" in error_of(http.patch(at, json={"start": 5000}), 422, "start")
    assert "after the in point" in error_of(http.patch(at, json={"start": 25}), 422, "end")
    error_of(http.patch(at, json={"stop": 25}), 422, "stop")
    assert http.get(f"/api/briefs/{brief['id']}").json()["entries"][0] == entry


def test_reordering_needs_every_entry_once(http, tracks):
    brief = new_brief(http, "Reel 5 order")
    ids = [add(http, brief, tracks[n]["id"])["id"] for n in sorted(tracks) if "loop" in n]
    assert len(ids) == 3
    url = f"/api/briefs/{brief['id']}"
    done = http.patch(url, json={"order": [ids[2], ids[0], ids[1]]})
    entries = done.json()["entries"]
    assert [(e["id"], e["position"]) for e in entries] == [(ids[2], 1), (ids[0], 2), (ids[1], 3)]
    for bad in ([ids[0], ids[1]], [ids[0], ids[0], ids[1]], [*ids, 99999], [ids[0], ids[1], 99]):
        message = error_of(http.patch(url, json={"order": bad}), 422, "order")
        assert message.startswith("order: list each of the brief's entries once")
    error_of(http.patch(url, json={"order": ["first"]}), 422, "order.0")
    # a refused order leaves the rest of the request undone too
    error_of(http.patch(url, json={"name": "Reel 5 renamed", "order": ids[:1]}), 422, "order")
    after = http.get(url).json()
    assert after["name"] == "Reel 5 order" and [e["id"] for e in after["entries"]] == [
        ids[2],
        ids[0],
        ids[1],
    ]
    # and a refused name leaves a valid order undone: one transaction
    new_brief(http, "Reel 5 taken")
    error_of(http.patch(url, json={"name": "reel 5 TAKEN", "order": ids}), 422, "name")
    after = http.get(url).json()
    assert after["name"] == "Reel 5 order"
    assert [e["id"] for e in after["entries"]] == [ids[2], ids[0], ids[1]]


def test_an_unknown_brief_is_404_everywhere(http, tracks):
    track = tracks["mix3_loop1.ogg"]["id"]
    for response in (
        http.get("/api/briefs/99999"),
        http.patch("/api/briefs/99999", json={"name": "x"}),
        http.delete("/api/briefs/99999"),
        http.post("/api/briefs/99999/entries", json={"track": track}),
        http.patch("/api/briefs/99999/entries/1", json={"note": "x"}),
        http.delete("/api/briefs/99999/entries/1"),
        http.get("/api/briefs/99999/export"),
    ):
        assert error_of(response, 404, "brief_id") == "no brief 99999 in the catalog"
    error_of(http.get("/api/briefs/0"), 422, "brief_id")
    error_of(http.get("/api/briefs/reel"), 422, "brief_id")


def test_exports_have_timecode_notes_and_windows(http, tracks):
    import opentimelineio as otio

    boat = tracks["JDruid-Trip_on_the_Funny_Boat.ogg"]
    loop = tracks["mix3_loop2.ogg"]
    brief = new_brief(http, "Reel 6 export/ü")
    add(http, brief, loop["id"], start=3, end=9.5, note='quiet, "tense"', by="Bo")
    add(http, brief, boat["id"], start=12.4, end=40, note="titles")
    url = f"/api/briefs/{brief['id']}/export"

    response = http.get(url, params={"format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Reel-6-export.csv"')
    assert "filename*=UTF-8''Reel%206%20export%2F%C3%BC.csv" in disposition
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["path"] for r in rows] == [loop["path"], boat["path"]]
    assert [(r["in (25 fps)"], r["out (25 fps)"]) for r in rows] == [
        ("00:00:03:00", "00:00:09:13"),  # 9.5 s: 237.5 frames, to the even 238
        ("00:00:12:10", "00:00:40:00"),
    ]
    assert [r["note"] for r in rows] == ['quiet, "tense"', "titles"]
    at24 = list(csv.DictReader(io.StringIO(http.get(url, params={"fps": 24}).text)))
    assert at24[1]["in (24 fps)"] == "00:00:12:10"  # 12.4 s: 297.6 frames at 24

    # timecode at the rates editors use: 23.976 counts 24 frames a second of 1001/24000 s;
    # 29.97 drop frame skips frame numbers 0 and 1 each minute but every tenth
    rows = lambda fps: list(csv.DictReader(io.StringIO(http.get(url, params={"fps": fps}).text)))  # noqa: E731
    assert rows("23.976")[1]["in (23.976 fps)"] == "00:00:12:09"  # 12.4 s: 297.3 frames
    assert rows("29.97")[1]["in (29.97 fps)"] == "00:00:12;12"  # 371.6 frames
    assert rows("29.97")[0]["out (29.97 fps)"] == "00:00:09;15"  # 284.7 frames

    # playlists play the server's audio, each from its in to its out point
    m3u = http.get(url, params={"format": "m3u"})
    assert m3u.headers["content-type"].startswith("audio/x-mpegurl")
    lines = m3u.text.splitlines()
    assert lines[0] == "#EXTM3U" and lines[1] == "#PLAYLIST:cuefinder: Reel 6 export/ü"
    audio = f"{str(http.base_url).rstrip('/')}/api/tracks/{boat['id']}/audio"
    assert "#EXTVLCOPT:start-time=12.40" in lines and audio in lines
    assert http.get(audio).status_code == 200
    xspf = http.get(url, params={"format": "xspf"})
    assert xspf.headers["content-type"].startswith("application/xspf+xml")
    ns = {"x": "http://xspf.org/ns/0/", "vlc": "http://www.videolan.org/vlc/playlist/ns/0/"}
    playlist = ET.fromstring(xspf.content)  # a strict parser: malformed XML raises
    listed = playlist.findall("x:trackList/x:track", ns)
    assert [t.findtext("x:location", namespaces=ns) for t in listed][1] == audio
    assert [t.findtext("x:annotation", namespaces=ns) for t in listed] == [
        'quiet, "tense"',
        "titles",
    ]
    assert [o.text for o in listed[1].findall("x:extension/vlc:option", ns)] == [
        "start-time=12.40", "stop-time=40.00"]  # fmt: skip

    # CMX 3600 at 29.97 drop frame, read back by two parsers
    import pycmx

    edl = http.get(url, params={"format": "edl", "fps": "29.97"})
    assert edl.status_code == 200 and "FCM: DROP FRAME" in edl.text.splitlines()[1]
    events = pycmx.parse_cmx3600(io.StringIO(edl.text)).events
    edits = [e.edits[0] for e in events]
    assert [(e.source_in, e.source_out) for e in edits] == [
        ("00:00:03;00", "00:00:09;15"), ("00:00:12;12", "00:00:39;29")]  # fmt: skip
    assert [e.record_in for e in edits] == ["00:00:00;00", "00:00:06;15"]  # back to back
    assert all(e.channels.audio and not e.channels.video for e in edits)
    assert [e.clip_name for e in edits] == ["1. mix3_loop2", "2. Trip on the Funny Boat"]
    back = otio.adapters.read_from_string(edl.text, "cmx_3600", rate=30000 / 1001)
    clips = list(back.find_clips())
    assert clips[1].source_range.start_time.to_seconds() == pytest.approx(12.4, abs=0.02)
    # the notes as locators (OTIO's reader reads them at non-drop rates only)
    at25 = http.get(url, params={"format": "edl"}).text
    assert "FCM: NON-DROP FRAME" in at25
    clips = list(otio.adapters.read_from_string(at25, "cmx_3600", rate=25).find_clips())
    assert [m.name for c in clips for m in c.markers] == ['QUIET, "TENSE"', "TITLES"]

    # Final Cut Pro 7 XML (Premiere, Resolve): read back by OpenTimelineIO's FCP adapter
    xmeml = http.get(url, params={"format": "xml", "fps": "25"})
    assert xmeml.status_code == 200 and ET.fromstring(xmeml.content).tag == "xmeml"
    clips = list(otio.adapters.read_from_string(xmeml.text, "fcp_xml").find_clips())
    assert [c.media_reference.target_url for c in clips] == [
        Path(loop["path"]).as_uri(), Path(boat["path"]).as_uri()]  # fmt: skip
    assert clips[1].source_range.start_time.to_seconds() == pytest.approx(12.4, abs=0.04)
    assert [m.name for c in clips for m in c.markers] == ['quiet, "tense"', "titles"]

    # Final Cut Pro XML: strict parse, every clip on the spine at its place and in point
    fcp = http.get(url, params={"format": "fcpxml", "fps": "23.976"})
    assert fcp.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>')
    root = ET.fromstring(fcp.content)
    assert root.tag == "fcpxml" and root.get("version") == "1.10"
    assert root.find("resources/format").get("frameDuration") == "1001/24000s"
    assets = {a.get("id"): a for a in root.iter("asset")}
    spine = root.findall("library/event/project/sequence/spine/asset-clip")
    assert [assets[c.get("ref")].find("media-rep").get("src") for c in spine] == [
        Path(loop["path"]).as_uri(), Path(boat["path"]).as_uri()]  # fmt: skip

    def seconds(text):
        return float(Fraction(text.removesuffix("s")))

    assert seconds(spine[1].get("start")) == pytest.approx(12.4, abs=1 / 24)
    assert seconds(spine[1].get("offset")) == pytest.approx(seconds(spine[0].get("duration")))
    assert seconds(spine[1].get("duration")) == pytest.approx(27.6, abs=1 / 24)
    for clip in spine:  # times are whole frames
        for key in ("offset", "start", "duration"):
            assert (
                Fraction(clip.get(key).removesuffix("s")) * Fraction(24000, 1001)
            ).denominator == 1
    assert [c.find("marker").get("value") for c in spine] == ['quiet, "tense"', "titles"]

    response = http.get(url, params={"format": "otio"})
    assert response.headers["content-disposition"].startswith('attachment; filename="Reel-6')
    timeline = otio.adapters.read_from_string(response.text, "otio_json")
    clips = list(timeline.tracks[0].find_clips())
    assert timeline.name == "cuefinder: Reel 6 export/ü"
    assert [c.media_reference.target_url for c in clips] == [
        Path(loop["path"]).as_uri(),
        Path(boat["path"]).as_uri(),
    ]
    assert clips[1].source_range.start_time.to_seconds() == pytest.approx(12.4)
    assert clips[1].source_range.duration.to_seconds() == pytest.approx(27.6)
    assert [c.metadata["cuefinder"]["note"] for c in clips] == ['quiet, "tense"', "titles"]

    error_of(http.get(url, params={"format": "docx"}), 422, "format")
    assert "23.976" in error_of(http.get(url, params={"fps": 0}), 422, "fps")
    error_of(http.get(url, params={"fps": "29.96"}), 422, "fps")
    error_of(http.get(url, params={"fps": 121}), 422, "fps")


def test_marker_lists_for_resolve_and_premiere_over_http(http, tracks):
    """The brief as a marker list: Resolve's marker EDL (at 01:00:00:00 unless start_tc
    says otherwise) and Premiere's FCP 7 XML sequence of markers, named for the brief."""
    import opentimelineio as otio
    import pycmx

    boat = tracks["JDruid-Trip_on_the_Funny_Boat.ogg"]
    loop = tracks["mix3_loop2.ogg"]
    brief = new_brief(http, "Reel 8 spot/ü")
    add(http, brief, loop["id"], start=3, end=9.5, note="under | the chase\nloud")
    add(http, brief, boat["id"], start=12.4, end=40)
    url = f"/api/briefs/{brief['id']}/export"

    edl = http.get(url, params={"format": "markers", "fps": "29.97"})
    assert edl.status_code == 200 and edl.headers["content-type"].startswith("text/plain")
    disposition = edl.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Reel-8-spot.markers.edl"')
    assert "filename*=UTF-8''Reel%208%20spot%2F%C3%BC.markers.edl" in disposition
    lines = edl.text.splitlines()
    assert lines[:3] == ["TITLE: cuefinder: Reel 8 spot/ü", "FCM: DROP FRAME", ""]
    # 6.5 s is 194.8 frames at 29.97, to 195: the second cue's marker 195 frames later
    assert lines[3:] == [
        "001  001      V     C        01:00:00;00 01:00:00;01 01:00:00;00 01:00:00;01",
        "under / the chase loud |C:ResolveColorBlue |M:1. mix3_loop2 |D:195",
        "",
        "002  001      V     C        01:00:06;15 01:00:06;16 01:00:06;15 01:00:06;16",
        " |C:ResolveColorBlue |M:2. Trip on the Funny Boat |D:827",
        "",
    ]
    events = list(pycmx.parse_cmx3600(io.StringIO(edl.text)).events)
    assert [e.edits[0].record_in for e in events] == ["01:00:00;00", "01:00:06;15"]
    at23 = http.get(url, params={"format": "markers", "fps": "23.976", "start_tc": "00:00:00:00"})
    assert "002  001      V     C        00:00:06:12 00:00:06:13" in at23.text  # 155.8 -> 156

    xml = http.get(url, params={"format": "markers-xml", "fps": "25"})
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    assert 'filename="Reel-8-spot.markers.xml"' in xml.headers["content-disposition"]
    sequence = ET.fromstring(xml.content).find("project/children/sequence")
    assert [(m.findtext("in"), m.findtext("out")) for m in sequence.findall("marker")] == [
        ("0", "163"),  # at 25: 3 s is frame 75, 9.5 s frame 238 (237.5, to the even)
        ("163", "853"),  # 12.4 s to 40 s: frames 310 to 1000
    ]
    assert sequence.find("marker/comment").text == "under | the chase loud"
    back = otio.adapters.read_from_string(xml.text, "fcp_xml")
    assert [m.name for m in back.tracks.markers] == ["1. mix3_loop2", "2. Trip on the Funny Boat"]

    assert "start_tc" in error_of(
        http.get(url, params={"format": "markers", "start_tc": "1 hour"}), 422, "start_tc"
    )
    error_of(http.get(url, params={"format": "csv", "start_tc": "01:00:00:00"}), 422, "start_tc")
    error_of(http.get(url, params={"format": "markers", "start_tc": "0" * 12}), 422, "start_tc")


def test_the_read_only_page_has_a_stable_address(http):
    brief = new_brief(http, "Reel 7 shared")
    page = http.get(brief["url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js">' in page.text
    assert 'id="brief-view"' in page.text
    for missing in ("/briefs/99999", "/briefs/reel"):
        response = http.get(missing)  # the page still comes, to say there is no such brief
        assert response.status_code == 404 and 'id="brief-view"' in response.text


def test_the_schema_describes_the_brief_endpoints(http):
    paths = http.get("/api/openapi.json").json()["paths"]
    assert set(paths["/api/briefs"]) == {"get", "post"}
    assert set(paths["/api/briefs/{brief_id}"]) == {"get", "patch", "delete"}
    assert set(paths["/api/briefs/{brief_id}/entries"]) == {"post"}
    assert set(paths["/api/briefs/{brief_id}/entries/{entry_id}"]) == {"patch", "delete"}
    assert set(paths["/api/briefs/{brief_id}/export"]) == {"get"}
    assert "/briefs/{brief_id}" not in paths


def test_an_entry_whose_track_is_gone_keeps_its_place(http, tracks, library, catalog):
    """Runs last: it deletes a file of the library."""
    wav = next(n for n in tracks if n.endswith(".wav"))
    brief = new_brief(http, "Reel 8 gone")
    kept = add(http, brief, tracks["mix3_loop3.ogg"]["id"], note="stays")
    gone = add(http, brief, tracks[wav]["id"], start=1, end=3, note="its file goes")
    (library / wav).unlink()
    cuefinder("--catalog", catalog, "index", "-q", library)
    entries = http.get(f"/api/briefs/{brief['id']}").json()["entries"]
    assert entries[0] == kept
    assert entries[1]["path"] == tracks[wav]["path"] and entries[1]["note"] == "its file goes"
    assert (entries[1]["start"], entries[1]["end"]) == (1.0, 3.0)
    for field in ("track_id", "title", "artist", "duration", "url", "audio_url"):
        assert entries[1][field] is None, field
    assert entries[1]["id"] == gone["id"]
    rows = list(csv.DictReader(io.StringIO(http.get(f"/api/briefs/{brief['id']}/export").text)))
    assert [r["note"] for r in rows] == ["stays"]  # the export leaves out what cannot be played
    message = error_of(
        http.post(f"/api/briefs/{brief['id']}/entries", json={"track": tracks[wav]["id"]}),
        422,
        "track",
    )
    assert message == f"track: no track {tracks[wav]['id']} in the catalog"
