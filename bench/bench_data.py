"""Which games help: the same folds, trained on different subsets of the training games.

The 63 packages added for the quality push (``music_files.tsv``) tripled the number of
games. Do they help on music the model never heard? In each fold of the grouped
4-fold split that ``cuefinder evaluate`` uses, a method is trained on

- ``all``: every training game;
- ``original``: only the training games among the first 36 packages;
- ``no-puzzles``: every training game but the seven abstract puzzle games labelled
  Family only (weak labels: do they help or hurt?);

and every variant is scored on the same test tracks (all of the fold's test games, and
separately the original games' test tracks), pooled over folds, with 95% intervals from
resampling test games. ``mfcc-logreg`` always runs (seconds); ``--recipe`` adds a
network (one training per fold and variant).

    cuefinder dataset games -o games.csv
    python bench/bench_data.py --manifest games.csv [--recipe recipes/level.toml]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from cuefinder.datasets import games
from cuefinder.evaluate import baselines, metrics
from cuefinder.evaluate.metrics import BOOTSTRAP
from cuefinder.features import FeatureConfig
from cuefinder.train import dataset
from cuefinder.train.splits import make_folds
from cuefinder.train.trainer import TrainConfig, fit, model_config, predict

PUZZLES = ("biniax2-data", "blockout2", "enigma-data", "miceamaze", "pathological",
           "phlipple-data", "zaz-data")  # fmt: skip


def variants(train_groups: list[str]) -> dict[str, list[str]]:
    listed = set(games._listed())
    return {
        "all": train_groups,
        "original": [g for g in train_groups if g not in listed],
        "no-puzzles": [g for g in train_groups if g not in PUZZLES],
    }


def macro_interval(labels, scores, groups, draws: int = BOOTSTRAP, seed: int = 0):
    """Pooled macro ROC-AUC and its 95% interval, resampling groups."""
    names = sorted(set(groups))
    rows = [np.flatnonzero(np.array(groups) == g) for g in names]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(draws):
        pick = np.concatenate([rows[i] for i in rng.integers(len(names), size=len(names))])
        value = metrics.fast_macro(labels[pick], scores[pick])
        if value is not None:
            values.append(value)
    low, high = np.percentile(values, [2.5, 97.5])
    return metrics.fast_macro(labels, scores), low, high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--recipe", type=Path, help="also a network with this TOML recipe")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--cache", type=Path, help="feature cache folder")
    args = parser.parse_args()

    recipe = TrainConfig.from_toml(args.recipe) if args.recipe else TrainConfig()
    data, _ = dataset.load(args.manifest, FeatureConfig(), max_seconds=recipe.max_seconds,
                           cache_dir=args.cache, progress=False)  # fmt: skip
    folds = make_folds(data, "kfold", args.folds, 0, recipe.val_fraction)
    methods = ["mfcc-logreg"] + (["network"] if args.recipe else [])
    names = [f"{m}/{v}" for m in methods for v in ("all", "original", "no-puzzles")]
    scores = {n: np.full(data.labels.shape, np.nan, np.float32) for n in names}
    started = time.monotonic()
    for fold in folds:
        test = data.select(fold.test)
        rows = np.isin(np.array(data.groups), fold.test)
        for variant, groups in variants(list(fold.train)).items():
            train = data.select(groups)
            scores[f"mfcc-logreg/{variant}"][rows] = baselines.predict(
                baselines.fit("mfcc-logreg", train), test
            )
            if args.recipe:
                val = data.select(fold.val)
                config = model_config(data.genres, recipe.architectures[0], recipe)
                model, _ = fit(train, val, config, recipe, progress=False, seed=recipe.seed)
                scores[f"network/{variant}"][rows] = predict(
                    model, test.features, config.patch_frames, recipe.eval_patches
                )
        print(f"fold {fold.index + 1}/{len(folds)} done ({time.monotonic() - started:.0f} s)",
              flush=True)  # fmt: skip
    original = np.array([g not in games._listed() for g in data.groups])
    print(f"\nmacro ROC-AUC on held-out games, pooled over {len(folds)} grouped folds "
          f"({len(data)} tracks of {len(set(data.groups))} games; recipe "
          f"{args.recipe or '-'}); 95% intervals resample test games")  # fmt: skip
    print(f"{'trained on':<26} {'all test games':>26} {'original test games':>26}")
    groups = np.array(data.groups)
    for name in names:
        cells = []
        for keep in (np.ones(len(data), bool), original):
            value, low, high = macro_interval(data.labels[keep], scores[name][keep],
                                              list(groups[keep]))  # fmt: skip
            cells.append(f"{value:.3f} ({low:.3f}-{high:.3f})")
        print(f"{name:<26} {cells[0]:>26} {cells[1]:>26}")


if __name__ == "__main__":
    main()
