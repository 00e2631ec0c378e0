"""Calibrated genre probabilities: Platt scaling fitted on cross-validated predictions.

A network's sigmoid outputs rank tracks but are not probabilities a person can read: on
games it never heard, the built-in model's Horror output spans a narrow band whatever the
music. Per genre, a logistic curve on the output's log-odds is fitted to the genre labels
of the out-of-fold predictions of ``cuefinder evaluate`` (every track scored by a network
that never heard its game). Its effect is measured the same way: the curve is fitted on
three folds' predictions and scored on the fourth (expected calibration error, ECE,
before and after). The curves fitted on all folds go into the model file
(``cuefinder card --estimate``), and search reports each result's calibrated fit.
"""

from __future__ import annotations

import numpy as np

BINS = 10  # equal-width probability bins for the expected calibration error
EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def fit_platt(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(a, b) of sigmoid(a * logit(score) + b), fitted by (lightly regularised) maximum
    likelihood; a genre with one class only gets its base rate."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels).astype(int)
    rate = np.clip(labels.mean(), EPS, 1 - EPS)
    if labels.min() == labels.max():
        return 0.0, float(np.log(rate / (1 - rate)))
    model = LogisticRegression(C=100.0).fit(logit(scores)[:, None], labels)
    a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
    if a < 0:  # a ranking worse than chance is not trusted to stay inverted: the base rate
        return 0.0, float(np.log(rate / (1 - rate)))
    return a, b


def apply(scores: np.ndarray, a: float, b: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(a * logit(scores) + b)))


def ece(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: the track-weighted gap between mean predicted
    probability and the share of positives, over equal-width probability bins."""
    p, y = np.asarray(probabilities, np.float64), np.asarray(labels, np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    gap = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            gap += inside.sum() * abs(p[inside].mean() - y[inside].mean())
    return float(gap / len(p))


def calibrate(scores, labels, fold_of, genres) -> dict:
    """Per genre: ECE of the raw outputs and of Platt-scaled ones cross-fitted (the curve
    fitted on the other folds, applied to each fold); the curve fitted on every track is
    kept where it lowered the cross-fitted ECE, the identity (a=1, b=0) elsewhere."""
    scores, labels, fold_of = np.asarray(scores), np.asarray(labels), np.asarray(fold_of)
    out = {"bins": BINS, "params": {}, "ece": {}}
    for c, genre in enumerate(genres):
        crossed = np.empty(len(scores))
        for fold in np.unique(fold_of):
            test = fold_of == fold
            a, b = fit_platt(scores[~test, c], labels[~test, c])
            crossed[test] = apply(scores[test, c], a, b)
        before, after = ece(scores[:, c], labels[:, c]), ece(crossed, labels[:, c])
        better = after < before
        out["params"][genre] = list(fit_platt(scores[:, c], labels[:, c])) if better else [1, 0]
        out["ece"][genre] = {"before": round(before, 4), "platt": round(after, 4),
                             "after": round(min(before, after), 4)}  # fmt: skip
    for when in ("before", "platt", "after"):
        out[f"macro_{when}"] = round(float(np.mean([e[when] for e in out["ece"].values()])), 4)
    return out


def from_evaluation(evaluation, method: str) -> dict:
    """``calibrate`` on a ``cuefinder evaluate`` run's out-of-fold predictions of a method."""
    record = calibrate(evaluation.methods[method].scores, evaluation.labels,
                       evaluation.fold_of, evaluation.genres)  # fmt: skip
    return {"method": method, **record}


def report_section(evaluation) -> list[str]:
    """The evaluation report's calibration table: per genre and method, the expected
    calibration error of the raw out-of-fold probabilities and of Platt-scaled ones
    (cross-fitted over the folds)."""
    methods = [
        m for m, r in evaluation.methods.items() if r.kind != "baseline" or m == "mfcc-logreg"
    ]
    if not methods:
        return []
    records = {m: from_evaluation(evaluation, m) for m in methods}
    lines = [
        "## Calibration",
        "",
        f"Expected calibration error ({BINS} equal-width bins) of each method's out-of-fold "
        "probabilities, raw and after Platt scaling fitted on the other folds' predictions "
        "(cross-fitted: no track's curve saw its fold). Lower is better.",
        "",
        "| genre | " + " | ".join(f"{m} raw | {m} Platt" for m in methods) + " |",
        "|---|" + "---|---|" * len(methods),
    ]
    for genre in evaluation.genres:
        errors = [records[m]["ece"][genre] for m in methods]
        cells = [f"{e['before']:.3f} | {e['platt']:.3f}" for e in errors]
        lines.append(f"| {genre} | " + " | ".join(cells) + " |")
    cells = [f"{records[m]['macro_before']:.3f} | {records[m]['macro_platt']:.3f}" for m in methods]
    lines += ["| **mean** | " + " | ".join(cells) + " |", ""]
    return lines
