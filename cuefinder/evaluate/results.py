"""What a cross-validation run produced: each method's pooled out-of-fold probabilities,
thresholds and scores, saved as (and read from) ``evaluation.json``; and what reports and
cards compute from it (group-level scores, group-bootstrap differences, member spreads;
ROC-AUC ranked within one model is ``within``'s)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cuefinder.evaluate import within as within_one_model
from cuefinder.evaluate.metrics import BOOTSTRAP, defined, fast_macro, prf, rounded
from cuefinder.train.scoring import roc_auc
from cuefinder.train.splits import Fold


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
    """Method -> macro numbers: pooled ROC-AUC, PR-AUC, P, R, F1, group-level F1, ROC-AUC
    within one model (``within.macro``), fold spread."""
    out = {}
    for name, m in evaluation.methods.items():
        within = within_one_model.macro(
            evaluation.labels, m.scores, evaluation.groups, evaluation.fold_of
        )[0]
        macro = m.metrics["macro"]
        group = evaluation.group_level.get(name, {}).get("macro", {})
        fold_roc = [f["macro"]["roc_auc"] for f in m.per_fold if f["macro"]["roc_auc"] is not None]
        out[name] = {
            "kind": m.kind,
            "roc_auc": macro["roc_auc"], "pr_auc": macro["pr_auc"],
            "precision": macro["precision"], "recall": macro["recall"], "f1": macro["f1"],
            "group_f1": group.get("f1"), "group_roc_auc": group.get("roc_auc"),
            "within_roc_auc": rounded(defined(within)),
            "fold_roc_auc_mean": rounded(np.mean(fold_roc)) if fold_roc else None,
            "fold_roc_auc_std": rounded(np.std(fold_roc)) if fold_roc else None,
            "seconds": round(m.seconds, 1),
        }  # fmt: skip
    return out


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
      (``prf``), plus group-level macro ROC-AUC (genres with both classes).

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
        decided = prf(labels, scores, m.thresholds[fold])
        per_genre = {}
        for g, genre in enumerate(evaluation.genres):
            values = decided["per_genre"][g]
            per_genre[genre] = {k: rounded(values[k]) for k in ("precision", "recall", "f1")}
            auc = roc_auc(labels[:, g], scores[:, g])
            per_genre[genre] |= {
                "positive_groups": int(labels[:, g].sum()),
                "roc_auc": rounded(auc),
            }
        aucs = [v["roc_auc"] for v in per_genre.values() if v["roc_auc"] is not None]
        macro = {k: rounded(decided["macro"][k]) for k in ("precision", "recall", "f1")}
        macro["genres_scored"] = decided["macro"]["genres_scored"]
        macro["roc_auc"] = rounded(np.mean(aucs)) if aucs else None
        out[name] = {
            "per_genre": per_genre,
            "macro": macro,
            "groups": len(names),
            "protocol": protocol,
        }
    return out


# ---------------------------------------------------------------- differences and spreads


def bootstrap_difference(
    evaluation: Evaluation,
    a: str,
    b: str,
    key: str = "roc_auc",
    resamples: int = BOOTSTRAP,
    seed: int = 0,
) -> dict:
    """Difference a - b in pooled macro ROC-AUC or PR-AUC, with a 95% group-bootstrap interval.

    Groups (not tracks) are resampled with replacement, since tracks of a group are not
    independent; macro over the genres with both classes in each resample.
    """
    labels = evaluation.labels
    sa, sb = evaluation.methods[a].scores, evaluation.methods[b].scores
    names = sorted(set(evaluation.groups))
    groups = np.array(evaluation.groups)
    rows = [np.flatnonzero(groups == k) for k in names]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        pick = np.concatenate([rows[i] for i in rng.integers(len(names), size=len(names))])
        da = fast_macro(labels[pick], sa[pick], key)
        db = fast_macro(labels[pick], sb[pick], key)
        if da is not None and db is not None:
            diffs.append(da - db)
    point = (
        evaluation.methods[a].metrics["macro"][key] - evaluation.methods[b].metrics["macro"][key]
    )
    low, high = np.percentile(diffs, [2.5, 97.5]) if diffs else (np.nan, np.nan)
    share = float(np.mean(np.array(diffs) > 0)) if diffs else np.nan
    return {
        "difference": float(point),
        "low": float(low),
        "high": float(high),
        "share_positive": share,
    }


def member_spread(evaluation: Evaluation) -> dict[str, float]:
    """Architecture -> max - min pooled macro ROC-AUC over ensemble members of it (2+)."""
    by_arch: dict[str, list[float]] = {}
    for name, r in evaluation.methods.items():
        if r.kind == "member":
            by_arch.setdefault(name.split("-", 1)[1], []).append(r.metrics["macro"]["roc_auc"])
    return {a: max(v) - min(v) for a, v in by_arch.items() if len(v) > 1}


def group_positive_share(evaluation: Evaluation, method: str) -> tuple[float, float]:
    """(share of (group, genre) pairs a method marks positive at group level, share true)."""
    groups = np.array(evaluation.groups)
    names = sorted(set(evaluation.groups))
    result = evaluation.methods[method]
    scores = np.stack([result.scores[groups == k].mean(axis=0) for k in names])
    labels = np.stack([evaluation.labels[groups == k].max(axis=0) for k in names])
    fold = np.array([evaluation.fold_of[groups == k][0] for k in names])
    return float((scores >= result.thresholds[fold]).mean()), float(labels.mean())
