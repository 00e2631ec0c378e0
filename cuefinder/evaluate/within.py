"""ROC-AUC ranked within one model, as a catalog is ranked: the measure, its intervals
and its section of the report.

Cross-validation scores each fold's test tracks with that fold's model. Pooled
out-of-fold ROC-AUC puts all folds' scores into one ranking, and the folds' models
differ in scale (a baseline's by its training prevalence), which moves a pooled figure
with the draw of folds: the majority baseline, 0.5 within every fold, pools below 0.5.
A catalog is ranked by one model, so here a genre's ROC-AUC is each fold's, averaged
over the folds where the genre has both classes (Forman and Scholz, 2010, recommend the
per-fold figure for ROC-AUC), and the macro is the mean over genres. Intervals resample
each fold's test groups with replacement, the same resamples for every method, so
differences are paired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cuefinder.evaluate.metrics import BOOTSTRAP, column_roc_auc, defined

if TYPE_CHECKING:
    from cuefinder.evaluate.results import Evaluation


def fold_rows(groups, fold_of: np.ndarray) -> list[list[np.ndarray]]:
    """Per fold, per test group of it: the group's track rows."""
    groups = np.asarray(groups)
    out = []
    for k in sorted(set(np.asarray(fold_of).tolist())):
        mine = np.flatnonzero(fold_of == k)
        out.append([mine[groups[mine] == g] for g in sorted(set(groups[mine].tolist()))])
    return out


def per_genre(labels: np.ndarray, scores: np.ndarray, rows) -> np.ndarray:
    """Per genre: the ROC-AUC of each fold's test tracks (``rows`` as ``fold_rows`` gives
    them) under that fold's model, averaged over the folds where the genre has both
    classes; NaN where none has."""
    picks = [np.concatenate(groups) for groups in rows]
    return _defined_mean(np.array([column_roc_auc(labels[p], scores[p]) for p in picks]).T)


def measure(evaluation: Evaluation, names, resamples: int = BOOTSTRAP, seed: int = 0) -> dict:
    """``per_genre`` for each method in ``names``, with 95% intervals.

    Returns {"macro": {name: (value, low, high)}, "per_genre": {name: {genre: (value, low,
    high)}}, "folds": {genre: folds with both classes}, "draws": {name: (resamples,
    genres)}} (each resample's per-genre values, for ``difference``).
    """
    rows = fold_rows(evaluation.groups, evaluation.fold_of)
    labels = evaluation.labels
    rng = np.random.default_rng(seed)
    picks = [
        [[groups[i] for i in rng.integers(len(groups), size=len(groups))] for groups in rows]
        for _ in range(resamples)
    ]
    out = {"macro": {}, "per_genre": {}, "draws": {}}
    for name in names:
        scores = evaluation.methods[name].scores
        point = per_genre(labels, scores, rows)
        draws = np.array([per_genre(labels, scores, p) for p in picks])
        out["macro"][name] = (
            float(_defined_mean(point[None])[0]),
            *_interval(_defined_mean(draws)),
        )
        out["per_genre"][name] = {
            genre: (float(point[g]), *_interval(draws[:, g]))
            for g, genre in enumerate(evaluation.genres)
        }
        out["draws"][name] = draws
    held = [np.concatenate(groups) for groups in rows]  # each fold's test rows
    out["folds"] = {
        genre: int(sum(0 < labels[p, g].sum() < len(p) for p in held))
        for g, genre in enumerate(evaluation.genres)
    }
    return out


def difference(found: dict, a: str, b: str) -> dict:
    """Macro a - b, with its paired 95% interval (``found`` from ``measure`` with both)."""
    da, db = found["draws"][a], found["draws"][b]
    both = np.isfinite(da) & np.isfinite(db)
    low, high = _interval(_defined_mean(np.where(both, da - db, np.nan)))
    return {"difference": found["macro"][a][0] - found["macro"][b][0], "low": low, "high": high}


def macro(labels, scores, groups, fold_of) -> tuple[float, int, float]:
    """(macro ROC-AUC within one model, index of its lowest genre, that genre's value), from
    arrays or the lists ``evaluation.json`` holds; (NaN, -1, NaN) when no genre has both
    classes in any fold."""
    labels, scores, fold_of = np.asarray(labels), np.asarray(scores), np.asarray(fold_of)
    values = per_genre(labels, scores, fold_rows(groups, fold_of))
    if not np.isfinite(values).any():
        return float("nan"), -1, float("nan")
    lowest = int(np.nanargmin(values))
    return float(np.nanmean(values)), lowest, float(values[lowest])


def section(evaluation: Evaluation, table: dict, fmt) -> list[str]:
    """The report's "Ranked within one model" section: each method's macro with its
    interval beside its pooled figure (``table``: ``results.summary``), the best network
    or fusion against MFCC statistics, random scores and each part of a fusion, and the
    per-genre table. ``fmt`` writes a number as the report does."""
    names = [m for m, s in table.items() if s["within_roc_auc"] is not None]
    if not names:
        return [
            "## Ranked within one model",
            "",
            "Not defined here: no fold holds both classes of any genre (each fold holds "
            "one group). Read the pooled figures.",
            "",
        ]
    found = measure(evaluation, names)
    networks = [m for m in names if table[m]["kind"] in ("network", "ensemble", "fusion")]
    best = max(networks, key=lambda m: found["macro"][m][0]) if networks else None
    majority = (
        f" the majority baseline, 0.5 within every fold, pools to "
        f"{fmt(table['majority']['roc_auc'])};"
        if "majority" in table
        else ""
    )
    lines = [
        "## Ranked within one model",
        "",
        "A catalog is ranked by one model. Here each fold's test tracks are ranked by that "
        "fold's model; a genre's ROC-AUC is averaged over the folds where it has both "
        "classes, and the macro is the mean over genres. Intervals: 95%, resampling each "
        f"fold's test groups with replacement ({BOOTSTRAP} resamples, the same for every "
        "method). The pooled figures above rank all folds' scores together, and the "
        "models' scales differ between folds, which moves a pooled ROC-AUC with the draw of "
        f"folds (Forman and Scholz 2010:{majority} each model's calibration differs a "
        "little, a baseline's by its training prevalence).",
        "",
        "| method | ROC-AUC within one model | 95% interval | pooled |",
        "|---|---|---|---|",
    ]
    for name in names:
        value, low, high = found["macro"][name]
        lines.append(
            f"| {name} | {value:.3f} | {low:.3f} to {high:.3f} | {fmt(table[name]['roc_auc'])} |"
        )
    lines.append("")
    if best:
        parts = best.split("+") if "+" in best else []  # a fusion against each of its parts
        for reference in [r for r in ("mfcc-logreg", "random", *parts) if r in found["macro"]]:
            d = difference(found, best, reference)
            clear = "clear" if d["low"] > 0 or d["high"] < 0 else "the interval includes 0"
            lines.append(
                f"- **{best}** vs **{reference}**, within one model: {d['difference']:+.3f} "
                f"(95% interval {d['low']:+.3f} to {d['high']:+.3f}; {clear})."
            )
        per = found["per_genre"][best]
        low_genre = min((g for g in per if np.isfinite(per[g][0])), key=lambda g: per[g][0])
        lines += [
            f"- Lowest genre for **{best}**: {low_genre} {per[low_genre][0]:.3f} "
            f"({evaluation.genre_groups['overall'][low_genre]} groups).",
            "",
        ]
    head = "| genre | groups | folds | " + " | ".join(names) + " |"
    rule = "|---|---|---|" + "---|" * len(names)
    if best:
        head, rule = head + f" {best}: 95% interval |", rule + "---|"
    lines += [head, rule]
    for genre in evaluation.genres:
        cells = [fmt(defined(found["per_genre"][m][genre][0])) for m in names]
        if best:
            _, low, high = found["per_genre"][best][genre]
            cells.append(f"{low:.3f} to {high:.3f}" if np.isfinite(low) else "–")
        lines.append(
            f"| {genre} | {evaluation.genre_groups['overall'][genre]} "
            f"| {found['folds'][genre]} | " + " | ".join(cells) + " |"
        )
    return [*lines, ""]


def _defined_mean(rows: np.ndarray) -> np.ndarray:
    """Each row's mean over its finite values; NaN for a row without any (a resample that
    drew no genre with both classes)."""
    finite = np.isfinite(rows)
    counted = finite.sum(axis=1)
    total = np.where(finite, rows, 0.0).sum(axis=1)
    return np.where(counted > 0, total / np.maximum(counted, 1), np.nan)


def _interval(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)
