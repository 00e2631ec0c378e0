"""Logistic regressions on standardised track features, one per genre, their strength
chosen on the training groups: the MFCC and musicnn baselines of an evaluation, and the
regressions a model file carries on the sound embedding (``model/heard.py``).

``fit(x, labels, groups)`` standardises ``x`` on the given tracks, picks ``C`` from
``C_GRID`` by an inner grouped 3-fold split of their groups (pooled macro ROC-AUC) and
fits one ``LogisticRegression(class_weight="balanced")`` per genre; a genre with a single
class scores its training prevalence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cuefinder.train.scoring import macro_roc_auc

C_GRID = (0.001, 0.01, 0.1, 1.0)


@dataclass
class Fitted:
    """Standardisation and per-genre regressions of one fit."""

    mean: np.ndarray  # (features,)
    scale: np.ndarray  # (features,)
    models: list  # per genre: a fitted LogisticRegression, or a float prevalence
    c: float  # the regularisation chosen on the training groups

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(tracks, genres) probabilities of raw (unstandardised) features."""
        return predict_models(self.models, (x - self.mean) / self.scale)


def fit(x: np.ndarray, labels: np.ndarray, groups, seed: int = 0) -> Fitted:
    """Standardise ``x`` (tracks, features), choose ``C`` on ``groups``, fit per genre."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    c = choose_c(z, labels, groups, seed)
    return Fitted(mean, scale, regressions(z, labels, labels.mean(axis=0), c, seed), c)


def regressions(x, labels, prevalence, c: float, seed: int) -> list:
    """One logistic regression per genre (a genre with one class: its prevalence)."""
    from sklearn.linear_model import LogisticRegression

    models: list = []
    for g in range(labels.shape[1]):
        y = labels[:, g] > 0
        if y.all() or not y.any():
            models.append(float(prevalence[g]))
            continue
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000,
                                   random_state=seed)  # fmt: skip
        models.append(model.fit(x, y))
    return models


def choose_c(x: np.ndarray, labels: np.ndarray, groups, seed: int, grid=C_GRID) -> float:
    """The ``C`` of ``grid`` with the best pooled macro ROC-AUC over an inner grouped 3-fold
    split of the given (training) tracks; the middle of the grid with under 6 groups."""
    from sklearn.model_selection import GroupKFold

    names = np.array(groups)
    if len(set(groups)) < 6:
        return grid[len(grid) // 2]
    best, best_c = -1.0, grid[0]
    for c in grid:
        pooled = np.zeros_like(labels)
        for train, test in GroupKFold(3).split(x, groups=names):
            prevalence = labels[train].mean(axis=0)
            models = regressions(x[train], labels[train], prevalence, c, seed)
            pooled[test] = predict_models(models, x[test])
        score = macro_roc_auc(labels, pooled)
        if score > best:
            best, best_c = score, c
    return best_c


def predict_models(models: list, x: np.ndarray) -> np.ndarray:
    """(tracks, genres) probabilities of standardised features."""
    cols = [
        np.full(len(x), m, np.float32) if isinstance(m, float) else m.predict_proba(x)[:, 1]
        for m in models
    ]
    return np.stack(cols, axis=1).astype(np.float32)
