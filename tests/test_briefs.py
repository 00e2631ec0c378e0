"""Briefs: named shortlists in the catalog, with in/out points and notes, handed to the edit."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import opentimelineio as otio
import pytest

from cuefinder.catalog import Catalog
from cuefinder.catalog import briefs as store
from cuefinder.errors import QueryError
from cuefinder.find import briefs
from cuefinder.pipeline.local import index


@pytest.fixture(scope="module")
def made(tmp_path_factory, short_tracks, funnyboat):
    """Five real tracks indexed once; each test gets a copy of the catalog."""
    folder = tmp_path_factory.mktemp("briefs")
    library = folder / "library"
    library.mkdir()
    for track in (*short_tracks, funnyboat):
        shutil.copy2(track, library / track.name)
    with Catalog(folder / "made.db") as db:
        index([library], db, jobs=1, progress=False)
        db.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return folder


@pytest.fixture
def catalog(made, tmp_path):
    shutil.copy(made / "made.db", tmp_path / "c.db")
    with Catalog(tmp_path / "c.db") as db:
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
