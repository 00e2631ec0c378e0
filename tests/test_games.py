"""Game soundtracks: fetch real Debian packages, label their tracks, round-trip the manifest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cuefinder.datasets import game_audio, games
from cuefinder.errors import DatasetError

TEST_PACKAGES = ("funnyboat", "scorched3d-data", "xblast-tnt-musics", "abe-data",
                 "chromium-bsu-data")  # fmt: skip


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh cache holding the small packages, reusing already downloaded .debs."""
    root = tmp_path_factory.mktemp("games")
    debs = games.DEFAULT_CACHE / "debs"
    if debs.is_dir():
        (root / "debs").symlink_to(debs.resolve(), target_is_directory=True)
    games.fetch_games(TEST_PACKAGES, root)
    return root


@pytest.fixture(scope="session")
def tracks(cache: Path) -> list[games.LabelledTrack]:
    return games.game_tracks(TEST_PACKAGES, cache)


def test_all_packages_have_a_music_location():
    packages = games.all_packages()
    assert len(packages) == 99
    assert packages[0] == "chromium-bsu-data"
    assert set(packages) == set(games._SOURCES) | set(games._listed())
    assert not set(games._SOURCES) & set(games._listed())
    assert set(games.SMALL_PACKAGES) <= set(packages)


def test_listed_packages_name_each_file_once_inside_its_music_folder():
    listed = games._listed()
    assert sum(len(files) for files in listed.values()) == 250
    archived = [e for files in listed.values() for e in files if "::" in e.path]
    assert len(archived) == 14
    for package, files in listed.items():
        names = [e.dest for e in files]
        assert len(set(names)) == len(names), package
        assert all(not n.startswith(("/", "..")) and "::" not in n for n in names), package


def test_funnyboat_track_has_the_game_genres(tracks):
    boat = [t for t in tracks if t.package == "funnyboat"]
    assert len(boat) == 1
    assert boat[0].genres == ("Comedy", "Action", "Adventure")
    assert boat[0].path.name == "JDruid-Trip_on_the_Funny_Boat.ogg"
    assert boat[0].title
    assert sf.info(boat[0].path).duration > 120


def test_only_music_is_kept(cache, tracks):
    abe = sorted(p.name for p in (cache / "music" / "abe-data").iterdir())
    assert abe == [games.MARKER, "game.ogg", "intro.ogg"]  # the .wav sound effects are left
    assert {t.package for t in tracks} == set(TEST_PACKAGES) - {"chromium-bsu-data"}
    assert tracks == sorted(tracks, key=lambda t: t.path)
    assert not list(cache.glob(".unpack-*"))


def test_drop_rows_exclude_tracks_but_files_are_fetched(cache, tracks):
    assert not [t for t in tracks if t.package == "chromium-bsu-data"]
    clips = sorted((cache / "music" / "chromium-bsu-data").glob("music_*.wav"))
    assert len(clips) == 2
    assert all(1 < sf.info(c).duration < 10 for c in clips)


def test_xblast_raw_becomes_wav_of_the_right_length(cache, tracks):
    folder = cache / "music" / "xblast-tnt-musics"
    wavs = sorted(folder.glob("xbsng*.wav"))
    assert [w.name for w in wavs] == [f"xbsng{i}.wav" for i in range(1, 7)]
    assert not list(folder.glob("*.raw"))
    raw_sizes = _raw_sizes(games._debs_in(cache / "debs", "xblast-tnt-musics")[0])
    for wav in wavs:
        info = sf.info(wav)
        assert (info.samplerate, info.channels, info.subtype) == (22050, 2, "PCM_16")
        assert info.frames == raw_sizes[wav.stem] // 2  # one byte per sample, two channels
        assert 15 < info.duration < 60
    assert {t.path for t in tracks if t.package == "xblast-tnt-musics"} == set(wavs)


def _raw_sizes(deb: Path) -> dict[str, int]:
    """Stem -> byte size of the .raw files listed in a .deb."""
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True)
    rows = [line.split() for line in listing.stdout.splitlines() if line.endswith(".raw")]
    return {Path(row[-1]).stem: int(row[2]) for row in rows}


def test_xblast_duration_matches_the_raw_size(tmp_path):
    raw = tmp_path / "xbsng9.raw"
    raw.write_bytes((np.arange(22050 * 2 * 2) % 256).astype(np.uint8).tobytes())  # 2 s
    wav = game_audio.raw_to_wav(raw)
    assert not raw.exists()
    assert sf.info(wav).frames == 22050 * 2
    data, _ = sf.read(wav, dtype="int16")
    assert data[0, 0] == -128 * 256 and data[0, 1] == -127 * 256


def test_manifest_round_trip(tracks, tmp_path):
    path = tmp_path / "sub" / "manifest.csv"
    games.write_manifest(tracks, path)
    assert path.read_text().splitlines()[0] == "path,group,genres,title"
    assert games.read_manifest(path) == tracks


def test_fetch_is_idempotent(cache):
    marker = cache / "music" / "funnyboat" / games.MARKER
    before = marker.stat().st_mtime_ns
    logged: list[str] = []
    assert games.fetch_games(["funnyboat"], cache, log=logged.append) == cache / "music"
    assert marker.stat().st_mtime_ns == before
    assert logged == []


def test_two_fetches_at_once_wait_for_each_other(cache, tmp_path):
    """A test run beside `cuefinder dataset games`: neither unpacks into, or cleans up,
    the other's work; a stale unpack of the package (a killed run) is cleaned up, another
    package's unpack in progress is left alone."""
    fresh = tmp_path / "cache"
    (fresh / "debs").mkdir(parents=True)
    deb = next((cache / "debs").glob("funnyboat_*.deb"))
    (fresh / "debs" / deb.name).symlink_to(deb.resolve())
    stale = fresh / ".unpack-funnyboat_killed"
    other = fresh / ".unpack-funnyboat-extra_busy"  # a longer name: another package's
    stale.mkdir(), other.mkdir()
    fetch = ("import sys; from cuefinder.datasets import games; "
             "games.fetch_games(['funnyboat'], sys.argv[1], log=print)")  # fmt: skip
    command = [sys.executable, "-c", fetch, str(fresh)]
    runs = [subprocess.Popen(command, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)]  # fmt: skip
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    unpacked = [out for out, _ in outputs if "funnyboat: unpacking" in out]
    assert len(unpacked) == 1  # the second found the first's marker under the lock
    done = fresh / "music" / "funnyboat"
    expected = sorted(p.name for p in (cache / "music" / "funnyboat").iterdir())
    assert sorted(p.name for p in done.iterdir()) == expected
    assert not stale.exists() and other.is_dir()


def test_unfetched_package_is_named(cache):
    with pytest.raises(DatasetError, match="pax-britannica-data"):
        games.game_tracks(["pax-britannica-data"], cache)
    with pytest.raises(DatasetError, match="no-such-game"):
        games.game_tracks(["no-such-game"], cache)


def test_bad_manifest_row_names_file_and_line(tracks, tmp_path):
    path = tmp_path / "manifest.csv"
    games.write_manifest(tracks[:2], path)
    with open(path, "a") as f:
        f.write("only,three,fields\n")
    with pytest.raises(DatasetError, match=r"manifest\.csv:4: expected 4 fields"):
        games.read_manifest(path)
    path.write_text("path,group,genres,title\n/a.ogg,game,,A\n")
    with pytest.raises(DatasetError, match=r"manifest\.csv:2:"):
        games.read_manifest(path)
    path.write_text("file,genres\n")
    with pytest.raises(DatasetError, match=r"manifest\.csv:1: expected header"):
        games.read_manifest(path)


def test_labels_follow_track_rules():
    assert games._labels("supertux-data", "forest/ghostforest2.ogg", "forest/ghostforest2.ogg") \
        == ("Family", "Animation", "Adventure", "Comedy", "Horror")  # fmt: skip
    assert games._labels("blobwars-data", "credits.ogg", "credits")[-1] == "Drama"
    rendered = games._labels("tecnoballz-data", "mon-lapin_reg-zbb.flac", "mon-lapin_reg-zbb.mod")
    assert rendered == ("Action", "Family", "Sci-Fi", "Comedy")
    assert games._labels("wesnoth-1.16-music", "silence.ogg", "silence.ogg") is None
    assert games._labels("freedroidrpg-data", "titles/GameLost.ogg",
                         "titles/GameLost.ogg")[-1] == "Drama"  # fmt: skip
