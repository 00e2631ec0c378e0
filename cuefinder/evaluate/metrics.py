"""Multi-label metrics over tracks beyond training's AUCs (``train.scoring``): F1
thresholds, precision/recall/F1 at given thresholds, curve points for plots, exact fast
AUCs for bootstraps, same-group retrieval and group bootstraps.

All functions are pure: numpy arrays in, numbers or arrays out. ``labels`` are 0/1 and
``scores`` higher-is-more-positive, both (tracks, genres) unless a docstring says (tracks,).
"""

from __future__ import annotations

import numpy as np

from cuefinder.catalog.vectors import unit_rows
from cuefinder.train.scoring import evaluate, pr_auc

BOOTSTRAP = 1000  # group resamples for an interval of a macro score or a difference

# ---------------------------------------------------------------- thresholds and P/R/F1


def best_thresholds(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per genre, the decision threshold that maximises F1 on the given (validation) data.

    A track is predicted positive when ``score >= threshold``. Every threshold between the
    chosen score and the next lower distinct score gives the same F1 on these data; the
    midpoint of that interval is returned (the lowest score itself when it is the choice),
    so that slightly lower scores on new data are not flipped by an edge. Ties in F1 go to
    the higher threshold (fewer positives). A genre without positives gets 0.5.

    Parameters
    ----------
    labels : (tracks, genres) 0/1
    scores : (tracks, genres) scores, higher = more likely positive

    Returns
    -------
    (genres,) float64 thresholds
    """
    labels, scores = _check(labels, scores)
    out = np.full(labels.shape[1], 0.5)
    for g in range(labels.shape[1]):
        y, s = labels[:, g] > 0, scores[:, g].astype(np.float64)
        if not y.any():
            continue
        order = np.argsort(-s, kind="stable")
        s_sorted, y_sorted = s[order], y[order]
        tp = np.cumsum(y_sorted)
        predicted = np.arange(1, len(s) + 1)
        # a threshold can only sit at the last position of a run of equal scores
        last = np.r_[s_sorted[1:] != s_sorted[:-1], True]
        tp, predicted, cut = tp[last], predicted[last], s_sorted[last]
        f1 = 2 * tp / (predicted + y.sum())
        best = int(np.flatnonzero(f1 == f1.max())[0])  # highest threshold among ties
        out[g] = cut[best] if best + 1 == len(cut) else (cut[best] + cut[best + 1]) / 2
    return out


def prf(labels: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> dict:
    """Per-genre and macro precision, recall and F1 of ``score >= threshold`` decisions.

    Conventions: 0/0 = 0 everywhere (precision without predicted positives, recall
    without true positives, F1 when precision + recall = 0). The macro averages run
    over the genres with at least one positive label in ``labels`` (``genres_scored``);
    a genre absent from the data cannot be recalled, and scoring it 0 would measure the
    data, not the model. ``macro_all`` averages over every genre with the 0/0 = 0 rule.

    Parameters
    ----------
    labels : (tracks, genres) 0/1
    scores : (tracks, genres)
    thresholds : (genres,) one per genre, or (tracks, genres) one per track and genre
        (e.g. the thresholds of each track's cross-validation fold)

    Returns
    -------
    {"per_genre": [{"precision", "recall", "f1", "tp", "fp", "fn", "support"}, ...] (genre
    order), "macro": {"precision", "recall", "f1", "genres_scored"}, "macro_all": {...}}
    """
    labels, scores = _check(labels, scores)
    thresholds = np.broadcast_to(np.asarray(thresholds, np.float64), scores.shape)
    truth, decided = labels > 0, scores >= thresholds
    tp = (truth & decided).sum(axis=0)
    fp = (~truth & decided).sum(axis=0)
    fn = (truth & ~decided).sum(axis=0)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    per_genre = [
        {"precision": float(p), "recall": float(r), "f1": float(f), "tp": int(a),
         "fp": int(b), "fn": int(c), "support": int(a + c)}
        for p, r, f, a, b, c in zip(precision, recall, f1, tp, fp, fn)
    ]  # fmt: skip
    scored = (tp + fn) > 0

    def mean(values: np.ndarray, keep: np.ndarray) -> float | None:
        return float(values[keep].mean()) if keep.any() else None

    everything = np.ones_like(scored)
    return {
        "per_genre": per_genre,
        "macro": {"precision": mean(precision, scored), "recall": mean(recall, scored),
                  "f1": mean(f1, scored), "genres_scored": int(scored.sum())},
        "macro_all": {"precision": mean(precision, everything),
                      "recall": mean(recall, everything), "f1": mean(f1, everything),
                      "genres_scored": int(len(scored))},
    }  # fmt: skip


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise with 0/0 = 0."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


# ---------------------------------------------------------------- curves for plotting


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """ROC curve of one genre: (false positive rate, true positive rate), each (points,).

    labels, scores : (tracks,). None when only one class is present.
    """
    from sklearn.metrics import roc_curve

    if labels.min() == labels.max():
        return None
    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, tpr


def pr_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Precision-recall curve of one genre: (recall, precision), each (points,).

    labels, scores : (tracks,). None without positives (or without negatives).
    """
    from sklearn.metrics import precision_recall_curve

    if labels.max() == 0 or labels.min() == 1:
        return None
    precision, recall, _ = precision_recall_curve(labels, scores)
    return recall, precision


def macro_pr_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Mean average precision over genres that have both classes (None when none do).

    labels, scores : (tracks, genres)
    """
    values = [pr_auc(labels[:, g], scores[:, g]) for g in range(labels.shape[1])]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _check(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, scores = np.asarray(labels), np.asarray(scores)
    if labels.ndim == 1:
        labels, scores = labels[:, None], scores[:, None]
    if labels.shape != scores.shape or labels.ndim != 2:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} must match (2-D)")
    return labels, scores


# ---------------------------------------------------------------- fast exact versions


def fast_roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC-AUC of one genre by the rank-sum formula (ties count half), equal to sklearn's.

    labels, scores : (tracks,). None when only one class is present. For bootstraps,
    where thousands of calls make sklearn's input checks the bottleneck.
    """
    auc = column_roc_auc(np.asarray(labels)[:, None], np.asarray(scores)[:, None])[0]
    return None if np.isnan(auc) else float(auc)


def column_roc_auc(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``fast_roc_auc`` of every column at once: (tracks, genres) -> (genres,), NaN where a
    genre has one class only."""
    from scipy.stats import rankdata

    y = np.asarray(labels) > 0
    positives = y.sum(axis=0).astype(np.float64)
    negatives = len(y) - positives
    ranks = rankdata(scores, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((ranks * y).sum(axis=0) - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def fast_average_precision(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Average precision of one genre, equal to sklearn's ``average_precision_score``.

    labels, scores : (tracks,). AP = sum over distinct score thresholds of
    (recall step) x precision. None without positives or without negatives (as ``pr_auc``).
    """
    y = np.asarray(labels) > 0
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        return None
    order = np.argsort(-np.asarray(scores), kind="stable")
    s, y = np.asarray(scores)[order], y[order]
    last = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(y)[last]
    predicted = np.arange(1, len(y) + 1)[last]
    recall = tp / positives
    return float(np.sum(np.diff(recall, prepend=0.0) * tp / predicted))


def fast_macro(labels: np.ndarray, scores: np.ndarray, key: str = "roc_auc") -> float | None:
    """Mean ``fast_roc_auc`` (key "roc_auc") or ``fast_average_precision`` ("pr_auc") over
    genres with both classes; None when none has. labels, scores : (tracks, genres)."""
    one = fast_roc_auc if key == "roc_auc" else fast_average_precision
    values = [one(labels[:, g], scores[:, g]) for g in range(labels.shape[1])]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def same_group_precision(
    vectors: np.ndarray, groups, k: int = 10, queries: np.ndarray | None = None
) -> np.ndarray:
    """Per row: the share of same-group rows among its ``k`` nearest other rows (cosine).

    Retrieval quality of an embedding where a hit is a track of the same group (game,
    film): "sounds like" measured without anyone's judgement of similarity. ``queries``:
    one row per track to search with instead of its own (a part of it); the track itself
    is still left out.
    """
    groups = np.asarray(groups)
    rows = unit_rows(vectors)
    similarity = (rows if queries is None else unit_rows(queries)) @ rows.T
    np.fill_diagonal(similarity, -np.inf)
    top = np.argsort(-similarity, axis=1)[:, :k]
    return (groups[top] == groups[:, None]).mean(axis=1)


def group_bootstrap(values: np.ndarray, groups, draws: int = 2000, seed: int = 0):
    """95% interval of the mean of per-track values, resampling groups with replacement."""
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    names = sorted(set(groups.tolist()))
    sums = np.array([values[groups == g].sum() for g in names])
    counts = np.array([(groups == g).sum() for g in names])
    picks = rng.integers(len(names), size=(draws, len(names)))
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


# ---------------------------------------------------------------- a run's pooled predictions


def track_metrics(labels, scores, thresholds, genres, groups) -> dict:
    """``evaluate`` plus P/R/F1 at the thresholds, per genre and macro.

    labels, scores : (tracks, genres); thresholds : (genres,) or (tracks, genres)
    """
    out = evaluate(labels, scores, genres, groups)
    decided = prf(labels, scores, thresholds)
    for name, values in zip(genres, decided["per_genre"]):
        out["per_genre"][name] |= {k: rounded(values[k]) for k in ("precision", "recall", "f1")}
    out["macro"] |= {k: rounded(decided["macro"][k]) for k in ("precision", "recall", "f1")}
    out["macro"]["genres_with_positives"] = decided["macro"]["genres_scored"]
    return out


def rounded(value) -> float | None:
    return None if value is None else round(float(value), 4)


def defined(value: float) -> float | None:
    """None for NaN (a figure not defined: no fold held both classes), else the float."""
    return None if value != value else float(value)


# ---------------------------------------------------------------- counts and notes
