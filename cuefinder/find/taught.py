"""A library's own tags and corrections, learned from a handful of its examples.

Everything here works on what indexing stored, in the space "sounds like" joins
(``catalog.vectors.joined``): each track's model embedding beside its sound embedding
(what musicnn's tagger hears), each block and the whole at unit length; for a part of a
track, the mean of its segment embeddings beside the track's sound embedding. Nothing is
decoded again. The projection "sounds like" applies first for a model that carries one
(``model/likeness.py``) is left out here: tags taught from 1 or 3 examples ranked
slightly worse in it, and no better from 10 (``bench/bench_teach.py``, ``auto
(projected)``).

A **tag** is learned as a linear scorer on the embedding, ``raw = x @ w + b``:

- ``prototype`` (what ``auto`` picks): the direction from the negatives' centre to
  the positives' centre, the negatives being the explicit ones and a sample of the
  catalog (its background: most tracks are not any one tag);
- ``logistic`` (on request): L2-regularised logistic regression, positives against
  explicit negatives and the background sample, on features standardised over the
  background; it ranked worse than the prototype in ``bench/bench_teach.py``.

With at least ``CALIBRATE_FROM`` positives the raw score is calibrated: Platt scaling
on cross-validated scores of the examples and the background (the background counted
as "not the tag"; Platt's smoothed targets, so that a few examples never make a score a
certainty), which also gives the tag's self-check, the cross-validated ROC-AUC
of its examples against the catalog. Scoring a whole catalog is one matrix product;
so is scoring a track's segments, which gives the best segment and "why it matched"
for tags as for genres. Scorers are stored per model with a fingerprint of their
examples and learned again when either changes.

A **correction** ("this track is not Comedy") adjusts a model genre for this catalog
only. Each corrected track pulls the genre's logit towards the correction (to
``CORRECTED``); every track is moved by the corrections near it in the embedding,
weighted by ``exp((cos - 1) / KERNEL_WIDTH)`` (a corrected track moves fully,
its near duplicates most, unrelated tracks hardly at all). The adjustment is applied at
search time, so it is never lost when the model changes: it is computed again
from the new model's embeddings of the same tracks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cuefinder.errors import QueryError

# "auto" learns every tag as a prototype: on the game soundtracks (bench/bench_teach.py,
# genres taught from 1 to 20 tracks of some games, judged on others) the logistic scorer
# ranked worse than the prototype at every k, by 0.02 to 0.07 ROC-AUC
LOGISTIC_FROM = None  # positives from which "auto" uses logistic regression (None: never)
CALIBRATE_FROM = 3  # positives from which a tag's scores are calibrated probabilities
BACKGROUND = 400  # catalog tracks sampled as the background of a tag
C = 1.0  # inverse L2 strength of the logistic scorer (standardised features)
KERNEL_WIDTH = 0.15  # reach of a correction in cosine distance
CORRECTED = 0.05  # probability a correction moves its own track to ("not": 0.05, "is": 0.95)


@dataclass
class Scorer:
    """A learned tag: ``raw = x @ weights + bias``; ``probability`` when calibrated."""

    weights: np.ndarray  # (dim,) float32
    bias: float
    method: str  # "prototype" or "logistic"
    positives: int
    negatives: int  # explicit ones
    calibration: tuple[float, float] | None = None  # Platt (slope, intercept) on raw
    self_check: float | None = None  # cross-validated ROC-AUC against the background

    def raw(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weights + np.float32(self.bias)

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probability when calibrated, else a logistic squash of the raw
        score (ranks the same; not a probability)."""
        a, b = self.calibration or (1.0, 0.0)
        z = np.clip(a * self.raw(x) + b, -80.0, 80.0)  # exp stays finite in float32
        return 1.0 / (1.0 + np.exp(-z))

    def meta(self) -> dict:
        return {"bias": self.bias, "method": self.method, "positives": self.positives,
                "negatives": self.negatives, "calibration": self.calibration,
                "self_check": self.self_check}  # fmt: skip

    @classmethod
    def from_stored(cls, weights: np.ndarray, meta: dict) -> Scorer:
        cal = meta.get("calibration")
        return cls(weights, meta["bias"], meta["method"], meta["positives"], meta["negatives"],
                   tuple(cal) if cal else None, meta.get("self_check"))  # fmt: skip


def learn(
    positives: np.ndarray,
    negatives: np.ndarray,
    background: np.ndarray,
    *,
    method: str = "auto",
    calibrate: bool = True,
) -> Scorer:
    """Learn a tag's scorer from (k, dim) positives, (m, dim) negatives and a (n, dim)
    background sample of the catalog (tracks that are not examples)."""
    if len(positives) == 0:
        raise QueryError("a tag needs at least one track that is it (--add)")
    if method == "auto":
        many = LOGISTIC_FROM is not None and len(positives) >= LOGISTIC_FROM
        method = "logistic" if many else "prototype"
    fit = {"prototype": _prototype, "logistic": _logistic}.get(method)
    if fit is None:
        raise QueryError(f"method must be auto, prototype or logistic, got {method!r}")
    weights, bias = fit(positives, negatives, background)
    scorer = Scorer(weights.astype(np.float32), float(bias), method, len(positives),
                    len(negatives))  # fmt: skip
    if calibrate and len(positives) >= CALIBRATE_FROM and len(negatives) + len(background) >= 3:
        curve, scorer.self_check = _calibrate(fit, positives, negatives, background)
        # a curve that falls would turn the ranking round: the examples do not separate
        # from the rest in cross-validation, so the scores stay ranks (self_check says so)
        scorer.calibration = curve if curve[0] > 0 else None
    return scorer


def _prototype(pos, neg, background):
    rest = [x for x in (neg, background) if len(x)]
    if not rest:
        return _unit(pos.mean(axis=0)), 0.0
    # explicit negatives and the background count as halves of "not the tag"
    centre = np.mean([_unit(x.mean(axis=0)) for x in rest], axis=0)
    weights = _unit(pos.mean(axis=0)) - centre
    middle = (_unit(pos.mean(axis=0)) + centre) / 2  # raw 0 half way between the centres
    return weights, -float(middle @ weights)


def _logistic(pos, neg, background):
    from sklearn.linear_model import LogisticRegression

    base = background if len(background) >= 2 else np.vstack([pos, neg, background])
    mean, std = base.mean(axis=0), base.std(axis=0) + 1e-3
    x = (np.vstack([pos, neg, background]) - mean) / std
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg) + len(background))]
    # each side weighs the same in all; explicit negatives count twice a background track
    side = np.r_[np.ones(len(neg)) * 2.0, np.ones(len(background))]
    weight = np.r_[np.full(len(pos), 1.0 / len(pos)), side / max(side.sum(), 1e-9)]
    if len(neg) + len(background) == 0:
        return _prototype(pos, neg, background)
    model = LogisticRegression(C=C, max_iter=2000)
    model.fit(x, y, sample_weight=weight * len(y))
    weights = model.coef_[0] / std
    return weights, float(model.intercept_[0] - (mean / std) @ model.coef_[0])


def _calibrate(fit, pos, neg, background, folds: int = 5):
    """Platt curve and ROC-AUC of cross-validated raw scores (examples and background)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    x = np.vstack([pos, neg, background])
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg) + len(background))]
    folds = min(folds, len(pos))
    fold = np.empty(len(y), np.int64)
    rng = np.random.default_rng(0)
    for label in (0, 1):  # stratified: each fold gets its share of positives
        where = np.flatnonzero(y == label)
        fold[where] = rng.permutation(len(where)) % folds
    raw = np.empty(len(y))
    for f in range(folds):
        train, test = fold != f, fold == f
        p = x[train & (y == 1)]
        n_train = train & (y == 0) & (np.arange(len(y)) < len(pos) + len(neg))
        b_train = train & (np.arange(len(y)) >= len(pos) + len(neg))
        weights, bias = fit(p, x[n_train], x[b_train])
        raw[test] = x[test] @ weights + bias
    # Platt's targets: (N+ + 1) / (N+ + 2) for the examples, 1 / (N- + 2) for the rest, so
    # that three well-separated examples never make a certainty (each score is fitted as
    # both classes, weighted by its target)
    positives, negatives = y.sum(), len(y) - y.sum()
    target = np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    platt = LogisticRegression(C=1e4).fit(
        np.r_[raw, raw][:, None],
        np.r_[np.ones(len(y)), np.zeros(len(y))],
        sample_weight=np.r_[target, 1 - target],
    )
    auc = float(roc_auc_score(y, raw)) if len(set(y)) == 2 else None
    return (float(platt.coef_[0, 0]), float(platt.intercept_[0])), auc


# -- corrections of model genres ------------------------------------------------------


@dataclass
class Correction:
    """A genre's adjustment for one catalog, from its corrected tracks."""

    genre: str
    anchors: np.ndarray  # (m, dim) unit embeddings of the corrected tracks (or parts)
    deltas: np.ndarray  # (m,) logit change each asks of its own track

    def adjustment(self, x: np.ndarray) -> np.ndarray:
        """(n,) logit change for (n, dim) unit embeddings."""
        kernel = np.exp((x @ self.anchors.T - 1.0) / KERNEL_WIDTH)  # (n, m)
        return (kernel @ self.deltas) / np.maximum(1.0, kernel.sum(axis=1))

    def apply(self, probabilities: np.ndarray, x: np.ndarray) -> np.ndarray:
        return _sigmoid(_logit(probabilities) + self.adjustment(x))


def correction(genre: str, anchors: np.ndarray, scores: np.ndarray, positive: np.ndarray):
    """A Correction from corrected parts' unit embeddings, the model's probabilities of
    the genre on them, and whether each is (True) or is not (False) the genre."""
    target = np.where(positive, _logit(1 - CORRECTED), _logit(CORRECTED))
    current = _logit(scores)
    # a correction only pushes: a track already past the target stays where it is
    deltas = np.where(positive, np.maximum(0.0, target - current),
                      np.minimum(0.0, target - current))  # fmt: skip
    return Correction(genre, anchors.astype(np.float32), deltas.astype(np.float32))


def _logit(p):
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)
