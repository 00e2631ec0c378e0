"""Training cost: the feature-cache build rate, then the default recipe from cached features.

    python bench/bench_train.py [MANIFEST] [--tracks N] [--skip-train]

Default manifest: the game soundtracks (`cuefinder dataset games`). The cache
build runs on the first N tracks into a fresh folder (cold), then reads them
back (warm); the training run uses the user's feature cache, filled first if
needed, so its time is training alone plus loading cached features.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from cuefinder.datasets.manifest import read_manifest
from cuefinder.features import FeatureConfig
from cuefinder.train import featcache, trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", nargs="?", type=Path)
    parser.add_argument("--tracks", type=int, default=60)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--out", type=Path, help="keep the trained model here")
    args = parser.parse_args()
    if args.manifest is None:
        from cuefinder.datasets import games

        args.manifest = Path(tempfile.mkdtemp()) / "games.csv"
        games.write_manifest(games.game_tracks(), args.manifest)
    rows = read_manifest(args.manifest)[: args.tracks]
    config = FeatureConfig()
    print(f"{os.cpu_count()} cores; feature cache on {len(rows)} tracks of {args.manifest}")
    with tempfile.TemporaryDirectory() as cache:
        started = time.monotonic()
        values = featcache.build([r.path for r in rows], config, cache_dir=Path(cache),
                                 progress=False)  # fmt: skip
        cold = time.monotonic() - started
        started = time.monotonic()
        featcache.build([r.path for r in rows], config, cache_dir=Path(cache), progress=False)
        warm = time.monotonic() - started
    seconds = sum(v.shape[1] for v in values if not isinstance(v, str)) / config.frames_per_second
    print(f"{'feature cache':<24}{'wall s':>8}{'tracks/s':>10}{'x real time':>13}")
    for name, wall in (("cold (decode + log-mel)", cold), ("warm (read back)", warm)):
        print(f"{name:<24}{wall:>8.1f}{len(rows) / wall:>10.1f}{seconds / wall:>13.0f}")
    if args.skip_train:
        return
    featcache.build([r.path for r in read_manifest(args.manifest)], config, progress=False)
    out = args.out or Path(tempfile.mkdtemp()) / "bench.safetensors"
    started = time.monotonic()
    summary = trainer.train(args.manifest, out, trainer.TrainConfig(), progress=False)
    print(f"default recipe from cached features: {time.monotonic() - started:.0f} s wall")
    print(summary)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
