"""Shared fixtures: real game-soundtrack audio fetched once (cached outside the repo).

The small Debian packages are fetched by ``cuefinder.datasets.games`` into the
user cache (``$CUEFINDER_GAMES_CACHE`` or ~/.cache/cuefinder/games) and reused
across runs. Formats the set lacks are made by transcoding a real track.

Catalogs that several modules only read are indexed once per run (``five_tracks``,
``game_catalog``); a test that writes to one works on a copy (``copy_catalog``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from cuefinder.datasets import games

TEST_PACKAGES = (
    "funnyboat",
    "scorched3d-data",
    "xblast-tnt-musics",
    "abe-data",
    "chromium-bsu-data",
)


def train_tiny(music_root: Path, folder: Path, **recipe) -> tuple[Path, int]:
    """A tiny network trained on four games' real tracks in ``folder`` (with ``recipe``'s
    flags, e.g. ``heard=True``): (its model file, how many tracks taught it)."""
    from cuefinder.datasets.manifest import write_manifest
    from cuefinder.train import trainer
    from cuefinder.train.config import TrainConfig

    tiny = dict(channels=(4, 8, 8, 16), epochs=1, steps_per_epoch=2, batch_size=8)
    config = TrainConfig(**tiny, eval_patches=2, max_seconds=60, test_fraction=0.0, **recipe)
    tracks = games.game_tracks(TEST_PACKAGES[:4], music_root.parent)
    write_manifest(tracks, folder / "manifest.csv")
    path = folder / "model.safetensors"
    trainer.train(folder / "manifest.csv", path, config, cache_dir=folder / "cache", progress=False)
    return path, len(tracks)


@pytest.fixture(scope="session")
def music_root() -> Path:
    return games.fetch_games(TEST_PACKAGES)


@pytest.fixture(scope="session")
def funnyboat(music_root) -> Path:
    """One real three-minute Ogg Vorbis track (stereo, 44.1 kHz)."""
    return next((music_root / "funnyboat").rglob("*.ogg"))


@pytest.fixture(scope="session")
def short_tracks(music_root) -> list[Path]:
    """A few real tracks of 5 s to about a minute, for fast indexing tests."""
    found = sorted((music_root / "chromium-bsu-data").rglob("*.wav"))[:2]
    found += sorted((music_root / "scorched3d-data").rglob("*.ogg"))[:2]
    assert len(found) == 4, found
    return found


def _indexed(path: Path, sources: list[Path]) -> Path:
    """A catalog at ``path`` of ``sources`` (files or folders, at their own paths), its
    log checkpointed into the file (so that copying the files copies the catalog)."""
    from cuefinder.catalog import Catalog
    from cuefinder.pipeline.local import index

    with Catalog(path) as catalog:
        index(sources, catalog, jobs=1, progress=False)
        catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="session")
def five_tracks(tmp_path_factory, short_tracks, funnyboat) -> Path:
    """A catalog of ``short_tracks`` and ``funnyboat``, indexed once per run: read only
    (test_shards, test_repair's copies)."""
    path = tmp_path_factory.mktemp("five-tracks") / "catalog.db"
    return _indexed(path, [*short_tracks, funnyboat])


@pytest.fixture(scope="session")
def game_catalog(tmp_path_factory, music_root) -> Path:
    """A catalog of scorched3d's three loops and funnyboat's track, indexed once per run:
    read only (test_search, test_cli)."""
    sources = [music_root / "scorched3d-data", music_root / "funnyboat"]
    return _indexed(tmp_path_factory.mktemp("games") / "catalog.db", sources)


def copy_catalog(source: Path, target: Path) -> Path:
    """A writable copy of the catalog at ``source``: its database and the files beside it
    named after it (its log, the vector index; not SQLite's shared-memory index, which a
    connection rebuilds), renamed after ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for file in source.parent.iterdir():
        if file.name.startswith(source.name) and not file.name.endswith("-shm"):
            shutil.copy(file, target.with_name(target.name + file.name[len(source.name) :]))
    return target


@pytest.fixture(scope="session")
def excerpt(funnyboat, tmp_path_factory) -> tuple[np.ndarray, int]:
    """20 s of the funnyboat track as stereo int16 at 44.1 kHz (the transcoding source)."""
    with av.open(str(funnyboat)) as container:
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=44100)
        blocks = []
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                blocks.append(out.to_ndarray().reshape(-1, 2))
            if sum(len(b) for b in blocks) > 44100 * 40:
                break
    samples = np.concatenate(blocks)[44100 * 20 : 44100 * 40]
    return samples, 44100


def encode(
    samples: np.ndarray,
    rate: int,
    path: Path,
    codec: str,
    fmt: str | None = None,
    out_rate: int | None = None,
) -> Path:
    """Write stereo int16 ``samples`` to ``path`` with PyAV's FFmpeg encoders."""
    out_rate = out_rate or rate
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=out_rate, layout="stereo")
        resampler = av.AudioResampler(format=stream.format.name, layout="stereo", rate=out_rate)
        for start in range(0, len(samples), 4096):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[start : start + 4096].reshape(1, -1)),
                format="s16",
                layout="stereo",
            )
            frame.sample_rate = rate
            for out in resampler.resample(frame):
                container.mux(stream.encode(out))
        for out in resampler.resample(None):
            container.mux(stream.encode(out))
        container.mux(stream.encode(None))
    return path


FORMATS = {  # suffix: (codec, container format, output rate); Ogg Vorbis is the games' own
    "mp3": ("libmp3lame", "mp3", 44100),
    "flac": ("flac", "flac", 44100),
    "opus": ("libopus", "ogg", 48000),
    "wav": ("pcm_s16le", "wav", 44100),
    "m4a": ("aac", "ipod", 44100),
}


@pytest.fixture(scope="session")
def transcoded(excerpt, tmp_path_factory) -> dict[str, Path]:
    """The 20 s excerpt in every format the issue names, made from real audio."""
    samples, rate = excerpt
    folder = tmp_path_factory.mktemp("formats")
    out = {}
    for suffix, (codec, fmt, out_rate) in FORMATS.items():
        out[suffix] = encode(samples, rate, folder / f"excerpt.{suffix}", codec, fmt, out_rate)
    return out


@pytest.fixture
def copy_of():
    """Copy real files into a folder: copy_of(folder, *paths) -> list of new paths."""

    def copy(folder: Path, *paths: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copy2(p, folder / p.name)) for p in paths]

    return copy
