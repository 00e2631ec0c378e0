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
are reported as ``a+b``: the mean of the two methods' probabilities, nothing learned.

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

import json
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from cuefinder.errors import ConfigError, DatasetError
from cuefinder.features import MUSICNN_FEATURES, FeatureConfig
from cuefinder.model.config import METHODS, MUSICNN_MODES
from cuefinder.train import baselines, dataset, metrics
from cuefinder.train.dataset import LabelledSet
from cuefinder.train.splits import split_groups
from cuefinder.train.trainer import TrainConfig

TRANSFER = tuple(MUSICNN_MODES)  # read musicnn's front end
SCHEMES = ("kfold", "logo")
DEFAULT_TRAIN = TrainConfig()
DEFAULT_ENSEMBLE = {"members": 3, "architectures": ("cnn", "cnn", "resnet")}


# ---------------------------------------------------------------- folds


@dataclass(frozen=True)
class Fold:
    """Group names on each side of one cross-validation fold."""

    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def check(self) -> None:
        """Raise AssertionError if a group is on two sides or a side is empty."""
        sides = {"train": set(self.train), "val": set(self.val), "test": set(self.test)}
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            shared = sides[a] & sides[b]
            if shared:
                raise AssertionError(f"fold {self.index}: groups in {a} and {b}: {sorted(shared)}")
        for side, names in sides.items():
            if not names:
                raise AssertionError(f"fold {self.index}: no {side} groups")


def assign_groups(
    group_genres: dict[str, set[str]], sizes: dict[str, int], folds: int, seed: int = 0
) -> list[list[str]]:
    """Whole groups dealt out to ``folds`` test folds, balancing genre coverage.

    Groups holding rare genres are placed first (larger groups first among equals, a
    seeded shuffle for the rest); each goes to the fold where its genres are least
    represented so far (as a share of each genre's groups), plus a penalty for the
    fold's share of tracks, so folds also stay similar in size.

    Parameters
    ----------
    group_genres : group -> its genres
    sizes : group -> its number of tracks
    folds : number of folds, 2 .. number of groups
    """
    names = sorted(group_genres)
    if not 2 <= folds <= len(names):
        raise ConfigError(f"need 2 <= folds <= {len(names)} groups, got folds={folds}")
    rng = random.Random(seed)
    holders = Counter(g for k in names for g in group_genres[k])
    rng.shuffle(names)
    names.sort(key=lambda k: (min((holders[g] for g in group_genres[k]), default=10**9),
                              -sizes[k]))  # fmt: skip
    target = sum(sizes.values()) / folds
    counts = [Counter() for _ in range(folds)]
    tracks = [0] * folds
    members: list[list[str]] = [[] for _ in range(folds)]
    for left, k in enumerate(names[::-1]):  # left: groups still to place after this one
        empty = [f for f in range(folds) if not members[f]]
        candidates = empty if len(empty) > left else list(range(folds))
        rng.shuffle(candidates)

        def cost(f: int, k: str = k) -> float:
            share = sum(counts[f][g] / holders[g] for g in group_genres[k])
            return share + (tracks[f] + sizes[k]) / target

        best = min(candidates, key=cost)
        members[best].append(k)
        counts[best].update(group_genres[k])
        tracks[best] += sizes[k]
    return [sorted(m) for m in members]


def make_folds(
    data: LabelledSet, scheme: str = "kfold", folds: int = 4, seed: int = 0,
    val_fraction: float = 0.2,
) -> list[Fold]:  # fmt: skip
    """The folds of a scheme: test groups per fold, and a validation split of the rest."""
    group_genres = data.group_genres()
    if scheme == "kfold":
        tests = assign_groups(group_genres, Counter(data.groups), folds, seed)
    elif scheme == "logo":
        tests = [[k] for k in sorted(group_genres)]
    else:
        raise ConfigError(f"unknown scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    out = []
    for i, test in enumerate(tests):
        rest = [k for k in sorted(group_genres) if k not in set(test)]
        if len(rest) < 2:
            raise ConfigError(f"fold {i}: {len(rest)} training group(s); need 2 for validation")
        train, val = split_groups({k: group_genres[k] for k in rest}, val_fraction, seed + 1 + i)
        fold = Fold(i, tuple(train), tuple(val), tuple(sorted(test)))
        fold.check()
        out.append(fold)
    covered = [k for f in out for k in f.test]
    if sorted(covered) != sorted(group_genres):
        raise AssertionError("every group must be a test group exactly once")
    return out


# ---------------------------------------------------------------- results


@dataclass
class MethodResult:
    """One method's out-of-fold predictions and their scores."""

    name: str
    kind: str  # "baseline", "network", "member" (of the ensemble) or "ensemble"
    scores: np.ndarray  # (tracks, genres) out-of-fold
    thresholds: np.ndarray  # (folds, genres) chosen on each fold's validation tracks
    metrics: dict = field(default_factory=dict)  # pooled over folds
    per_fold: list = field(default_factory=list)  # one metrics dict per fold
    seconds: float = 0.0  # fitting and predicting, all folds
    note: str = ""
    training: list = field(default_factory=list)  # networks: per fold, epochs and best epoch

    def to_dict(self) -> dict:
        return {
            "name": self.name, "kind": self.kind, "note": self.note,
            "seconds": self.seconds, "metrics": self.metrics,
            "per_fold": self.per_fold, "thresholds": np.round(self.thresholds, 6).tolist(),
            "training": self.training,
            "scores": np.round(self.scores.astype(np.float64), 6).tolist(),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, values: dict) -> MethodResult:
        return cls(
            values["name"], values["kind"], np.asarray(values["scores"], np.float32),
            np.asarray(values["thresholds"], np.float64), values["metrics"],
            values["per_fold"], values["seconds"], values.get("note", ""),
            values.get("training", []),
        )  # fmt: skip


@dataclass
class Evaluation:
    """Everything a cross-validation produced: predictions, metrics, folds, timings, config."""

    genres: tuple[str, ...]
    paths: list[str]
    groups: list[str]  # per track
    labels: np.ndarray  # (tracks, genres)
    folds: list[Fold]
    fold_of: np.ndarray  # (tracks,) the fold in which each track is a test track
    methods: dict[str, MethodResult]
    scheme: str
    config: dict
    genre_groups: dict  # groups (and tracks) behind each genre, overall and per fold
    timings: dict
    group_level: dict = field(default_factory=dict)  # method -> film_level() result
    manifest: str = ""
    skipped: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    similarity: dict = field(default_factory=dict)  # space -> (tracks,) same-group P@10

    def to_dict(self) -> dict:
        return {
            "manifest": self.manifest, "scheme": self.scheme, "config": self.config,
            "genres": list(self.genres), "tracks": len(self.paths),
            "n_groups": len(set(self.groups)), "notes": self.notes, "timings": self.timings,
            "genre_groups": self.genre_groups,
            "folds": [asdict(f) for f in self.folds],
            "summary": summary(self), "group_level": self.group_level,
            "methods": {k: m.to_dict() for k, m in self.methods.items()},
            "paths": self.paths, "groups": self.groups,
            "labels": self.labels.astype(int).tolist(), "fold_of": self.fold_of.tolist(),
            "skipped": self.skipped,
            "similarity": {k: np.round(v, 4).tolist() for k, v in self.similarity.items()},
        }  # fmt: skip

    @classmethod
    def from_dict(cls, values: dict) -> Evaluation:
        folds = [Fold(f["index"], tuple(f["train"]), tuple(f["val"]), tuple(f["test"]))
                 for f in values["folds"]]  # fmt: skip
        return cls(
            tuple(values["genres"]), values["paths"], values["groups"],
            np.asarray(values["labels"], np.float32), folds,
            np.asarray(values["fold_of"], int),
            {k: MethodResult.from_dict(m) for k, m in values["methods"].items()},
            values["scheme"], values["config"], values["genre_groups"], values["timings"],
            values.get("group_level", {}), values.get("manifest", ""),
            values.get("skipped", []), values.get("notes", []),
            {k: np.asarray(v) for k, v in values.get("similarity", {}).items()},
        )  # fmt: skip

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Evaluation:
        return cls.from_dict(json.loads(Path(path).read_text()))


def summary(evaluation: Evaluation) -> dict:
    """Method -> macro numbers: pooled ROC-AUC, PR-AUC, P, R, F1, group-level F1, fold spread."""
    out = {}
    for name, m in evaluation.methods.items():
        macro = m.metrics["macro"]
        group = evaluation.group_level.get(name, {}).get("macro", {})
        fold_roc = [f["macro"]["roc_auc"] for f in m.per_fold if f["macro"]["roc_auc"] is not None]
        out[name] = {
            "kind": m.kind,
            "roc_auc": macro["roc_auc"], "pr_auc": macro["pr_auc"],
            "precision": macro["precision"], "recall": macro["recall"], "f1": macro["f1"],
            "group_f1": group.get("f1"), "group_roc_auc": group.get("roc_auc"),
            "fold_roc_auc_mean": _r(np.mean(fold_roc)) if fold_roc else None,
            "fold_roc_auc_std": _r(np.std(fold_roc)) if fold_roc else None,
            "seconds": round(m.seconds, 1),
        }  # fmt: skip
    return out


# ---------------------------------------------------------------- cross-validation


def ensemble_recipe(config: TrainConfig) -> TrainConfig:
    """The ensemble's recipe: ``config`` itself when it has several members, else 3 members
    (cnn, cnn, resnet) with the rest of ``config``."""
    return config if config.members > 1 else replace(config, **DEFAULT_ENSEMBLE)


def cross_validate(
    data: LabelledSet,
    methods=("random", "majority", "mfcc-logreg", "ensemble"),
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

    methods = tuple(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
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
    plan = _network_plan(methods, data.genres, train_config, recipes or {})
    n, g, k = len(data), len(data.genres), len(fold_list)
    names = [m for m in methods if m in baselines.BASELINES] + [p["name"] for p in plan]
    if "ensemble" in methods:
        names.append("ensemble")
    fused = [(f"{a}+{b}", a, b) for a, b in fusions or ()]
    missing = sorted({m for _, a, b in fused for m in (a, b)} - set(names))
    if missing:
        raise DatasetError(f"fusions name methods that are not evaluated: {', '.join(missing)}")
    names += [name for name, _, _ in fused]
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
    for arch in ("cnn", "resnet"):
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
    for arch in ("cnn", "resnet"):
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
    result.metrics = track_metrics(data.labels, scores, thresholds[fold_of], data.genres,
                                   data.groups)  # fmt: skip
    for f in folds:
        rows = fold_of == f.index
        m = track_metrics(data.labels[rows], scores[rows], thresholds[f.index], data.genres,
                          [g for g, r in zip(data.groups, rows) if r])  # fmt: skip
        result.per_fold.append({
            "fold": f.index, "tracks": int(rows.sum()), "macro": m["macro"],
            "per_genre": {g: {k: v[k] for k in ("roc_auc", "pr_auc", "f1", "positive_groups")}
                          for g, v in m["per_genre"].items()},
        })  # fmt: skip
    return result


def track_metrics(labels, scores, thresholds, genres, groups) -> dict:
    """``metrics.evaluate`` plus P/R/F1 at the thresholds, per genre and macro.

    labels, scores : (tracks, genres); thresholds : (genres,) or (tracks, genres)
    """
    out = metrics.evaluate(labels, scores, genres, groups)
    decided = metrics.prf(labels, scores, thresholds)
    for name, values in zip(genres, decided["per_genre"]):
        out["per_genre"][name] |= {k: _r(values[k]) for k in ("precision", "recall", "f1")}
    out["macro"] |= {k: _r(decided["macro"][k]) for k in ("precision", "recall", "f1")}
    out["macro"]["genres_with_positives"] = decided["macro"]["genres_scored"]
    return out


def _r(value) -> float | None:
    return None if value is None else round(float(value), 4)


# ---------------------------------------------------------------- group (film) level


def film_level(evaluation: Evaluation) -> dict:
    """Ma et al.'s film-level protocol applied to groups, for each method.

    * A group's score per genre is the mean of its tracks' pooled out-of-fold scores
      (all of a group's tracks are in the same test fold, so one model scores them).
    * A group's labels are the union of its tracks' labels (``LabelledSet.group_genres``,
      the same definition the splits use). For films labelled by IMDb every track carries
      the film's genres, so the union is the film's genres; for games it also includes
      genres that track_labels.csv adds to single tracks.
    * Decisions use the thresholds chosen on the validation *tracks* of the group's
      fold, applied to the group's mean score (too few validation groups to tune on).
      A majority predictor keeps its fixed thresholds.
    * P/R/F1 per genre with 0/0 = 0, macro over genres with at least one positive group
      (``metrics.prf``), plus group-level macro ROC-AUC (genres with both classes).

    With ``scheme="logo"`` this is Ma et al.'s protocol (one held-out film per fold);
    with ``"kfold"`` each model is trained on fewer groups, noted in ``protocol``.

    Returns method -> {"per_genre", "macro", "groups", "protocol"}.
    """
    names = sorted(set(evaluation.groups))
    rows = {k: [i for i, g in enumerate(evaluation.groups) if g == k] for k in names}
    labels = np.stack([evaluation.labels[rows[k]].max(axis=0) for k in names])
    fold = np.array([evaluation.fold_of[rows[k][0]] for k in names])
    protocol = (
        "Ma et al. 2021: leave-one-group-out, group score = mean of its track scores"
        if evaluation.scheme == "logo"
        else f"Ma et al. 2021 aggregation, but with grouped {len(evaluation.folds)}-fold "
        "cross-validation instead of leave-one-group-out"
    )
    out = {}
    for name, m in evaluation.methods.items():
        scores = np.stack([m.scores[rows[k]].mean(axis=0) for k in names])
        decided = metrics.prf(labels, scores, m.thresholds[fold])
        per_genre = {}
        for g, genre in enumerate(evaluation.genres):
            values = decided["per_genre"][g]
            per_genre[genre] = {k: _r(values[k]) for k in ("precision", "recall", "f1")}
            auc = metrics.roc_auc(labels[:, g], scores[:, g])
            per_genre[genre] |= {"positive_groups": int(labels[:, g].sum()), "roc_auc": _r(auc)}
        aucs = [v["roc_auc"] for v in per_genre.values() if v["roc_auc"] is not None]
        out[name] = {
            "per_genre": per_genre,
            "macro": {k: _r(decided["macro"][k]) for k in ("precision", "recall", "f1")}
            | {"genres_scored": decided["macro"]["genres_scored"],
               "roc_auc": _r(np.mean(aucs)) if aucs else None},
            "groups": len(names),
            "protocol": protocol,
        }  # fmt: skip
    return out


# ---------------------------------------------------------------- counts and notes


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
    methods=("random", "majority", "mfcc-logreg", "ensemble"),
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
    from cuefinder.train.report import write_report

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
