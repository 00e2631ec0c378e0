"""Indexing real audio into a real catalog: incremental, resumable, re-tagging."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from cuefinder.catalog import Catalog
from cuefinder.features import FeatureConfig
from cuefinder.find.rank import search
from cuefinder.model import checkpoint
from cuefinder.model.cnn import GenreCNN
from cuefinder.model.config import ModelConfig
from cuefinder.pipeline import stages
from cuefinder.pipeline.local import index

pytestmark = pytest.mark.slow  # not in `make test-fast`


def _index(folder, catalog, **kw):
    results = []
    report = index([folder], catalog, jobs=1, progress=False, on_result=results.append, **kw)
    return report, results


@pytest.fixture
def library(tmp_path, short_tracks, funnyboat, copy_of):
    folder = tmp_path / "library"
    copy_of(folder, *short_tracks, funnyboat)
    return folder


def test_index_stores_every_track_with_all_its_scores(library, tmp_path):
    with Catalog(tmp_path / "c.db") as catalog:
        report, _ = _index(library, catalog)
        assert report.indexed == 5 and not report.failed
        tracks = list(catalog.tracks())
        assert sorted(Path(t.path).name for t in tracks) == sorted(
            p.name for p in library.iterdir()
        )
        heard = checkpoint.load_heard(checkpoint.read_info(checkpoint.default_model_path()))
        for track in tracks:
            expected = max(1, int(track.duration / track.segment_seconds))
            assert track.segment_scores.shape == (expected, len(track.genres))
            # the network's mean over segments, averaged with the regressions on what
            # musicnn's tagger hears (the built-in model carries them)
            network = track.segment_scores.mean(0)
            fused = (network + heard.probabilities(track.sound_embedding)) / 2
            assert np.allclose(track.track_scores, fused, atol=2e-3)
            assert abs(np.linalg.norm(track.embedding) - 1) < 1e-4
        boat = catalog.track("JDruid-Trip_on_the_Funny_Boat.ogg")
        assert boat.title == "Trip on the Funny Boat" and abs(boat.duration - 184.88) < 0.05


def test_reindex_skips_unchanged_retags_changed_and_marks_vanished(library, tmp_path, funnyboat):
    with Catalog(tmp_path / "c.db") as catalog:
        _index(library, catalog)
        report, results = _index(library, catalog)
        assert (report.indexed, report.unchanged, results) == (0, 5, [])

        wavs = sorted(library.glob("*.wav"))
        os.utime(wavs[0], (time.time() + 100, time.time() + 100))  # touched, same bytes
        shutil.copyfile(funnyboat, wavs[1])  # new content under an old name
        vanished = sorted(library.glob("*.ogg"))[0]
        kept = vanished.read_bytes()
        vanished.unlink()
        report, results = _index(library, catalog)
        kinds = {Path(r.path).name: type(r).__name__ for r in results}
        assert kinds == {wavs[0].name: "Unchanged", wavs[1].name: "Analysis"}
        assert report.missing == 1 and report.unchanged == 3
        assert catalog.track(str(wavs[1])).duration > 180
        assert catalog.count() == 4 and catalog.count(include_missing=True) == 5
        assert str(vanished) not in {r.path for r in search("action", catalog, limit=50)}

        vanished.write_bytes(kept)
        os.utime(vanished, (1, 1))
        report, results = _index(library, catalog)
        assert catalog.count() == 5 and [type(r).__name__ for r in results] == ["Unchanged"]


def test_a_new_model_retags_everything_and_search_follows_its_genres(library, tmp_path):
    torch.manual_seed(3)
    other = tmp_path / "other.safetensors"
    genres = ("Western", "Film-Noir", "Romance")
    checkpoint.save(
        other,
        GenreCNN(ModelConfig(genres=genres, channels=(8, 8, 16, 16), embedding_dim=16)),
        FeatureConfig(),
    )
    with Catalog(tmp_path / "c.db") as catalog:
        _index(library, catalog)
        report, _ = _index(library, catalog, model=other)
        assert report.indexed == 5
        assert catalog.active_model().genres == genres
        assert all(t.genres == genres for t in catalog.tracks())
        assert search("cowboy film noir", catalog)[0].genres.keys() == {"Western", "Film-Noir"}
        # SQL readers see one column per genre of the active model
        cursor = catalog.db.execute('SELECT path, "Film-Noir" FROM track_genres ORDER BY 2 DESC')
        assert [c[0] for c in cursor.description] == ["path", "Film-Noir"]
        rows = cursor.fetchall()
        scores = {t.path: t.genre_scores()["Film-Noir"] for t in catalog.tracks()}
        assert len(rows) == 5 and rows[0][0] == max(scores, key=scores.get)
        assert all(abs(value - scores[path]) <= 5e-5 for path, value in rows)


def test_parallel_workers_give_the_same_scores_as_one_process(library, tmp_path):
    with Catalog(tmp_path / "one.db") as one, Catalog(tmp_path / "two.db") as two:
        index([library], one, jobs=1, progress=False)
        index([library], two, jobs=2, progress=False)
        a = {t.path: t.track_scores for t in one.tracks()}
        b = {t.path: t.track_scores for t in two.tracks()}
        assert a.keys() == b.keys()
        assert all(np.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_with_workers_the_coordinator_never_loads_torch(library, tmp_path):
    """The model is checked in a worker that loads it anyway: the process that walks,
    plans and stores (the CLI's) does not import torch, which costs it a second or more
    before any work starts."""
    script = (
        "import sys; from cuefinder.catalog import Catalog; "
        "from cuefinder.pipeline.local import index; "
        f"r = index([{str(library)!r}], Catalog({str(tmp_path / 'c.db')!r}), jobs=2, "
        "progress=False); print(r.indexed, 'torch' in sys.modules)"
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.split() == ["5", "False"], done.stderr


def test_sigkill_mid_run_then_rerun_stores_every_track_exactly_once(tmp_path, short_tracks):
    folder = _copies(tmp_path / "many", short_tracks, 6)
    db = tmp_path / "kill.db"
    command = [sys.executable, "-m", "cuefinder", "--catalog", str(db), "index", "-q", str(folder)]
    process = subprocess.Popen(command, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _stored(db) < 3:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    stored_at_kill = _stored(db)
    assert 3 <= stored_at_kill < 24, "the kill must land mid-run"

    subprocess.run(command, check=True)
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = raw.execute(
            "SELECT path, track_scores, segment_scores, embedding, duration FROM tracks"
        ).fetchall()
    paths = [r[0] for r in rows]
    assert sorted(paths) == sorted(str(p) for p in folder.iterdir())  # each exactly once
    width = len(checkpoint.read_info(checkpoint.DEFAULT_MODEL).genres)
    for _, scores, segments, embedding, duration in rows:
        assert len(scores) == 4 * width and len(segments) % (2 * width) == 0 and segments
        assert len(embedding) > 0 and duration > 1


def _copies(folder: Path, tracks: list[Path], times: int) -> Path:
    """A folder holding ``times`` renamed copies of each track (distinct catalog entries)."""
    folder.mkdir()
    for n in range(times):
        for track in tracks:
            shutil.copy(track, folder / f"{n}-{track.name}")
    return folder


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1) as raw:
            return raw.execute("SELECT count(*) FROM tracks").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_one_bad_result_does_not_disturb_a_stored_track(library, tmp_path):
    with Catalog(tmp_path / "c.db") as catalog:
        _index(library, catalog)
        victim = sorted(library.glob("*.ogg"))[0]
        before = catalog.track(str(victim))
        victim.write_bytes(b"\x00" * 5000)  # the file is damaged after it was indexed
        report, _ = _index(library, catalog)
        assert [Path(f.path).name for f in report.failed] == [victim.name]
        after = catalog.track(str(victim))
        assert np.array_equal(before.track_scores, after.track_scores)
        assert catalog.failures()[0][0] == str(victim)


def test_two_hour_file_indexes_in_bounded_memory(tmp_path, excerpt):
    samples, rate = excerpt
    mono = samples.mean(axis=1).astype(np.int16)[::2]  # 22.05 kHz mono: still resampled
    long_file = tmp_path / "two-hours.wav"
    with soundfile.SoundFile(str(long_file), "w", rate // 2, 1, "PCM_16") as out:
        for _ in range(2 * 3600 // 20):  # the 20 s excerpt, 360 times
            out.write(mono)
    script = (
        "import resource, sys; from cuefinder.cli import main; code = main(sys.argv[1:]);"
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "--catalog",
            str(tmp_path / "c.db"),
            "index",
            "-q",
            "--jobs",
            "1",
            str(long_file),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    peak_mb = int(done.stdout.split("PEAK_KB")[1].split()[0]) / 1024
    assert peak_mb < 1536, done.stdout
    with Catalog(tmp_path / "c.db") as catalog:
        track = catalog.track(str(long_file))
        assert abs(track.duration - 7200) < 0.1
        assert track.segment_scores.shape[0] == int(7200 / track.segment_seconds)


def test_discover_breaks_symlink_loops_and_names_dangling_links(tmp_path, short_tracks):
    folder = tmp_path / "links"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(short_tracks[0], folder / "sub" / "a.wav")
    (folder / "sub" / "back").symlink_to(folder)  # a directory loop
    (folder / "x.ogg").symlink_to(folder / "y.ogg")
    (folder / "y.ogg").symlink_to(folder / "x.ogg")  # a file loop
    found = stages.discover([folder])
    assert [Path(t.path).name for t in found.files] == ["a.wav"]
    assert sorted((Path(f.path).name, f.reason) for f in found.failures) == [
        ("x.ogg", "symbolic link loop"),
        ("y.ogg", "symbolic link loop"),
    ]


def test_a_full_disk_stops_the_run_cleanly_and_keeps_what_was_stored(library, tmp_path):
    from cuefinder.errors import CatalogError

    with Catalog(tmp_path / "c.db") as catalog:
        first = sorted(library.iterdir())[0]
        index([first], catalog, jobs=1, progress=False)
        before = catalog.db.execute("SELECT * FROM tracks").fetchall()
        pages = catalog.db.execute("PRAGMA page_count").fetchone()[0]
        catalog.db.execute(f"PRAGMA max_page_count = {pages + 1}")  # the disk fills up
        with pytest.raises(CatalogError, match="database or disk is full"):
            index([library], catalog, jobs=1, progress=False)
        assert tuple(catalog.db.execute("PRAGMA integrity_check").fetchone()) == ("ok",)
        after = catalog.db.execute("SELECT * FROM tracks ORDER BY id").fetchall()
        assert after[: len(before)] == before  # whatever was stored is intact


def test_searches_run_while_the_indexer_writes(tmp_path, short_tracks):
    folder = _copies(tmp_path / "many", short_tracks, 5)
    db = tmp_path / "busy.db"
    command = [sys.executable, "-m", "cuefinder", "--catalog", str(db), "index", "-q", str(folder)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    seen = set()
    while process.poll() is None:
        if _stored(db) >= 1:
            with Catalog(db, create=False) as reader:
                seen.add(len(search("action", reader, limit=100)))
        time.sleep(0.05)
    assert process.returncode == 0
    assert len(seen) >= 2  # the reader saw the catalog grow, never blocked nor broken
    with Catalog(db, create=False) as reader:
        assert len(search("action", reader, limit=100)) == 20


def test_a_new_catalog_opens_while_another_connection_holds_its_write_lock(tmp_path):
    """Making the file WAL needs it to itself, and SQLite gives up at once (its busy timeout
    unused) when another connection holds the write lock: two indexers starting on a new
    catalog together failed so. The open waits for the lock instead."""
    path = tmp_path / "c.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE other (x)")  # a file in rollback mode, as SQLite makes one
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, holder.execute, ("COMMIT",))
    release.start()
    started = time.monotonic()
    with Catalog(path) as catalog:
        waited = time.monotonic() - started
        assert catalog.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert list(catalog.tracks()) == []
    release.join()
    holder.close()
    assert waited >= 0.4
