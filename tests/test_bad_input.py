"""One test per class of bad input: each is indexed (if valid audio) or failed with a reason.

Every test indexes the bad file beside a good one, so it also checks that the run
goes on, and it indexes into a catalog that already holds a track, so it checks
that nothing already stored changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cuefinder.catalog import Catalog
from cuefinder.pipeline.local import index

pytestmark = pytest.mark.slow  # not in `make test-fast`


@pytest.fixture
def setting(tmp_path, short_tracks, copy_of):
    """(catalog with one stored track, its row before, folder holding one good track)."""
    stored = copy_of(tmp_path / "stored", short_tracks[0])[0]
    catalog = Catalog(tmp_path / "c.db")
    index([stored], catalog, jobs=1, progress=False)
    before = catalog.db.execute("SELECT * FROM tracks").fetchall()
    folder = tmp_path / "incoming"
    copy_of(folder, short_tracks[2])
    yield catalog, before, folder
    catalog.close()


def _run(catalog, before, folder):
    """Index ``folder``; check the good track and the stored one; return {name: reason}."""
    report = index([folder], catalog, jobs=1, progress=False)
    assert report.indexed >= 1  # the good track beside the bad one went through
    assert catalog.db.execute("SELECT * FROM tracks WHERE id = 1").fetchall() == before
    return {Path(f.path).name: f.reason for f in report.failed}


def test_corrupt_file(setting, funnyboat):
    catalog, before, folder = setting
    data = bytearray(funnyboat.read_bytes()[:200_000])
    data[:4] = b"XXXX"  # no Ogg page can be found
    data[28:200_000:7] = bytes(len(range(28, 200_000, 7)))
    (folder / "corrupt.ogg").write_bytes(bytes(data))
    failed = _run(catalog, before, folder)
    assert "corrupt.ogg" in failed and "not decodable audio" in failed["corrupt.ogg"]


def test_truncated_file_is_indexed_from_what_remains(setting, funnyboat):
    catalog, before, folder = setting
    (folder / "cut.ogg").write_bytes(funnyboat.read_bytes()[: funnyboat.stat().st_size // 3])
    assert _run(catalog, before, folder) == {}
    assert 50 < catalog.track(str(folder / "cut.ogg")).duration < 75


def test_zero_byte_file(setting):
    catalog, before, folder = setting
    (folder / "empty.flac").touch()
    assert _run(catalog, before, folder) == {"empty.flac": "empty file (0 bytes)"}


def test_jpeg_named_mp3(setting):
    catalog, before, folder = setting
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(range(256)) * 64 + b"\xff\xd9"
    (folder / "cover.mp3").write_bytes(jpeg)
    failed = _run(catalog, before, folder)
    assert failed.keys() == {"cover.mp3"} and "not decodable audio" in failed["cover.mp3"]


def test_silence(setting):
    catalog, before, folder = setting
    soundfile.write(str(folder / "silence.wav"), np.zeros(44100 * 10, np.int16), 44100)
    failed = _run(catalog, before, folder)
    assert failed.keys() == {"silence.wav"} and failed["silence.wav"].startswith("silent")


def test_clip_under_a_second(setting, excerpt):
    catalog, before, folder = setting
    samples, rate = excerpt
    soundfile.write(str(folder / "blip.wav"), samples[: rate // 2], rate)
    failed = _run(catalog, before, folder)
    assert failed == {"blip.wav": "too short (0.50 s < 1 s)"}


def test_non_utf8_file_name_is_indexed_and_shown_escaped(setting, short_tracks):
    catalog, before, folder = setting
    raw = os.path.join(os.fsencode(folder), b"caf\xe9 theme.wav")
    shutil.copy(short_tracks[1], raw)
    assert _run(catalog, before, folder) == {}
    name = str(folder / "caf\\xe9 theme.wav")
    track = catalog.track(name)
    assert track is not None
    stored = catalog.db.execute("SELECT path_bytes FROM tracks WHERE path = ?", (name,))
    assert stored.fetchone()[0] == raw


def test_symlink_loops(setting):
    catalog, before, folder = setting
    (folder / "again").symlink_to(folder)
    (folder / "a.ogg").symlink_to(folder / "b.ogg")
    (folder / "b.ogg").symlink_to(folder / "a.ogg")
    failed = _run(catalog, before, folder)
    assert failed == {"a.ogg": "symbolic link loop", "b.ogg": "symbolic link loop"}
    assert catalog.count() == 2  # the looped folder was not indexed twice


def test_a_named_pipe_is_a_failure_and_never_opened(setting):
    """Opening a FIFO for reading waits for a writer for ever: it is listed, not opened."""
    catalog, before, folder = setting
    os.mkfifo(folder / "pipe.mp3")
    failed = _run(catalog, before, folder)
    assert failed == {"pipe.mp3": "not a regular file (a named pipe); not opened"}
    assert catalog.count() == 2


def test_a_file_longer_than_the_bound_stops_decoding_with_a_reason(short_tracks, funnyboat):
    from cuefinder.features import FeatureConfig
    from cuefinder.pipeline import stages

    task = stages.task_for(funnyboat)  # 3:05
    found = stages.decode(task, FeatureConfig(), max_seconds=60)
    assert isinstance(found, stages.Failure)
    assert found.reason == "longer than 1 min, the most a file may be (cut it, or index its parts)"
    assert isinstance(stages.decode(task, FeatureConfig(), max_seconds=200), stages.Decoded)


def test_unreadable_file(tmp_path, short_tracks):
    """Permission denied, checked as a user without the right (root reads everything)."""
    shared = Path(tempfile.mkdtemp(prefix="cuefinder-perm-"))
    try:
        os.chmod(shared, 0o777)
        for track in short_tracks[:2]:
            shutil.copy(track, shared / track.name)
        locked = shared / short_tracks[0].name
        os.chmod(locked, 0o000)
        os.chmod(shared / short_tracks[1].name, 0o644)
        command = [
            sys.executable,
            "-m",
            "cuefinder",
            "--catalog",
            str(shared / "c.db"),
            "index",
            "-q",
            "--jobs",
            "1",
            str(shared),
        ]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, "HOME": str(shared)}
        )
        assert done.returncode == 1, done.stderr
        assert f"failed: {locked}: permission denied" in done.stdout
        assert "indexed 1," in done.stdout
    finally:
        shutil.rmtree(shared, ignore_errors=True)
