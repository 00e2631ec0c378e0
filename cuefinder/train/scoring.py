"""Per-genre and macro ROC-AUC and PR-AUC of a model's scores: what training reads to stop
early and records for its held-out test tracks (the evaluation's further metrics are in
``evaluate.metrics``).

All functions are pure: numpy arrays in, numbers out. ``labels`` are 0/1 and ``scores``
higher-is-more-positive, both (tracks, genres) unless a docstring says (tracks,).
"""

from __future__ import annotations

import numpy as np


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC-AUC of one genre; None when only one class is present."""
    from sklearn.metrics import roc_auc_score

    if labels.min() == labels.max():
        return None
    return float(roc_auc_score(labels, scores))


def pr_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Average precision (area under the PR curve) of one genre; None without positives."""
    from sklearn.metrics import average_precision_score

    if labels.max() == 0 or labels.min() == 1:
        return None
    return float(average_precision_score(labels, scores))


def macro_roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean ROC-AUC over genres that have both classes (0.5 when none do)."""
    values = [roc_auc(labels[:, g], scores[:, g]) for g in range(labels.shape[1])]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else 0.5


def evaluate(labels: np.ndarray, scores: np.ndarray, genres, groups: list[str]) -> dict:
    """Per-genre and macro metrics with the positives behind each (tracks and groups).

    Parameters
    ----------
    labels : (tracks, genres) 0/1
    scores : (tracks, genres) probabilities
    genres : names of the columns
    groups : group (game, film) of each track
    """
    per_genre = {}
    for g, name in enumerate(genres):
        positive = labels[:, g] > 0
        per_genre[name] = {
            "roc_auc": _round(roc_auc(labels[:, g], scores[:, g])),
            "pr_auc": _round(pr_auc(labels[:, g], scores[:, g])),
            "prevalence": round(float(positive.mean()), 4) if len(positive) else None,
            "positive_tracks": int(positive.sum()),
            "positive_groups": len({grp for grp, p in zip(groups, positive) if p}),
        }
    scored = [m for m in per_genre.values() if m["roc_auc"] is not None]
    macro = {
        "roc_auc": _round(float(np.mean([m["roc_auc"] for m in scored])) if scored else None),
        "pr_auc": _round(float(np.mean([m["pr_auc"] for m in scored])) if scored else None),
        "random_pr_auc": _round(
            float(np.mean([m["prevalence"] for m in scored])) if scored else None
        ),
        "genres_scored": len(scored),
    }
    return {
        "per_genre": per_genre,
        "macro": macro,
        "tracks": int(len(labels)),
        "groups": len(set(groups)),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
