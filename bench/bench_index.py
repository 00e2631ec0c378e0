"""Index throughput: seconds of audio tagged per wall-clock second, beside the decode+log-mel floor.

    python bench/bench_index.py [FILES_OR_FOLDERS...] [--jobs N]

Default input: the demo game soundtracks (fetched by `make demo`). Both runs
use the same files and the same number of worker processes; the index run
includes discovery, hashing, the CNN and the catalog writes into a fresh
catalog.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

from cuefinder import audio
from cuefinder.catalog import Catalog
from cuefinder.features import FeatureConfig, stream_log_mel
from cuefinder.model import checkpoint
from cuefinder.pipeline import stages
from cuefinder.pipeline.local import index

DEMO = (
    "funnyboat",
    "scorched3d-data",
    "xblast-tnt-musics",
    "abe-data",
    "pax-britannica-data",
    "drascula-music",
)


def floor_one(args: tuple[str, FeatureConfig]) -> float:
    """Decode and log-mel one file; return its seconds of audio."""
    import torch

    torch.set_num_threads(1)
    path, config = args
    samples = 0

    def counted():
        nonlocal samples
        for chunk in audio.stream(path, sample_rate=config.sample_rate):
            samples += len(chunk)
            yield chunk

    try:
        for _ in stream_log_mel(counted(), config):
            pass
    except Exception:
        return 0.0
    return samples / config.sample_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args()
    if not args.paths:
        from cuefinder.train import games

        music = games.fetch_games(DEMO)
        args.paths = [music / p for p in DEMO]
    files = [t.path for t in stages.discover(args.paths).files]
    config = checkpoint.read_info(checkpoint.default_model_path()).features
    print(f"{len(files)} files, {args.jobs} worker processes, {os.cpu_count()} cores")

    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        seconds = sum(pool.map(floor_one, [(f, config) for f in files], chunksize=1))
    floor_wall = time.monotonic() - started

    with tempfile.TemporaryDirectory() as tmp, Catalog(Path(tmp) / "bench.db") as catalog:
        report = index(args.paths, catalog, jobs=args.jobs, progress=False)
    print(
        f"audio: {seconds / 60:.1f} min in {len(files)} files "
        f"({report.indexed} indexed, {len(report.failed)} failed)"
    )
    print(f"{'stage':<28}{'wall s':>9}{'x real time':>14}")
    print(f"{'decode + log-mel (floor)':<28}{floor_wall:>9.1f}{seconds / floor_wall:>14.0f}")
    print(
        f"{'full index (default model)':<28}{report.wall_seconds:>9.1f}"
        f"{report.audio_seconds / report.wall_seconds:>14.0f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
