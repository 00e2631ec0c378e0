"""Taught tags from a few examples, on games held out of training, beside the model's genre.

A library teaches its catalog a tag from k example tracks (``find.taught.learn``). How
well does that rank the rest of a catalog, and from how many examples does it beat the
genre score the network ships with? Measured on the game soundtracks, where each track
carries its game's film genres, with nothing in-sample:

1. **Held-out networks.** The shipped model was trained on every game, so its
   embeddings of those tracks are in-sample. Instead: grouped K-fold over games; in each
   fold the recipe's network is trained on the other folds' games only, then embeds the
   held-out fold's tracks exactly as a catalog stores them (every non-overlapping patch,
   the mean of their embeddings, which include the timbre half when the recipe attaches
   it, scaled to unit length: ``model.tagger``) beside its sound embedding (what musicnn's
   tagger hears, as indexing stores it: the joined space tags are learnt in,
   ``catalog.vectors.joined``) and gives each its genre probabilities (the segments'
   pooled as the model pools them, averaged with the regressions on the sound embedding
   fitted on the fold's training games when the recipe has ``heard``: the built-in genre
   score). When the recipe has ``likeness``, the space "sounds like" searches in a
   catalog of such a model (each block projected by its spread within the fold's training
   games: ``model/likeness.py``, fitted on their tracks) is kept beside it
   (``projected``), and tags learnt there are compared as ``auto (projected)``.
   ``--save FILE`` keeps these arrays; ``--load FILE`` reruns the rest without training.
2. **Few-shot draws**, inside each held-out fold (a catalog of about 200 tracks of
   about 25 games none of which its network saw). A genre enters a fold when at least
   ``--min-games`` (4) of the fold's games have tracks of it. Each draw splits the fold's
   games (never tracks) at random into example games and evaluation games: half the
   genre's games (rounded up) and half the others on each side. The examples are
   nested across k: one random order of the example games' tracks of the genre gives
   the first k positives, one of their other tracks the first k negatives (k = 1, 3, 5,
   10, 20; a k the example games cannot supply is skipped for that draw and counted).
   The background is what the product gives ``learn``: the fold's other tracks
   (evaluation tracks included, unlabelled), sampled down to ``taught.BACKGROUND``. The
   tag is learned as ``auto`` (what the product does: the prototype, or logistic
   from ``taught.LOGISTIC_FROM`` positives when that is set), ``prototype`` and
   ``logistic``, all calibrated, and ranks the evaluation games' tracks by
   ``Scorer.probability``; its ROC-AUC is set beside the built-in genre probability's
   on the very same tracks.
3. **Figures**: per k, the mean ROC-AUC (over draws within a fold and genre, then
   over folds and genres, each weighing the same) and the paired difference taught minus
   built-in. The 95% intervals resample **games** with replacement (as
   ``metrics.group_bootstrap`` does, over all held-out games): each ROC-AUC is
   recomputed with every track weighed by how often its game was drawn, the draws
   themselves held fixed. The paired differences of each method to the built-in score,
   logistic minus prototype, and (a check of the calibration) ranking by
   ``probability`` minus ranking by ``raw``; a verdict per method: from which k the
   interval of taught minus built-in is above zero. Then the same at k = 10 per genre,
   a figure of ROC-AUC against k (``--figure``), and the speed section.
4. **Speed** (``--speed`` alone, also run at the end): 100,000 synthetic unit vectors of
   the default model's embedding size; learning a tag (with calibration) from 10
   positives and 10 negatives, and from 3 and 3, plus scoring all 100,000 tracks;
   median of 5 runs, beside the goal of under 1 s.

    cuefinder dataset games -o games.csv
    python bench/bench_teach.py --manifest games.csv --save teach-folds.npz
    python bench/bench_teach.py --load teach-folds.npz      # few-shot part again
    python bench/bench_teach.py --speed                     # speed only
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from cuefinder.find import taught

KS = (1, 3, 5, 10, 20)
METHODS = ("auto", "prototype", "logistic")
BUILT_IN = "built-in"
RAW = "auto (raw)"  # diagnostic: auto ranked by its raw score instead of its probability
PROJECTED = "auto (projected)"  # diagnostic: auto learnt in "sounds like"'s projected space
TRAINER = "built-in (trainer)"  # diagnostic: genre scores of trainer.predict's few patches
DEFAULT_RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "default.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, help="labelled tracks (to train and embed)")
    parser.add_argument("--recipe", type=Path, default=DEFAULT_RECIPE, help="TOML recipe")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--seed", type=int, default=0, help="fold assignment and draws")
    parser.add_argument("--threads", type=int, help="torch threads (default: the recipe's)")
    parser.add_argument("--cache", type=Path, help="feature cache folder")
    parser.add_argument("--save", type=Path, help="keep the held-out arrays in this .npz")
    parser.add_argument("--load", type=Path, help="held-out arrays of an earlier --save")
    parser.add_argument("--draws", type=int, default=20, help="per fold and genre")
    parser.add_argument("--min-games", type=int, default=4, help="a genre's games in a fold")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap over games")
    parser.add_argument("--figure", type=Path, default=Path("docs/few-shot-tags.png"))
    parser.add_argument("--speed", action="store_true", help="only the speed section")
    args = parser.parse_args()
    if args.speed:
        return speed()
    if args.load:
        held = dict(np.load(args.load, allow_pickle=False))
    elif args.manifest:
        held = held_out(args)
        if args.save:
            np.savez_compressed(args.save, **held)
            print(f"held-out arrays saved to {args.save}")
    else:
        parser.error("give --manifest (to train), --load (a saved run) or --speed")
    few_shot(held, args)
    print()
    speed()


# -- 1. held-out networks ---------------------------------------------------------------


def held_out(args) -> dict[str, np.ndarray]:
    """Train the recipe per fold; the held-out tracks' stored embeddings and genre scores."""
    import torch

    from cuefinder.catalog.vectors import joined
    from cuefinder.features import FeatureConfig
    from cuefinder.train import dataset
    from cuefinder.train.splits import make_folds
    from cuefinder.train.trainer import (
        TrainConfig,
        embed,
        fit,
        fit_heard,
        fit_likeness,
        model_config,
        predict,
        sound_embeddings,
    )

    flags = {"epochs": args.epochs} if args.epochs else {}
    recipe = TrainConfig.from_toml(args.recipe, **flags)
    torch.set_num_threads(args.threads or recipe.threads or 1)
    data, _ = dataset.load(args.manifest, FeatureConfig(), max_seconds=recipe.max_seconds,
                           cache_dir=args.cache, progress=False)  # fmt: skip
    folds = make_folds(data, "kfold", args.folds, args.seed, recipe.val_fraction)
    where = {p: i for i, p in enumerate(data.paths)}
    sounds = sound_embeddings(data, args.cache)  # read once: every fold takes its rows
    n = len(data)
    fold_of = np.full(n, -1, np.int64)
    out: dict[str, np.ndarray] = {}
    started = time.monotonic()
    for fold in folds:
        sets = {side: data.select(getattr(fold, side)) for side in ("train", "val", "test")}
        test = sets["test"]
        config = model_config(data.genres, recipe.architectures[0], recipe)
        model, history = fit(sets["train"], sets["val"], config, recipe, progress=False,
                             seed=recipe.seed)  # fmt: skip
        vectors, scores = stored(model, test.features)
        heard = sounds[[where[p] for p in test.paths]]
        seen = data.select(fold.train + fold.val)
        seen_sounds = sounds[[where[p] for p in seen.paths]]
        if recipe.heard:  # the genre score the model ships: the network's and the regressions'
            regressions, _ = fit_heard(seen, seen_sounds, recipe)
            scores = np.stack([regressions.fuse(s, h) for s, h in zip(scores, heard, strict=True)])
        sampled = embed(model, test.features, recipe.eval_patches)  # the trainer's view
        agree = float(np.mean(np.sum(vectors * sampled, axis=1)))  # the network's half
        extra = {}
        if recipe.likeness:  # "sounds like"'s space in a catalog of such a model
            projection, _ = fit_likeness(model, seen, seen_sounds, recipe)
            extra["projected"] = joined(vectors, np.nan_to_num(heard), projection)
        vectors = joined(vectors, heard)  # the space tags are learnt in, as in a catalog
        predicted = predict(model, test.features, config.patch_frames, recipe.eval_patches)
        rows = np.array([where[p] for p in test.paths])
        arrays = {"embeddings": vectors, "scores": scores, "sampled": sampled}
        arrays |= {"predicted": predicted} | extra
        for name, values in arrays.items():
            if name not in out:
                out[name] = np.zeros((n, values.shape[1]), np.float32)
            out[name][rows] = values
        fold_of[rows] = fold.index
        best = max(h["val_roc_auc"] for h in history)
        print(f"fold {fold.index + 1}/{len(folds)}: trained on {len(sets['train'].groups)} "
              f"tracks ({len(history)} epochs, best validation ROC-AUC {best:.3f}); "
              f"{len(test)} held-out tracks of {len(set(test.groups))} games embedded "
              f"(dim {vectors.shape[1]} with the sound embedding, timbre {model.config.timbre}; "
              f"the network's half has cosine to the "
              f"trainer's {recipe.eval_patches}-patch embedding {agree:.3f}); "
              f"{time.monotonic() - started:.0f} s", flush=True)  # fmt: skip
    if (fold_of < 0).any():
        raise AssertionError("every track must be held out exactly once")
    meta = {"recipe": str(args.recipe), "epochs": recipe.epochs, "folds": len(folds),
            "seed": args.seed, "seconds": round(time.monotonic() - started)}  # fmt: skip
    return out | {
        "paths": np.array(data.paths),
        "groups": np.array(data.groups),
        "labels": data.labels.astype(np.float32),
        "genres": np.array(data.genres),
        "fold": fold_of,
        "meta": np.array(json.dumps(meta)),
    }


def stored(model, features: list[np.ndarray], batch: int = 64):
    """(tracks, dim) embeddings and (tracks, genres) probabilities as a catalog stores them
    (``Tagger.tag_stream``): every non-overlapping patch (a track shorter than one looped),
    probabilities pooled as the model pools segments, embedding the unit mean of the
    patches' embeddings."""
    import torch

    from cuefinder.model.config import pool_segments
    from cuefinder.model.tagger import unit

    model.eval()
    width = model.config.patch_frames
    vectors, scores = [], []
    for values in features:
        x = values.astype(np.float32)
        count = x.shape[1] // width
        if count == 0:
            patches = np.tile(x, (1, -(-width // x.shape[1])))[None, :, :width]
        else:
            patches = x[:, : count * width].reshape(len(x), count, width).transpose(1, 0, 2)
        probs, embedded = [], []
        with torch.inference_mode():
            for start in range(0, len(patches), batch):
                logits, embedding = model(torch.from_numpy(patches[start : start + batch]))
                probs.append(torch.sigmoid(logits).numpy())
                embedded.append(embedding.numpy())
        scores.append(pool_segments(np.concatenate(probs), model.config.pooling))
        vectors.append(unit(np.concatenate(embedded).mean(axis=0)))
    return np.stack(vectors).astype(np.float32), np.stack(scores).astype(np.float32)


# -- 2. few-shot draws ------------------------------------------------------------------


def few_shot(held: dict[str, np.ndarray], args) -> None:
    genres = [str(g) for g in held["genres"]]
    groups, fold_of = held["groups"].astype(str), held["fold"]
    labels, vectors, builtin = held["labels"] > 0, held["embeddings"], held["scores"]
    names = sorted(set(groups.tolist()))
    game_of = np.array([names.index(g) for g in groups])
    entries: list[dict] = []  # one ROC-AUC each, as pair counts per (positive, negative) game
    skipped: dict[int, int] = dict.fromkeys(KS, 0)
    cells: list[tuple[int, str]] = []
    started = time.monotonic()
    for fold in sorted(set(fold_of.tolist())):
        rows = np.flatnonzero(fold_of == fold)
        games = sorted(set(game_of[rows].tolist()))
        for j, genre in enumerate(genres):
            positive_games = sorted(set(game_of[rows[labels[rows, j]]].tolist()))
            if len(positive_games) < args.min_games:
                continue
            cell = len(cells)
            cells.append((fold, genre))
            others = [g for g in games if g not in set(positive_games)]
            for draw in range(args.draws):
                rng = np.random.default_rng([args.seed, fold, j, draw])
                side = halves(rng, positive_games) | halves(rng, others)  # game -> example?
                example = np.array([side[g] for g in game_of[rows]])
                pool_pos = rng.permutation(rows[example & labels[rows, j]])
                pool_neg = rng.permutation(rows[example & ~labels[rows, j]])
                evaluation = rows[~example]
                truth = labels[evaluation, j]
                if truth.all() or not truth.any():
                    for k in KS:
                        skipped[k] += 1
                    continue
                base = dict(fold=fold, cell=cell, draw=draw)
                entries.append(base | counts(builtin[evaluation, j], truth, game_of[evaluation],
                                             k=0, method=BUILT_IN))  # fmt: skip
                if "predicted" in held:  # diagnostic: the trainer's pooling of a few patches
                    entries.append(
                        base
                        | counts(
                            held["predicted"][evaluation, j],
                            truth,
                            game_of[evaluation],
                            k=-1,
                            method=TRAINER,
                        )
                    )
                for k in KS:
                    if len(pool_pos) < k or len(pool_neg) < k:
                        skipped[k] += 1
                        continue
                    pos, neg = pool_pos[:k], pool_neg[:k]
                    rest = np.setdiff1d(rows, np.concatenate([pos, neg]))
                    if len(rest) > taught.BACKGROUND:
                        rest = np.sort(rng.choice(rest, taught.BACKGROUND, replace=False))
                    x = vectors[evaluation]
                    for method, scored in learned(vectors[pos], vectors[neg], vectors[rest], x):
                        entries.append(base | counts(scored, truth, game_of[evaluation],
                                                     k=k, method=method))  # fmt: skip
                    if "projected" in held:
                        p = held["projected"]
                        auto = taught.learn(p[pos], p[neg], p[rest], method="auto")
                        scored = auto.probability(p[evaluation])
                        found = counts(scored, truth, game_of[evaluation], k=k, method=PROJECTED)
                        entries.append(base | found)
        print(
            f"fold {fold + 1}: {sum(c[0] == fold for c in cells)} genres with at least "
            f"{args.min_games} games; {time.monotonic() - started:.0f} s",
            flush=True,
        )
    report(entries, cells, skipped, held, names, game_of, args)


def halves(rng, games: list[int]) -> dict[int, bool]:
    """A random half (rounded up) of ``games`` are example games (True), the rest not."""
    order = rng.permutation(games)
    return {int(g): i < -(-len(order) // 2) for i, g in enumerate(order)}


def learned(pos, neg, background, x):
    """(method, scores of x) for the tag learned each way, all calibrated."""
    auto = taught.learn(pos, neg, background, method="auto")
    other = "prototype" if auto.method == "logistic" else "logistic"
    scorers = {"auto": auto, auto.method: auto,
               other: taught.learn(pos, neg, background, method=other)}  # fmt: skip
    out = [(m, scorers[m].probability(x)) for m in METHODS]
    return out + [(RAW, auto.raw(x))]


def counts(scores, truth, games, **key) -> dict:
    """A ROC-AUC kept as pair counts: ``pairs[a, b]`` = (positive track of game a ranked
    above negative track of game b) + half the ties, so that the ROC-AUC with games
    weighed ``m`` is ``m @ pairs @ m / ((m @ npos) * (m @ nneg))``."""
    scores = np.asarray(scores, np.float64)
    sp, sn = scores[truth], scores[~truth]
    above = (sp[:, None] > sn[None, :]) + 0.5 * (sp[:, None] == sn[None, :])
    local = sorted(set(games.tolist()))
    index = np.searchsorted(local, games)
    a = np.eye(len(local))[index[truth]]
    b = np.eye(len(local))[index[~truth]]
    return key | {"games": np.array(local), "pairs": a.T @ above @ b,
                  "npos": a.sum(axis=0), "nneg": b.sum(axis=0)}  # fmt: skip


def bootstrap_aucs(entries: list[dict], total: int, resamples: int, seed: int) -> np.ndarray:
    """(1 + resamples, entries) ROC-AUCs: row 0 as measured, then with games resampled
    (NaN where a resample leaves an evaluation side without positives or negatives)."""
    rng = np.random.default_rng(seed)
    weights = np.ones((1 + resamples, total))
    weights[1:] = np.stack([np.bincount(rng.integers(total, size=total), minlength=total)
                            for _ in range(resamples)])  # fmt: skip
    out = np.full((1 + resamples, len(entries)), np.nan)
    by_games: dict[tuple, list[int]] = {}
    for i, e in enumerate(entries):
        by_games.setdefault(tuple(e["games"].tolist()), []).append(i)
    for games, which in by_games.items():
        m = weights[:, list(games)]  # (R, G)
        pairs = np.stack([entries[i]["pairs"] for i in which])  # (E, G, G)
        npos = np.stack([entries[i]["npos"] for i in which])
        nneg = np.stack([entries[i]["nneg"] for i in which])
        above = np.einsum("rg,egh,rh->re", m, pairs, m, optimize=True)
        total_pairs = (m @ npos.T) * (m @ nneg.T)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, which] = np.where(total_pairs > 0, above / total_pairs, np.nan)
    return out


def average(values: np.ndarray, cell: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """(R,) mean over cells of the mean over their draws (the entries ``chosen``)."""
    values, cell = values[:, chosen], cell[chosen]
    means = []
    for c in np.unique(cell):
        part = values[:, cell == c]
        n = np.sum(~np.isnan(part), axis=1)
        means.append(np.where(n > 0, np.nansum(part, axis=1) / np.maximum(n, 1), np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(means, axis=1), axis=1)


def interval(values: np.ndarray) -> tuple[float, float, float]:
    """Point estimate (row 0) and the 95% bootstrap interval of the other rows."""
    low, high = np.nanpercentile(values[1:], [2.5, 97.5])
    return float(values[0]), float(low), float(high)


def report(entries, cells, skipped, held, names, game_of, args) -> None:
    meta = json.loads(str(held["meta"])) if "meta" in held else {}
    aucs = bootstrap_aucs(entries, len(names), args.resamples, args.seed)
    k_of = np.array([e["k"] for e in entries])
    method_of = np.array([e["method"] for e in entries])
    cell_of = np.array([e["cell"] for e in entries])
    draw_key = np.array([(e["cell"], e["draw"]) for e in entries])
    # each taught entry beside the built-in score of its own draw (same evaluation tracks)
    base_index = {(e["cell"], e["draw"]): i for i, e in enumerate(entries) if e["k"] == 0}
    paired = np.array([base_index[tuple(d)] for d in draw_key])
    diffs = aucs - aucs[:, paired]
    genre_of_cell = np.array([g for _, g in cells])
    tracks = len(held["fold"])
    print()
    print(
        f"ROC-AUC of a taught tag on held-out games, {len(cells)} (fold, genre) cells "
        f"({len(set(genre_of_cell.tolist()))} genres with >= {args.min_games} games in a "
        f"fold; {tracks} tracks of {len(names)} games, {meta.get('folds', '?')} grouped "
        f"folds, recipe {meta.get('recipe', '?')}, {meta.get('epochs', '?')} epochs), "
        f"{args.draws} draws each; 95% intervals: games resampled ({args.resamples}x)"
    )
    print(f"{'k':>3} {'draws':>6} {'auto':>20} {'prototype':>20} {'logistic':>20} "
          f"{'built-in':>20} {'auto - built-in':>22}")  # fmt: skip
    curve: dict[str, list[tuple[float, float, float]]] = {m: [] for m in (*METHODS, BUILT_IN)}
    for k in KS:
        here = k_of == k
        if not here.any():
            continue
        row = []
        for method in METHODS:
            figure = interval(average(aucs, cell_of, np.flatnonzero(here & (method_of == method))))
            curve[method].append(figure)
            row.append(f"{figure[0]:.3f} ({figure[1]:.3f}-{figure[2]:.3f})")
        auto = np.flatnonzero(here & (method_of == "auto"))
        figure = interval(average(aucs, cell_of, paired[auto]))
        curve[BUILT_IN].append(figure)
        row.append(f"{figure[0]:.3f} ({figure[1]:.3f}-{figure[2]:.3f})")
        d, low, high = interval(average(diffs, cell_of, auto))
        row.append(f"{d:+.3f} ({low:+.3f} to {high:+.3f})")
        print(f"{k:>3} {len(auto):>6} " + " ".join(f"{r:>20}" for r in row))
    print(
        "(draws: draws that had k examples of each side; skipped per k: "
        + ", ".join(f"k={k} {n}" for k, n in skipped.items())
        + ")"
    )
    print()
    print("paired differences, same draws and evaluation tracks (95% intervals: games resampled):")
    pairs = (("prototype", BUILT_IN), ("logistic", BUILT_IN), ("logistic", "prototype"),
             ("auto", RAW))  # fmt: skip
    pairs += (("auto", PROJECTED),) if "projected" in held else ()
    print(f"{'k':>3} " + " ".join(f"{f'{a} - {b}':>28}" for a, b in pairs))
    beats = {m: [] for m in METHODS}
    for k in KS:
        here = k_of == k
        if not here.any():
            continue
        row = []
        for first, second in pairs:
            a = np.flatnonzero(here & (method_of == first))
            b = np.flatnonzero(here & (method_of == second))
            values = diffs[:, a] if second == BUILT_IN else aucs[:, a] - aucs[:, b]
            d, low, high = interval(average(values, cell_of[a], np.arange(len(a))))
            row.append(f"{d:+.3f} ({low:+.3f} to {high:+.3f})")
        for method in METHODS:
            chosen = np.flatnonzero(here & (method_of == method))
            _, low, high = interval(average(diffs, cell_of, chosen))
            beats[method].append((k, low > 0, high < 0))
        print(f"{k:>3} " + " ".join(f"{r:>28}" for r in row))
    print("(auto - auto (raw): ranking by the calibrated probability instead of the raw score)")
    if "projected" in held:
        print("(auto - auto (projected): learnt as a catalog does, not in the projected space)")
    for method in METHODS:
        verdict(method, beats[method])
    print()
    print("per genre at k=10 (mean over its folds; intervals: games resampled):")
    print(f"{'genre':<10} {'folds':>5} {'auto':>6} {'proto':>6} {'logit':>6} {'built-in':>8} "
          f"{'auto - built-in':>24}")  # fmt: skip
    for genre in sorted(set(genre_of_cell.tolist())):
        mine = np.isin(cell_of, np.flatnonzero(genre_of_cell == genre)) & (k_of == 10)
        if not mine.any():
            print(f"{genre:<10} {'-':>5}  (no draw with 10 examples of each side)")
            continue
        means = [average(aucs, cell_of, np.flatnonzero(mine & (method_of == m)))[0]
                 for m in METHODS]  # fmt: skip
        auto = np.flatnonzero(mine & (method_of == "auto"))
        base = average(aucs, cell_of, paired[auto])[0]
        d, low, high = interval(average(diffs, cell_of, auto))
        folds = len(set(cell_of[auto].tolist()))
        print(f"{genre:<10} {folds:>5} " + " ".join(f"{v:>6.3f}" for v in means)
              + f" {base:>8.3f} {d:>+8.3f} ({low:+.3f} to {high:+.3f})")  # fmt: skip
    if (k_of == -1).any():
        catalog = average(aucs, cell_of, np.flatnonzero(k_of == 0))[0]
        trainer = average(aucs, cell_of, np.flatnonzero(k_of == -1))[0]
        print()
        print(
            f"built-in score over all draws: {catalog:.3f} pooled over every patch (as a "
            f"catalog stores it), {trainer:.3f} over the trainer's evenly spaced patches"
        )
    figure_path = args.figure
    if figure_path:
        plot(curve, figure_path, meta, len(cells), args.draws)
        print(f"figure: {figure_path}")


def verdict(method: str, beats: list[tuple[int, bool, bool]]) -> None:
    """From which k the taught tag's interval of its difference to the built-in genre is
    above zero (and stays there)."""
    above = [str(k) for k, up, _ in beats if up]
    below = [str(k) for k, _, down in beats if down]
    steady = next((k for k, _, _ in beats if all(up for kk, up, _ in beats if kk >= k)), None)
    if steady is not None:
        words = f"beats the built-in genre from k={steady} examples of each side on"
    elif above:
        words = f"beats the built-in genre at k = {', '.join(above)} only, not steadily"
    else:
        words = "does not beat the built-in genre at any k tried (no interval above zero)"
    worse = f"; worse (interval below zero) at k = {', '.join(below)}" if below else ""
    print(f"verdict, {method}: a taught tag {words}{worse}")


def plot(curve, path: Path, meta: dict, cells: int, draws: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = np.array(KS[: len(curve["auto"])])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    auto = np.array(curve["auto"])
    ax.plot(ks, auto[:, 0], "o-", color="C0", label="taught tag (auto, as the product)")
    ax.fill_between(ks, auto[:, 1], auto[:, 2], color="C0", alpha=0.2)
    for method, colour in (("prototype", "C1"), ("logistic", "C2")):
        values = np.array(curve[method])
        ax.plot(ks, values[:, 0], "s--", color=colour, lw=1, ms=4, label=f"taught, {method}")
    base = np.array(curve[BUILT_IN])
    ax.plot(ks, base[:, 0], "-", color="C3", label="built-in genre score (same tracks)")
    ax.fill_between(ks, base[:, 1], base[:, 2], color="C3", alpha=0.12)
    ax.axhline(0.5, color="grey", ls=":", lw=1, label="chance")
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.minorticks_off()
    ax.set_xlabel("examples of each side (k positives, k negatives)")
    ax.set_ylabel("ROC-AUC on evaluation games")
    ax.set_title(f"Taught tags on held-out games ({meta.get('folds', '?')} folds, {cells} "
                 f"fold x genre cells, {draws} draws each)", fontsize=10)  # fmt: skip
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- 4. speed ---------------------------------------------------------------------------


def speed(tracks: int = 100_000, runs: int = 5) -> None:
    from cuefinder.catalog.vectors import SOUND_DIM
    from cuefinder.model import checkpoint

    dim = checkpoint.read_info(checkpoint.default_model_path()).config.output_dim + SOUND_DIM
    rng = np.random.default_rng(0)
    x = rng.standard_normal((tracks, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    direction = rng.standard_normal(dim).astype(np.float32)
    print(
        f"speed: {tracks:,} SYNTHETIC unit vectors (random, dim {dim} as the default "
        f"model's embedding beside the sound embedding); median of {runs} runs; goal: under 1 s"
    )
    for k in (10, 3):
        learn_s, score_s, method = [], [], ""
        for run in range(runs):
            pick = np.random.default_rng(run).choice(tracks, 2 * k, replace=False)
            pos = x[pick[:k]] + direction / np.linalg.norm(direction)
            pos /= np.linalg.norm(pos, axis=1, keepdims=True)
            neg = x[pick[k:]]
            t0 = time.perf_counter()
            keep = np.setdiff1d(np.arange(tracks), pick)
            keep = np.sort(np.random.default_rng(run).choice(keep, taught.BACKGROUND,
                                                             replace=False))  # fmt: skip
            scorer = taught.learn(pos, neg, x[keep], method="auto")
            t1 = time.perf_counter()
            scorer.probability(x)
            t2 = time.perf_counter()
            learn_s.append(t1 - t0)
            score_s.append(t2 - t1)
            method = scorer.method
        total = np.median(np.add(learn_s, score_s))
        print(
            f"  {k} positives + {k} negatives ({method}, calibrated, background "
            f"{taught.BACKGROUND}): learn {np.median(learn_s) * 1000:.0f} ms + score "
            f"{tracks:,} {np.median(score_s) * 1000:.0f} ms = {total * 1000:.0f} ms "
            f"({'under' if total < 1 else 'OVER'} 1 s)"
        )


if __name__ == "__main__":
    main()
