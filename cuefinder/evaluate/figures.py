"""The evaluation report's figures: ROC and PR curves, per-genre ROC-AUC, and the genre
co-occurrence matrix (matplotlib, written as PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cuefinder.evaluate import metrics
from cuefinder.evaluate.results import Evaluation
from cuefinder.train.splits import scheme_words


def plotted_methods(evaluation: Evaluation) -> list[str]:
    """The methods drawn in the figures: all but ensemble members and the majority."""
    return [m for m, r in evaluation.methods.items() if r.kind != "member" and m != "majority"]


# ---------------------------------------------------------------- figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int) -> tuple[int, int]:
    cols = int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / cols)), cols


def _groups_behind(evaluation: Evaluation) -> dict[str, int]:
    return evaluation.genre_groups["overall"]


def plot_curves(evaluation: Evaluation, kind: str, path: Path) -> Path:
    """ROC (``kind="roc"``) or precision-recall (``"pr"``) curves, a panel per genre."""
    plt = _pyplot()
    genres = evaluation.genres
    rows, cols = _grid(len(genres))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    colours = plt.get_cmap("tab10")
    behind = _groups_behind(evaluation)
    for g, genre in enumerate(genres):
        ax = axes.flat[g]
        y = evaluation.labels[:, g]
        for i, name in enumerate(plotted_methods(evaluation)):
            s = evaluation.methods[name].scores[:, g]
            points = metrics.roc_points(y, s) if kind == "roc" else metrics.pr_points(y, s)
            if points is not None:
                ax.plot(*points, color=colours(i % 10), lw=1.2, label=name,
                        drawstyle="default" if kind == "roc" else "steps-post")  # fmt: skip
        if kind == "roc":
            ax.plot([0, 1], [0, 1], color="grey", lw=0.6, ls=":")
            ax.set_xlabel("false positive rate", fontsize=7)
            ax.set_ylabel("true positive rate", fontsize=7)
        else:
            ax.axhline(y.mean(), color="grey", lw=0.6, ls=":")
            ax.set_xlabel("recall", fontsize=7)
            ax.set_ylabel("precision", fontsize=7)
        ax.set_title(f"{genre} ({behind[genre]} groups, {int(y.sum())} tracks)", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=6)
    for ax in axes.flat[len(genres) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right", fontsize=8, frameon=False)
    title = "ROC" if kind == "roc" else "Precision-recall"
    fig.suptitle(f"{title} curves, pooled out-of-fold scores ({_scheme(evaluation)}); "
                 "dotted: chance", fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_per_genre(evaluation: Evaluation, path: Path) -> Path:
    """Grouped bars: ROC-AUC and PR-AUC per genre for each plotted method."""
    plt = _pyplot()
    genres = evaluation.genres
    names = plotted_methods(evaluation)
    behind = _groups_behind(evaluation)
    fig, axes = plt.subplots(2, 1, figsize=(max(10, 0.9 * len(genres)), 8), sharex=True)
    x = np.arange(len(genres))
    width = 0.8 / max(len(names), 1)
    colours = plt.get_cmap("tab10")
    for panel, (key, label) in enumerate((("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC"))):
        ax = axes[panel]
        for i, name in enumerate(names):
            per_genre = evaluation.methods[name].metrics["per_genre"]
            values = [per_genre[g][key] for g in genres]
            ax.bar(x + (i - (len(names) - 1) / 2) * width,
                   [np.nan if v is None else v for v in values], width,
                   label=name, color=colours(i % 10))  # fmt: skip
        if key == "roc_auc":
            ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        else:
            prevalence = evaluation.labels.mean(axis=0)
            ax.scatter(x, prevalence, marker="_", s=300, color="black", zorder=3,
                       label="prevalence (chance)")  # fmt: skip
        ax.set_ylabel(label)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", lw=0.3)
    axes[0].legend(fontsize=8, ncol=min(len(names) + 1, 6), loc="upper left")
    axes[1].legend(fontsize=8, ncol=min(len(names) + 1, 6), loc="upper right")
    axes[1].set_xticks(x, [f"{g}\n({behind[g]} groups)" for g in genres], rotation=45,
                       ha="right", fontsize=8)  # fmt: skip
    fig.suptitle(f"Per-genre scores, pooled out-of-fold ({_scheme(evaluation)})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cooccurrence(evaluation: Evaluation) -> tuple[np.ndarray, np.ndarray]:
    """(genres, genres) counts of tracks, and of groups, holding both genres (diagonal: one)."""
    y = (evaluation.labels > 0).astype(int)
    names = sorted(set(evaluation.groups))
    groups = np.array(evaluation.groups)
    group_y = np.stack([y[groups == k].max(axis=0) for k in names])
    return y.T @ y, group_y.T @ group_y


def plot_cooccurrence(evaluation: Evaluation, path: Path) -> Path:
    """Two annotated heatmaps: genre co-occurrence over tracks and over groups."""
    plt = _pyplot()
    tracks, groups = cooccurrence(evaluation)
    genres = evaluation.genres
    n = len(genres)
    fig, axes = plt.subplots(1, 2, figsize=(2 * (0.45 * n + 2), 0.45 * n + 2))
    for ax, matrix, title in ((axes[0], tracks, "tracks"), (axes[1], groups, "groups")):
        ax.imshow(matrix, cmap="Blues")
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if matrix[i, j] > matrix.max() / 2 else "black")  # fmt: skip
        ax.set_xticks(range(n), genres, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(n), genres, fontsize=7)
        ax.set_title(f"{title} with both genres (diagonal: with the genre)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- comparison


def _scheme(evaluation: Evaluation) -> str:
    return scheme_words(evaluation.scheme, len(evaluation.folds))
