"""Cross-validated evaluation of the genre taggers against baselines, split by group.

``cross_validate(data, methods, scheme=..., folds=...)`` assigns whole groups (games,
films) to test folds: grouped K-fold (``"kfold"``, groups spread over the folds so each
genre's groups are shared out as evenly as possible, seeded) or leave-one-group-out
(``"logo"``, one fold per group). Inside each fold a validation split is carved from
the training groups (``splits.split_groups``); it serves early stopping of the networks
and the choice of each genre's F1 threshold (``metrics.best_thresholds``), so the test
fold never informs a model or a threshold. No group is ever on two sides of a split
(checked in code for every fold).

Every track is a test track exactly once; its out-of-fold scores are pooled over the
folds and scored as one set: per-genre and macro ROC-AUC and PR-AUC, and P/R/F1 of each
track's decisions at its own fold's validation thresholds. Each fold is also scored on
its own.

Methods: ``random``, ``majority``, ``mfcc-logreg`` (``baselines``), ``cnn``, ``resnet``,
``ensemble``. The ensemble's members are trained once per fold and each is reported as a
model of its own (``member0-cnn``, ...); ``cnn`` and ``resnet`` are then the member of that
architecture with the best pooled macro ROC-AUC (so no network is trained twice; choosing
on the pooled test predictions flatters that pick by at most the spread between members).
Only when no ensemble member has the architecture is a single network trained for it.

Named recipes (``recipes={"cnn-band": TrainConfig(input_norm="band"), ...}``) are networks
trained in the same folds beside the methods, each reported under its name; a recipe with
``members > 1`` averages that many seeds. Fusions (``fusions=[("cnn-band", "mfcc-logreg")]``)
are reported as ``a+b``: the mean of the two methods' probabilities, nothing learned. A
recipe with ``heard = true`` ships as such a mean (``model/heard.py``), so it is always
scored as ``NAME+heard-logreg`` too, beside its network alone (``NAME``).

Each network's embedding (its similarity head when it has one) is also scored for "sounds
like": within each test fold, every track queries the fold's other tracks and a hit is a
track of its own group (``metrics.same_group_precision``, k = 10). The same is done for
MFCC statistics (``mfcc``) and for each network with untrained random weights
(``<name>/random``), the controls a learned space must beat, in the same folds.

``film_level`` follows Ma et al. (PLOS ONE 2021, leave-one-film-out, film prediction =
mean of the film's track predictions, macro P/R/F1) at the level of groups; see its
docstring for the choices made.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from cuefinder.errors import ConfigError, DatasetError
from cuefinder.evaluate import baselines, metrics
from cuefinder.evaluate.results import Evaluation, MethodResult, film_level
from cuefinder.features import MUSICNN_FEATURES, FeatureConfig
from cuefinder.model.config import DEFAULT_METHODS, METHODS, MUSICNN_MODES, NETWORKS
from cuefinder.train import dataset
from cuefinder.train.config import DEFAULT_TRAIN, TrainConfig
from cuefinder.train.dataset import LabelledSet
from cuefinder.train.splits import SCHEMES, Fold, make_folds

TRANSFER = tuple(MUSICNN_MODES)  # read musicnn's front end
DEFAULT_ENSEMBLE = {"members": 3, "architectures": ("cnn", "cnn", "resnet")}


def ensemble_recipe(config: TrainConfig) -> TrainConfig:
    """The ensemble's recipe: ``config`` itself when it has several members, else 3 members
    (cnn, cnn, resnet) with the rest of ``config``."""
    return config if config.members > 1 else replace(config, **DEFAULT_ENSEMBLE)


def cross_validate(
    data: LabelledSet,
    methods=DEFAULT_METHODS,
    *,
    scheme: str = "kfold",
    folds: int = 4,
    seed: int = 0,
    train_config: TrainConfig = DEFAULT_TRAIN,
    progress: bool = True,
    musicnn_data: LabelledSet | None = None,
    recipes: dict[str, TrainConfig] | None = None,
    fusions: list[tuple[str, str]] | None = None,
) -> Evaluation:
    """Out-of-fold predictions and metrics of each method (see the module docstring).

    Parameters
    ----------
    data : the labelled tracks; groups are never split
    methods : names among ``METHODS``
    scheme : "kfold" (grouped K-fold, ``folds`` folds) or "logo" (one fold per group)
    seed : fold assignment, validation splits and the random baseline
    train_config : the networks' recipe (its ``seed`` seeds the networks)
    musicnn_data : the same tracks in musicnn's front end, for the pretrained-musicnn methods
    recipes : more networks, by name, each with its own recipe
    fusions : pairs of method or recipe names whose mean probability is scored as ``a+b``
    """
    import torch

    methods, plan, names, fused = _request(methods, data.genres, train_config, recipes, fusions)
    if any(m in TRANSFER for m in methods) and (
        musicnn_data is None or list(musicnn_data.paths) != list(data.paths)
    ):
        raise ConfigError("musicnn methods need musicnn_data: the same tracks, musicnn features")
    if train_config.threads:
        torch.set_num_threads(train_config.threads)
    started = time.monotonic()
    fold_list = make_folds(data, scheme, folds, seed, train_config.val_fraction)
    group_index = np.array(data.groups)
    fold_of = np.full(len(data), -1)
    for f in fold_list:
        fold_of[np.isin(group_index, f.test)] = f.index
    n, g, k = len(data), len(data.genres), len(fold_list)
    scores = {m: np.full((n, g), np.nan, np.float32) for m in names}
    thresholds = {m: np.zeros((k, g)) for m in names}
    seconds = dict.fromkeys(names, 0.0)
    training: dict[str, list] = {p["name"]: [] for p in plan}
    similarity: dict[str, np.ndarray] = {"mfcc": np.full(n, np.nan)}
    fold_seconds = []
    for fold in fold_list:
        fold_started = time.monotonic()
        sets = {side: data.select(getattr(fold, side)) for side in ("train", "val", "test")}
        views = {"log-mel": sets}
        if musicnn_data is not None:
            views["musicnn"] = {s: musicnn_data.select(getattr(fold, s)) for s in sets}
        rows = fold_of == fold.index
        stats = baselines.track_statistics(sets["test"].features)
        stats = (stats - stats.mean(axis=0)) / np.maximum(stats.std(axis=0), 1e-9)
        similarity["mfcc"][rows] = metrics.same_group_precision(stats, sets["test"].groups)
        _say(progress, f"fold {fold.index + 1}/{k}: {len(sets['train'])} train, "
                       f"{len(sets['val'])} val, {len(sets['test'])} test tracks "
                       f"({len(fold.test)} test groups)")  # fmt: skip
        _val_scores: dict[str, np.ndarray] = {}
        for name in (m for m in methods if m in baselines.BASELINES):
            t = time.monotonic()
            predictor = baselines.fit(name, sets["train"], seed=seed)
            val, test = (baselines.predict(predictor, sets[s]) for s in ("val", "test"))
            _val_scores[name] = val
            fixed = predictor.thresholds
            thresholds[name][fold.index] = (
                fixed if fixed is not None else metrics.best_thresholds(sets["val"].labels, val)
            )
            scores[name][rows] = test
            seconds[name] += time.monotonic() - t
        val_members, test_members = [], []
        for p in plan:
            t = time.monotonic()
            val, test, history, spaces = _train_network(
                p, views[p.get("view", "log-mel")], progress
            )
            _val_scores[p["name"]] = val
            for suffix, vectors in spaces.items():
                space = similarity.setdefault(p["name"] + suffix, np.full(n, np.nan))
                space[rows] = metrics.same_group_precision(vectors, sets["test"].groups)
            thresholds[p["name"]][fold.index] = metrics.best_thresholds(sets["val"].labels, val)
            scores[p["name"]][rows] = test
            seconds[p["name"]] += time.monotonic() - t
            best = max(history, key=lambda h: h["val_roc_auc"])
            training[p["name"]].append({
                "fold": fold.index, "epochs": len(history), "best_epoch": best["epoch"],
                "best_val_roc_auc": best["val_roc_auc"],
                "seconds": round(time.monotonic() - t, 1),
            })  # fmt: skip
            if p["member"]:
                val_members.append(val)
                test_members.append(test)
        if "ensemble" in methods:  # the Ensemble module's output: mean member probability
            val, test = np.mean(val_members, axis=0), np.mean(test_members, axis=0)
            _val_scores["ensemble"] = val
            thresholds["ensemble"][fold.index] = metrics.best_thresholds(sets["val"].labels, val)
            scores["ensemble"][rows] = test
            seconds["ensemble"] = sum(seconds[p["name"]] for p in plan if p["member"])
        for name, a, b in fused:
            scores[name][rows] = (scores[a][rows] + scores[b][rows]) / 2
            val_a, val_b = (_val_scores[m] for m in (a, b))
            thresholds[name][fold.index] = metrics.best_thresholds(
                sets["val"].labels, (val_a + val_b) / 2
            )
            seconds[name] = seconds[a] + seconds[b]
        fold_seconds.append(round(time.monotonic() - fold_started, 1))
    if np.isnan(np.stack(list(scores.values()))).any():
        raise AssertionError("a track was never a test track")
    kinds = {p["name"]: ("member" if p["member"] else "network") for p in plan}
    kinds |= {m: "baseline" for m in baselines.BASELINES} | {"ensemble": "ensemble"}
    kinds |= {name: "fusion" for name, _, _ in fused}
    results = {
        m: _scored(m, kinds[m], scores[m], thresholds[m], data, fold_of, fold_list, seconds[m])
        for m in names
    }
    for name, records in training.items():
        results[name].training = records
    results = _aliases(results, methods, plan)
    config = {
        "scheme": scheme, "folds": len(fold_list), "requested_folds": folds, "seed": seed,
        "methods": list(methods), "train_config": asdict(train_config),
        "recipes": {name: asdict(r) for name, r in (recipes or {}).items()},
        "fusions": [list(pair) for pair in fusions or ()],
        "ensemble_config": asdict(ensemble_recipe(train_config)) if "ensemble" in methods
        else None,
    }  # fmt: skip
    evaluation = Evaluation(
        data.genres, list(data.paths), list(data.groups), data.labels.copy(), fold_list,
        fold_of, results, scheme, config, genre_counts(data, fold_list),
        {"total_seconds": round(time.monotonic() - started, 1), "per_fold": fold_seconds,
         "per_method": {m: round(r.seconds, 1) for m, r in results.items()}},
        similarity=similarity,
    )  # fmt: skip
    evaluation.group_level = film_level(evaluation)
    evaluation.notes = _notes(evaluation)
    return evaluation


def _request(methods, genres, train_config: TrainConfig, recipes: dict | None, fusions):
    """What an evaluation will run, checked: (methods without repeats, the networks' plan,
    every result's name, the fusions as (name, a, b)); ConfigError or DatasetError if any
    name is unknown, taken or missing."""
    methods = tuple(dict.fromkeys(methods))
    # a recipe whose model carries genre regressions on the sound embedding is scored as
    # what it ships: the mean of its network's scores and heard-logreg's (model/heard.py)
    carried = [(name, "heard-logreg") for name, r in (recipes or {}).items() if r.heard]
    fusions = list(dict.fromkeys([*(tuple(f) for f in fusions or ()), *carried]))
    if carried and "heard-logreg" not in methods:
        methods = (*methods, "heard-logreg")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
    plan = _network_plan(methods, genres, train_config, recipes or {})
    names = [m for m in methods if m in baselines.BASELINES] + [p["name"] for p in plan]
    if "ensemble" in methods:
        names.append("ensemble")
    fused = [(f"{a}+{b}", a, b) for a, b in fusions or ()]
    missing = sorted({m for _, a, b in fused for m in (a, b)} - set(names))
    if missing:
        raise DatasetError(f"fusions name methods that are not evaluated: {', '.join(missing)}")
    return methods, plan, names + [name for name, _, _ in fused], fused


def _network_plan(methods, genres, config: TrainConfig, recipes: dict) -> list[dict]:
    """The networks to train in each fold: the ensemble's members, then missing singles,
    then the named recipes."""
    from cuefinder.model.config import ModelConfig
    from cuefinder.train.trainer import member_configs
    from cuefinder.train.trainer import model_config as network_config

    plan = []
    if "ensemble" in methods:
        recipe = ensemble_recipe(config)
        for i, model_config in enumerate(member_configs(genres, recipe)):
            plan.append({"name": f"member{i}-{model_config.architecture}", "member": True,
                         "config": model_config, "seed": recipe.seed + i,
                         "recipe": recipe})  # fmt: skip
    for arch in NETWORKS:
        if arch in methods and not any(p["config"].architecture == arch for p in plan):
            model_config = ModelConfig(genres=genres, architecture=arch, channels=config.channels)
            plan.append({"name": arch, "member": False, "config": model_config,
                         "seed": config.seed, "recipe": config})  # fmt: skip
    for arch in (m for m in TRANSFER if m in methods):
        plan.append({"name": arch, "member": False, "seed": config.seed, "recipe": config,
                     "config": network_config(genres, arch, config),
                     "view": "musicnn"})  # fmt: skip
    for name, recipe in recipes.items():
        if name in METHODS or name in {p["name"] for p in plan} or "+" in name:
            raise DatasetError(f"recipe name {name!r} is taken or has a '+'")
        plan.append({"name": name, "member": False, "seed": recipe.seed, "recipe": recipe,
                     "config": network_config(genres, recipe.architectures[0], recipe),
                     "seeds": recipe.members})  # fmt: skip
    return plan


def _train_network(p: dict, sets: dict, progress: bool):
    """Train one network on a fold: (validation probabilities, test probabilities, history,
    test-track embeddings: {"": the trained network's, "/random": untrained weights'})."""
    import torch

    from cuefinder.model import build
    from cuefinder.train.trainer import embed, fit, predict

    recipe = p["recipe"]
    vals, tests = [], []
    for i in range(p.get("seeds", 1)):  # a recipe's seeds: probabilities averaged
        model, history = fit(sets["train"], sets["val"], p["config"], recipe, progress=progress,
                             seed=p["seed"] + i)  # fmt: skip
        width = model.config.patch_frames
        val, test = (
            predict(model, sets[s].features, width, recipe.eval_patches) for s in ("val", "test")
        )
        vals.append(val)
        tests.append(test)
    spaces = {}
    if getattr(model, "mode", None) is None:  # networks on log-mel (not pooled heads)
        torch.manual_seed(p["seed"])
        untrained = build(p["config"])
        if model.config.timbre:  # the control carries the same timbre statistics
            from cuefinder.model.timbre import attach

            untrained = attach(untrained, sets["train"].features)
        spaces = {
            "": embed(model, sets["test"].features, recipe.eval_patches),
            "/random": embed(untrained, sets["test"].features, recipe.eval_patches),
        }
    return np.mean(vals, axis=0), np.mean(tests, axis=0), history, spaces


def _aliases(results: dict, methods, plan) -> dict:
    """``cnn``/``resnet`` requested or implied by an ensemble: the best member of that kind."""
    out = dict(results)
    for arch in NETWORKS:
        members = [p["name"] for p in plan if p["member"] and p["config"].architecture == arch]
        if not members or not ("ensemble" in methods or arch in methods):
            continue
        best = max(members, key=lambda m: results[m].metrics["macro"]["roc_auc"] or 0.0)
        chosen = results[best]
        out[arch] = replace(
            chosen, name=arch, kind="network",
            note=f"best single {arch}: ensemble member {best} (of {', '.join(members)}), chosen "
                 "by pooled out-of-fold macro ROC-AUC",
        )  # fmt: skip
    order = [m for m in METHODS if m in out and m not in ("ensemble",)]
    order += [m for m in out if m.startswith("member")] + (
        ["ensemble"] if "ensemble" in out else []
    )
    order += [m for m in out if m not in order]  # named recipes and fusions, as given
    return {m: out[m] for m in order}


def _scored(name, kind, scores, thresholds, data: LabelledSet, fold_of, folds, seconds):
    """A MethodResult with pooled and per-fold metrics."""
    result = MethodResult(name, kind, scores, thresholds, seconds=seconds)
    result.metrics = metrics.track_metrics(data.labels, scores, thresholds[fold_of], data.genres,
                                   data.groups)  # fmt: skip
    for f in folds:
        rows = fold_of == f.index
        m = metrics.track_metrics(data.labels[rows], scores[rows], thresholds[f.index], data.genres,
                          [g for g, r in zip(data.groups, rows) if r])  # fmt: skip
        result.per_fold.append({
            "fold": f.index, "tracks": int(rows.sum()), "macro": m["macro"],
            "per_genre": {g: {k: v[k] for k in ("roc_auc", "pr_auc", "f1", "positive_groups")}
                          for g, v in m["per_genre"].items()},
        })  # fmt: skip
    return result


def genre_counts(data: LabelledSet, folds: list[Fold]) -> dict:
    """Groups (and tracks) behind each genre: overall and on each side of each fold."""
    group_genres = data.group_genres()

    def count(groups) -> dict[str, int]:
        return {g: sum(g in group_genres[k] for k in groups) for g in data.genres}

    return {
        "overall": count(group_genres),
        "tracks": {g: int(n) for g, n in zip(data.genres, data.labels.sum(axis=0))},
        "per_fold": [{side: count(getattr(f, side)) for side in ("train", "val", "test")}
                     for f in folds],
    }  # fmt: skip


def _notes(evaluation: Evaluation) -> list[str]:
    notes = []
    if evaluation.scheme != "logo":
        notes.append(
            f"Grouped {len(evaluation.folds)}-fold cross-validation, not Ma et al.'s "
            "leave-one-film-out: each model saw fewer groups, so group-level numbers are "
            "not directly comparable with theirs."
        )
    per_fold = evaluation.genre_groups["per_fold"]
    thin = [g for g in evaluation.genres
            if any(f["train"][g] == 0 for f in per_fold)]  # fmt: skip
    if thin:
        notes.append(f"Genres with no training group in some fold: {', '.join(thin)}.")
    return notes


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- entry point


def run(
    manifest,
    out_dir,
    methods=DEFAULT_METHODS,
    scheme: str = "kfold",
    folds: int = 4,
    train_config: TrainConfig = DEFAULT_TRAIN,
    cache_dir: Path | None = None,
    progress: bool = True,
    seed: int = 0,
    recipes: dict[str, TrainConfig] | None = None,
    fusions: list[tuple[str, str]] | None = None,
) -> Path:
    """Load a manifest, cross-validate, write report.md, figures and evaluation.json.

    Returns the report's path.
    """
    from cuefinder.evaluate.report import write_report

    # argument errors before any audio is decoded (the genres are not known yet)
    _request(methods, ("genre",), train_config, recipes, fusions)
    if scheme not in SCHEMES:
        raise ConfigError(f"unknown scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    data, skipped = dataset.load(
        manifest, FeatureConfig(), max_seconds=train_config.max_seconds, cache_dir=cache_dir,
        progress=progress,
    )  # fmt: skip
    if not len(data):
        why = f"; first: {skipped[0]}" if skipped else ""
        raise DatasetError(f"{manifest}: no usable tracks ({len(skipped)} skipped{why})")
    musicnn_data = None
    if any(m in TRANSFER for m in methods):
        musicnn_data, _ = dataset.load(
            manifest, MUSICNN_FEATURES, max_seconds=train_config.max_seconds,
            cache_dir=cache_dir, progress=progress,
        )  # fmt: skip
        if list(musicnn_data.paths) != list(data.paths):
            raise DatasetError(f"{manifest}: the two front ends could not read the same tracks")
    try:
        make_folds(data, scheme, folds, seed, train_config.val_fraction)
    except ValueError as err:
        groups = len(set(data.groups))
        raise DatasetError(f"{manifest}: {len(data)} tracks in {groups} groups: {err}") from err
    evaluation = cross_validate(
        data, methods, scheme=scheme, folds=folds, seed=seed, train_config=train_config,
        progress=progress, musicnn_data=musicnn_data, recipes=recipes, fusions=fusions,
    )  # fmt: skip
    evaluation.manifest = str(manifest)
    evaluation.skipped = skipped
    return write_report(evaluation, out_dir)
