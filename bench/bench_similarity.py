"""How well "sounds like this" retrieves on games held out of training.

precision@10 where a hit is a track of the same game, measured the only honest way:
grouped K-fold over the games. In each fold the recipe's network is trained on the
other folds' games only; every space then embeds the held-out fold's tracks, and each
held-out track queries the other held-out tracks of its fold (the collection a user
with new music would have). Spaces, all in the same folds and on the same queries:

- ``recipe``: the trained network's embedding (its similarity head when it has one),
  mean over evenly spaced patches, unit length: what a catalog would store
  (``trainer.embed``);
- ``random``: the same network with untrained random weights (and the recipe's timbre
  statistics when it attaches them: the control that a
  learned space must beat);
- ``MFCC``: MFCC and spectral statistics (``baselines.track_statistics``), standardised
  over the fold's tracks, cosine similarity;
- ``MFCC+random``: the two controls fused (each unit length, concatenated): the
  cheap alternative to learning a space;
- ``MFCC+recipe``: MFCC statistics fused the same way with the trained network's
  embedding (what ``similar`` uses when a catalog stores both);
- ``sounds``: the penultimate layer of musicnn's MagnaTagATune tagger, mean over the 4
  evenly spaced 3 s patches that indexing already runs it on for the sound tags
  (``baselines.sound_embeddings``; trained on no game, no extra indexing cost);
- ``sounds+recipe``: that fused with the trained network's embedding (each unit length,
  concatenated: ``catalog.vectors.joined``, the space ``cuefinder similar`` searches), and
  ``sounds+random`` its control;
- ``likeness``: ``sounds+recipe`` with each block normalised by its spread within the
  fold's training games (``model.likeness``: fitted on the training tracks' embeddings,
  as ``likeness = true`` in a recipe makes a model carry it), and ``likeness+random``
  the same fitted over the random-weights network: its control;
- ``musicnn`` (``--musicnn``): the pretrained MSD musicnn's penultimate layer, mean over
  up to ``--musicnn-patches`` patches (trained on no game; 7x slower to index);
- ``chance``: the expected precision of a random ranking.

``--parts SECONDS`` adds queries made of a part of each held-out track (the middle
SECONDS), searched against the held-out tracks' ``likeness`` vectors as ``cuefinder
similar TRACK --from --to`` searches the catalog: ``part`` with the part's network
embedding alone (what a part query used before), ``part+sounds`` with what musicnn's
tagger hears of the part beside it (``find.similar.part_sound``: the file decoded again,
4 excerpts of 3 s spread over the part).

``--pool LEAST:MOST`` shapes each fold's held-out pool like the 18 kept-out games that
issue 10's goal was set on (about 9 tracks each): only the held-out games with at least
LEAST tracks, each cut to MOST tracks drawn at random (``--seed``); the other held-out
games are neither queries nor candidates. Every space is measured on that pool. With
``--folds 3 --pool 5:12`` on the game soundtracks a pool holds 14-17 games and 129-153
tracks (the kept-out set: 18 games, 170 tracks; chance 0.063 against 0.061 there).

``--save FILE`` writes each query's precision in every space (.npz, with its game and
path): two runs with the same manifest, ``--folds``, ``--seed`` and ``--pool`` have the
same folds and queries, so two recipes can be compared query by query.

Each figure comes with a 95% interval from resampling games (the unit of evidence),
and each learned space's difference from the controls with its own interval.

    cuefinder dataset games -o games.csv
    python bench/bench_similarity.py --manifest games.csv --recipe recipes/level-contrastive.toml

``--evaluation evaluation.json`` reads the same figures from a ``cuefinder evaluate`` run
instead of training again: that run scored every recipe's embedding, MFCC statistics
and each network with random weights in its own folds (``NAME``, ``mfcc``,
``NAME/random``); musicnn and the fused controls need the training run above.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from cuefinder.catalog.vectors import joined, unit_rows
from cuefinder.evaluate import baselines
from cuefinder.evaluate.metrics import group_bootstrap, same_group_precision
from cuefinder.features import FeatureConfig
from cuefinder.model import likeness
from cuefinder.train import dataset
from cuefinder.train.config import MAX_SECONDS
from cuefinder.train.dataset import LabelledSet
from cuefinder.train.splits import make_folds
from cuefinder.train.trainer import TrainConfig, embed, fit, model_config

K = 10
CONTROLS = ("random", "MFCC", "MFCC+random", "sounds", "sounds+random", "likeness+random")
CONTROLS += ("sounds+recipe", "musicnn")


def chance(groups: np.ndarray) -> np.ndarray:
    counts = Counter(groups.tolist())
    return np.array([(counts[g] - 1) / (len(groups) - 1) for g in groups])


def standardised(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, help="labelled tracks (to train and embed)")
    parser.add_argument("--evaluation", type=Path, help="read a cuefinder evaluate run instead")
    parser.add_argument(
        "--space",
        action="append",
        default=[],
        help="with --evaluation: a recipe name whose space to report",
    )
    parser.add_argument("--recipe", type=Path, help="TOML training recipe (default: built-in)")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--seed", type=int, default=0, help="fold assignment")
    parser.add_argument("--cache", type=Path, help="feature cache folder")
    parser.add_argument("--musicnn", action="store_true", help="also musicnn's embeddings")
    parser.add_argument("--musicnn-patches", type=int, default=10)
    shape = "held-out games of at least LEAST tracks, MOST of each"
    parser.add_argument("--pool", type=pool_shape, metavar="LEAST:MOST", help=shape)
    parser.add_argument("--save", type=Path, help="write each query's precision here (.npz)")
    parser.add_argument("--parts", type=float, default=0, metavar="SECONDS",
                        help="also query with the middle SECONDS of each track")  # fmt: skip
    args = parser.parse_args()
    if args.evaluation:
        return from_evaluation(args.evaluation, args.space)
    if not args.manifest:
        parser.error("give --manifest (to train) or --evaluation (to read a run)")

    import torch

    flags = {"epochs": args.epochs} if args.epochs else {}
    recipe = TrainConfig.from_toml(args.recipe, **flags) if args.recipe else TrainConfig(**flags)
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    data, _ = dataset.load(args.manifest, FeatureConfig(), max_seconds=recipe.max_seconds,
                           cache_dir=args.cache, progress=True)  # fmt: skip
    musicnn = musicnn_embeddings(args, data) if args.musicnn else None
    folds = make_folds(data, "kfold", args.folds, args.seed, recipe.val_fraction)
    sounds = baselines.sound_embeddings(data.paths)
    names = ("recipe", "random", "MFCC", "MFCC+random", "MFCC+recipe")
    names += ("sounds", "sounds+random", "sounds+recipe", "likeness", "likeness+random")
    spaces: dict[str, list[np.ndarray]] = {name: [] for name in names}
    if musicnn is not None:
        spaces["musicnn"] = []
    parts = middle_parts(data, args.parts) if args.parts else None  # prints its seconds
    if parts is not None:
        spaces["part"], spaces["part+sounds"] = [], []
    spaces["chance"] = []
    groups_out: list[np.ndarray] = []
    paths_out: list[str] = []
    started = time.monotonic()
    for fold in folds:
        sets = {side: data.select(getattr(fold, side)) for side in ("train", "val", "test")}
        test = sets["test"] if args.pool is None else shaped(sets["test"], *args.pool, args.seed)
        if len(set(test.groups)) < 2:
            few = f"fold {fold.index + 1} holds out fewer than 2 games of {args.pool[0]}+ tracks"
            sys.exit(f"bench_similarity: {few}; ask for fewer --folds or a smaller LEAST")
        groups = np.array(test.groups)
        config = model_config(data.genres, recipe.architectures[0], recipe)
        trained, _ = fit(sets["train"], sets["val"], config, recipe, progress=True,
                         seed=recipe.seed)  # fmt: skip
        torch.manual_seed(recipe.seed)
        from cuefinder.model import build

        untrained = build(config)
        if trained.config.timbre:  # the control carries the same timbre statistics
            from cuefinder.model.timbre import attach

            untrained = attach(untrained, sets["train"].features)
        learned = embed(trained, test.features, recipe.eval_patches)
        spaces["recipe"].append(same_group_precision(learned, groups, K))
        control = embed(untrained, test.features, recipe.eval_patches)
        spaces["random"].append(same_group_precision(control, groups, K))
        stats = standardised(baselines.track_statistics(test.features))
        spaces["MFCC"].append(same_group_precision(stats, groups, K))
        fused = np.concatenate([unit_rows(stats), unit_rows(control)], axis=1)
        spaces["MFCC+random"].append(same_group_precision(fused, groups, K))
        fused = np.concatenate([unit_rows(stats), unit_rows(learned)], axis=1)
        spaces["MFCC+recipe"].append(same_group_precision(fused, groups, K))
        rows = [data.paths.index(p) for p in test.paths]
        spaces["sounds"].append(same_group_precision(sounds[rows], groups, K))
        # the space `cuefinder similar` searches (catalog.vectors.joined), and its control
        fused = joined(control, sounds[rows])
        spaces["sounds+random"].append(same_group_precision(fused, groups, K))
        fused = joined(learned, sounds[rows])
        spaces["sounds+recipe"].append(same_group_precision(fused, groups, K))
        seen = data.select(fold.train + fold.val)
        seen_sounds = sounds[[data.paths.index(p) for p in seen.paths]]
        for name, network in (("likeness", trained), ("likeness+random", untrained)):
            known = embed(network, seen.features, recipe.eval_patches)
            fitted, _ = likeness.fit(known, seen_sounds, seen.groups)
            held = embed(network, test.features, recipe.eval_patches)
            fused = joined(held, sounds[rows], fitted)
            spaces[name].append(same_group_precision(fused, groups, K))
            if parts is not None and name == "likeness":
                frames, heard = parts
                part = embed(network, [frames[i] for i in rows], recipe.eval_patches)
                for space, sound in (("part", None), ("part+sounds", heard[rows])):
                    asked = joined(part, sound, fitted)
                    spaces[space].append(same_group_precision(fused, groups, K, asked))
        if musicnn is not None:
            spaces["musicnn"].append(same_group_precision(musicnn[rows], groups, K))
        spaces["chance"].append(chance(groups))
        groups_out.append(groups)
        paths_out += test.paths
        print(f"fold {fold.index + 1}/{len(folds)}: {len(test)} held-out tracks of "
              f"{len(set(test.groups))} games; "
              + ", ".join(f"{k} {v[-1].mean():.3f}" for k, v in spaces.items()),
              flush=True)  # fmt: skip
    groups = np.concatenate(groups_out)
    values = {k: np.concatenate(v) for k, v in spaces.items()}
    print()
    print(f"precision@{K}, hit = same game; {len(groups)} queries in {len(set(groups))} games, "
          f"each searched among the held-out tracks of its fold ({len(folds)} grouped folds; "
          f"recipe {args.recipe or 'built-in'}, {recipe.epochs} epochs; "
          f"{time.monotonic() - started:.0f} s)")  # fmt: skip
    print(f"{'space':<16} {'P@10':>6}  95% interval (games resampled)")
    for name, v in values.items():
        low, high = group_bootstrap(v, groups)
        print(f"{name:<16} {v.mean():>6.3f}  {low:.3f} to {high:.3f}")
    if args.save:  # per query, to compare runs paired: same folds, same queries
        np.savez(args.save, groups=groups, paths=np.array(paths_out), **values)
    print()
    pairs = [(space, control) for space in ("recipe", "MFCC+recipe", "sounds+recipe", "likeness")
             for control in CONTROLS if control in values and control not in space]  # fmt: skip
    if parts is not None:
        pairs += [("part+sounds", "part"), ("likeness", "part+sounds")]
    for space, control in pairs:
        diff = values[space] - values[control]
        low, high = group_bootstrap(diff, groups)
        print(f"{space} - {control:<13} {diff.mean():+.3f}  {low:+.3f} to {high:+.3f}")


def pool_shape(text: str) -> tuple[int, int]:
    """``LEAST:MOST`` -> (least, most), both at least 2."""
    try:
        least, most = (int(n) for n in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--pool wants LEAST:MOST, got {text!r}") from None
    if not 2 <= least <= most:
        raise argparse.ArgumentTypeError(f"--pool wants 2 <= LEAST <= MOST, got {text!r}")
    return least, most


def shaped(test: LabelledSet, least: int, most: int, seed: int) -> LabelledSet:
    """The tracks of ``test``'s games with at least ``least`` tracks, at most ``most`` of
    each game (a seeded draw), in their original order."""
    rng = np.random.default_rng(seed)
    members: dict[str, list[int]] = {}
    for row, group in enumerate(test.groups):
        members.setdefault(group, []).append(row)
    rows = []
    for group in sorted(members):
        if len(members[group]) >= least:
            rows += rng.permutation(members[group])[:most].tolist()
    return test.rows(sorted(rows))


def middle_parts(data, seconds: float) -> tuple[list[np.ndarray], np.ndarray]:
    """Each track's middle ``seconds``: its log-mel frames there, and what musicnn's tagger
    hears of it (zeros under 3 s), both as a part query makes them (``find.similar``)."""
    from cuefinder.descriptors import SOUND_DIM
    from cuefinder.find.similar import part_sound

    rate, started = FeatureConfig().frames_per_second, time.monotonic()
    frames, heard = [], np.zeros((len(data.paths), SOUND_DIM), np.float32)
    for row, (path, values) in enumerate(zip(data.paths, data.features, strict=True)):
        start = max(0.0, (values.shape[1] / rate - seconds) / 2)
        frames.append(values[:, int(start * rate) : int((start + seconds) * rate)])
        found = part_sound(path, start, start + seconds)
        if found is not None:
            heard[row] = found
    took = time.monotonic() - started
    print(f"middle {seconds:g} s of {len(frames)} tracks: {took:.0f} s", flush=True)
    return frames, heard


def from_evaluation(path: Path, spaces: list[str]) -> None:
    """Print stored per-track precision@10 of some spaces beside their controls."""
    from cuefinder.evaluate.results import Evaluation

    evaluation = Evaluation.load(path)
    groups, fold_of = np.array(evaluation.groups), np.array(evaluation.fold_of)
    stored = evaluation.similarity
    names = [n for s in spaces for n in (s, f"{s}/random")] + ["mfcc"]
    missing = [n for n in names if n not in stored]
    if missing:
        sys.exit(f"bench_similarity: {path} has no {', '.join(missing)}; it has "
                 f"{', '.join(stored)}")  # fmt: skip
    values = {n: np.asarray(stored[n]) for n in names}
    values["chance"] = np.concatenate([chance(groups[fold_of == f]) for f in sorted(set(fold_of))])
    order = np.concatenate([np.flatnonzero(fold_of == f) for f in sorted(set(fold_of))])
    values["chance"] = values["chance"][np.argsort(order)]
    print(f"precision@{K}, hit = same game, from {path}: {len(groups)} queries in "
          f"{len(set(groups))} games, each searched among the held-out tracks of its fold "
          f"({len(set(fold_of))} grouped folds)")  # fmt: skip
    print(f"{'space':<28} {'P@10':>6}  95% interval (games resampled)")
    for name, v in values.items():
        low, high = group_bootstrap(v, groups)
        print(f"{name:<28} {v.mean():>6.3f}  {low:.3f} to {high:.3f}")
    print()
    for space in spaces:
        for control in (f"{space}/random", "mfcc"):
            diff = values[space] - values[control]
            low, high = group_bootstrap(diff, groups)
            print(f"{space} - {control:<22} {diff.mean():+.3f}  {low:+.3f} to {high:+.3f}")


def musicnn_embeddings(args, data) -> np.ndarray:
    """The pretrained MSD musicnn's penultimate layer per track (mean over patches)."""
    import torch

    from cuefinder.features import MUSICNN_FEATURES
    from cuefinder.model import build
    from cuefinder.model.transfer import musicnn_config
    from cuefinder.train import heads

    other, _ = dataset.load(args.manifest, MUSICNN_FEATURES, max_seconds=MAX_SECONDS,
                            cache_dir=args.cache, progress=True)  # fmt: skip
    where = {p: i for i, p in enumerate(other.paths)}
    model = build(musicnn_config(data.genres, train="head"), pretrained=True).eval()
    pooled = heads.pooled(model, [other.features[where[p]] for p in data.paths],
                          args.musicnn_patches)  # fmt: skip
    with torch.inference_mode():
        return np.stack([
            model.backbone.back_end(torch.from_numpy(r)).mean(dim=0).numpy() for r in pooled
        ])  # fmt: skip


if __name__ == "__main__":
    main()
