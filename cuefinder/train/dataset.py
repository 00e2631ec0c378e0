"""Labelled sets in memory: cached features, multi-hot labels and groups, selectable by group."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cuefinder.datasets.manifest import read_manifest
from cuefinder.features import FeatureConfig
from cuefinder.train import featcache
from cuefinder.train.config import MAX_SECONDS


@dataclass
class LabelledSet:
    """Features and multi-hot labels of tracks (columns follow ``genres``)."""

    features: list[np.ndarray]  # each (n_mels, frames) float16
    labels: np.ndarray  # (tracks, genres) float32
    groups: list[str]
    paths: list[str]
    genres: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def select(self, groups) -> LabelledSet:
        """The tracks of the given groups, in the original order."""
        keep = set(groups)
        return self.rows([i for i, g in enumerate(self.groups) if g in keep])

    def rows(self, rows: list[int]) -> LabelledSet:
        """The tracks at these row numbers, in the order given."""
        return LabelledSet(
            [self.features[i] for i in rows],
            self.labels[rows],
            [self.groups[i] for i in rows],
            [self.paths[i] for i in rows],
            self.genres,
        )

    def group_genres(self) -> dict[str, set[str]]:
        """Group -> the union of its tracks' labels."""
        out: dict[str, set[str]] = {}
        for group, row in zip(self.groups, self.labels):
            out.setdefault(group, set()).update(g for g, y in zip(self.genres, row) if y)
        return out


def load(
    manifest: str | os.PathLike,
    features: FeatureConfig,
    *,
    max_seconds: float = MAX_SECONDS,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> tuple[LabelledSet, list[str]]:
    """Every usable track of a manifest, and 'path: reason' for each skipped one."""
    rows = read_manifest(manifest)
    genres = tuple(sorted({g for r in rows for g in r.genres}))
    values = featcache.build(
        [r.path for r in rows], features, max_seconds=max_seconds, cache_dir=cache_dir,
        progress=progress,
    )  # fmt: skip
    usable = [(r, v) for r, v in zip(rows, values) if not isinstance(v, str)]
    labels = np.zeros((len(usable), len(genres)), np.float32)
    for i, (r, _) in enumerate(usable):
        labels[i, [genres.index(g) for g in r.genres]] = 1.0
    data = LabelledSet(
        [v for _, v in usable], labels, [r.group for r, _ in usable],
        [str(r.path) for r, _ in usable], genres,
    )  # fmt: skip
    skipped = [f"{r.path}: {v}" for r, v in zip(rows, values) if isinstance(v, str)]
    return data, skipped
