"""The tempo benchmark's reference (``bench/bench_tempo.py``): the speed, tempo and rows
per beat a tracker module states, read from its header, on headers made here and on two
real modules of the game packages (their .debs, fetched as ``cuefinder dataset games``
fetches them; no rendering needed); and libopenmpt's row-by-row playback (``make test``
installs openmpt123)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from cuefinder.datasets import games

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import bench_tempo as bench  # noqa: E402


def test_headers_made_here():
    it = bytearray(0xC0)
    it[:4], it[0x1E], it[0x32], it[0x33] = b"IMPM", 6, 4, 100
    assert bench.read_header(bytes(it)) == bench.Header("it", 4, 100, 6)
    assert bench.read_header(bytes(it)).bpm == pytest.approx(100.0)  # 24 * 100 / (4 * 6)
    s3m = bytearray(0x60)
    s3m[0x2C:0x30], s3m[0x31], s3m[0x32] = b"SCRM", 3, 133
    assert bench.read_header(bytes(s3m)).bpm == pytest.approx(266.0)  # 6 * 133 / 3
    xm = bytearray(b"Extended Module: " + bytes(80))
    struct.pack_into("<HH", xm, 76, 6, 121)
    assert bench.read_header(bytes(xm)) == bench.Header("xm", 6, 121)
    mod = bytearray(1084 + 64 * 4 * 4)
    mod[952], mod[1080:1084] = 0, b"M.K."
    assert bench.read_header(bytes(mod)) == bench.Header("mod", 6, 125)  # ProTracker's default
    mod[1084 + 4 + 2], mod[1084 + 4 + 3] = 0x0F, 4  # channel 2 of the first row: F04
    mod[1084 + 12 + 2], mod[1084 + 12 + 3] = 0x0F, 140  # channel 4: F8C, a tempo
    assert bench.read_header(bytes(mod)) == bench.Header("mod", 4, 140)
    assert bench.read_header(b"not a module" * 200) is None


@pytest.fixture(scope="module")
def real_modules() -> dict[str, bytes]:
    found = {}
    for package, origin in (("ballz-data", "finalman-quickie.xm"), ("bugsquish", "corpses.mod")):
        deb = games._deb_for(package, games.DEFAULT_CACHE / "debs", lambda _: None)
        found.update(bench._deb_members(deb, {origin: Path(origin)}))
    return found


def test_real_headers(real_modules):
    assert bench.read_header(real_modules["finalman-quickie.xm"]) == bench.Header("xm", 3, 120)
    # a .mod states no tempo: its first row sets speed 3 (at ProTracker's tempo 125)
    assert bench.read_header(real_modules["corpses.mod"]) == bench.Header("mod", 3, 125)


def test_playback_follows_the_rows(real_modules):
    lib = bench._Lib.load()
    steady = lib.play(real_modules["finalman-quickie.xm"], 600.0)
    assert list(steady.states) == [(3, 120)] and steady.seconds == pytest.approx(96.2, abs=1)
    changing = lib.play(real_modules["corpses.mod"], 600.0)  # ends slower: Fxx mid-song
    (speed, tempo), held = changing.states.most_common(1)[0]
    assert (speed, tempo) == (3, 125) and held < bench.STEADY * changing.seconds
    assert lib.play(b"not a module" * 200, 10.0) is None
