"""The "sounds like" space, normalised by how tracks of one game vary.

"Sounds like" compares tracks on two embeddings joined at equal weight: the network's
and musicnn's sound embedding (``catalog.vectors.joined``). Some of their directions
vary as much within one soundtrack as between soundtracks (the tempo of a cue, a loud
or a quiet passage) and so say little about whether two tracks belong together; others
hardly vary within a soundtrack (the instruments, the production). Within-class
covariance normalisation (WCCN, from speaker verification: Hatch et al., 2006) weighs
each direction by the inverse of its spread within the training games: centred on the
training tracks, each block is multiplied by ``W^-1/2`` where ``W`` is the covariance of
the tracks around their own game's mean, shrunk towards a multiple of the identity
(``shrinkage`` of the way, chosen by an inner grouped split of the training games, as
``train.logreg`` chooses its regularisation). The game names are all it needs: no genre
label.

A model trained with ``likeness = true`` carries the two projections as four tensors
beside its weights (``likeness.model_mean``, ``likeness.model_projection``,
``likeness.sound_mean``, ``likeness.sound_projection``); ``vectors`` is then what the
nearest-neighbour index stores and what queries are compared with. Each block is
projected on its own, so that a track without a sound embedding (zeros) and the
model's part alone (a part of a track, a segment) work as before.

Plain numpy: no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from cuefinder.descriptors import SOUND_DIM
from cuefinder.model.carried import Carried

SHRINKAGE = (0.1, 0.3, 0.5, 0.7, 0.9)  # the grid the inner split chooses from
NEIGHBOURS = 10  # precision@10 (same game) judges the inner split


@dataclass(frozen=True)
class Likeness(Carried):
    """Centring and within-game whitening of the two blocks of the "sounds like" space."""

    PREFIX: ClassVar[str] = "likeness."  # the tensors' names in a model file

    model_mean: np.ndarray  # (embedding,)
    model_projection: np.ndarray  # (embedding, embedding)
    sound_mean: np.ndarray  # (200,)
    sound_projection: np.ndarray  # (200, 200)

    def model_part(self, embeddings: np.ndarray) -> np.ndarray:
        """The network's embeddings (n, embedding) or one, projected."""
        x = np.asarray(embeddings, np.float32)
        return ((x - self.model_mean) @ self.model_projection).astype(np.float32)

    def sound_part(self, sound_embeddings: np.ndarray) -> np.ndarray:
        """Sound embeddings (n, 200) or one, projected; a row of zeros (none) stays zeros."""
        x = np.asarray(sound_embeddings, np.float32)
        out = (x - self.sound_mean) @ self.sound_projection
        none = ~np.any(x != 0, axis=-1)
        return np.where(none[..., None], 0.0, out).astype(np.float32)

    def problem(self, embedding_dim: int) -> str | None:
        """What is wrong with these arrays for a network of ``embedding_dim``, or None."""
        shapes = {
            "model_mean": (embedding_dim,),
            "model_projection": (embedding_dim, embedding_dim),
            "sound_mean": (SOUND_DIM,),
            "sound_projection": (SOUND_DIM, SOUND_DIM),
        }
        return self.mismatch(shapes)


def fit(embeddings: np.ndarray, sound_embeddings: np.ndarray, groups) -> tuple[Likeness, dict]:
    """Both projections from training tracks (their network embeddings, their sound
    embeddings, zeros where a track has none, and their games); (Likeness, what a
    model's record keeps: the shrinkage chosen for each block)."""
    groups = np.asarray(groups)
    model_mean, model_projection, model_shrinkage = _fit_block(np.asarray(embeddings), groups)
    sounds = np.asarray(sound_embeddings, np.float64)
    heard = np.any(sounds != 0, axis=1)
    sound_mean, sound_projection, sound_shrinkage = _fit_block(sounds[heard], groups[heard])
    likeness = Likeness(model_mean, model_projection, sound_mean, sound_projection)
    record = {"model_shrinkage": model_shrinkage, "sound_shrinkage": sound_shrinkage}
    record |= {"tracks": int(len(groups)), "games": int(len(set(groups.tolist())))}
    return likeness, record


def _fit_block(x: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    x = np.asarray(x, np.float64)
    shrinkage = choose_shrinkage(x, groups)
    mean, projection = whitening(x, groups, shrinkage)
    return mean.astype(np.float32), projection.astype(np.float32), shrinkage


def whitening(x: np.ndarray, groups: np.ndarray, shrinkage: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean, projection): centre on ``x``'s mean, then ``W^-1/2`` of the within-group
    covariance ``W`` shrunk ``shrinkage`` of the way towards ``trace(W) / d`` times the
    identity (the projection is symmetric; its scale does not matter to cosines)."""
    mean = x.mean(axis=0)
    centred = x - mean
    within = np.zeros((x.shape[1], x.shape[1]))
    for group in np.unique(groups):
        rows = centred[groups == group]
        rows = rows - rows.mean(axis=0)
        within += rows.T @ rows
    within /= max(len(x), 1)
    level = np.trace(within) / len(within) or 1.0
    within = (1 - shrinkage) * within + shrinkage * level * np.eye(len(within))
    values, vectors = np.linalg.eigh(within)
    values = np.maximum(values, 1e-12 * values.max())
    return mean, (vectors / np.sqrt(values)) @ vectors.T


def choose_shrinkage(x: np.ndarray, groups: np.ndarray, grid=SHRINKAGE) -> float:
    """The shrinkage of ``grid`` with the best same-group precision@10 over an inner
    grouped 3-fold split of the given (training) tracks; the middle of the grid with
    under 6 groups."""
    from sklearn.model_selection import GroupKFold

    from cuefinder.evaluate.metrics import same_group_precision

    if len(set(groups.tolist())) < 6:
        return grid[len(grid) // 2]
    best, best_shrinkage = -1.0, grid[0]
    for shrinkage in grid:
        hits = []
        for train, test in GroupKFold(3).split(x, groups=groups):
            mean, projection = whitening(x[train], groups[train], shrinkage)
            hits.append(
                same_group_precision((x[test] - mean) @ projection, groups[test], NEIGHBOURS)
            )
        score = float(np.concatenate(hits).mean())
        if score > best:
            best, best_shrinkage = score, shrinkage
    return best_shrinkage
