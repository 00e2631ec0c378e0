"""Genre regressions on the sound embedding, averaged with the network's track scores.

Indexing already runs musicnn's MagnaTagATune tagger on a few excerpts of every track
and keeps its penultimate layer (``descriptors``: the sound embedding, 200 values).
Logistic regressions on it (``heard-logreg`` in ``cuefinder evaluate``) rank genres on
games the network never heard about as well as the network does, better on some genres
and worse on others, and the mean of the two probabilities ranks better than the network
in three fold draws of three (the committed reports under ``evaluation/fused*``). A
model trained with ``heard = true`` carries those regressions, fitted on every training
track, as four tensors beside its weights (``heard.mean``, ``heard.scale``, ``heard.weight``,
``heard.bias``); a track's genre scores are then the mean of the network's and theirs
(``fuse``). Segment scores stay the network's: the regressions see the track whole.

Plain numpy: no torch. A genre with a single class in training has a zero weight row
and the log-odds of its prevalence as its bias (the regression's constant answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from cuefinder.descriptors import SOUND_DIM
from cuefinder.model.carried import Carried


@dataclass(frozen=True)
class Heard(Carried):
    """Standardisation and one logistic regression per genre on the sound embedding."""

    PREFIX: ClassVar[str] = "heard."  # the tensors' names in a model file

    mean: np.ndarray  # (200,)
    scale: np.ndarray  # (200,)
    weight: np.ndarray  # (genres, 200)
    bias: np.ndarray  # (genres,)

    @classmethod
    def from_fitted(cls, fitted) -> Heard:
        """From ``train.logreg.Fitted`` (scikit-learn regressions, or prevalences)."""
        size = len(fitted.mean)
        weight = np.zeros((len(fitted.models), size), np.float32)
        bias = np.zeros(len(fitted.models), np.float32)
        for g, model in enumerate(fitted.models):
            if isinstance(model, float):
                p = min(max(model, 1e-6), 1 - 1e-6)
                bias[g] = np.log(p / (1 - p))
            else:
                weight[g], bias[g] = model.coef_[0], model.intercept_[0]
        return cls(fitted.mean.astype(np.float32), fitted.scale.astype(np.float32), weight, bias)

    def problem(self, genres: int) -> str | None:
        """What is wrong with these arrays for a model of ``genres`` genres, or None."""
        size = len(self.mean)
        shapes = dict(zip(self.names(), [(size,), (size,), (genres, size), (genres,)], strict=True))
        if size != SOUND_DIM:
            return f"{size} inputs, the sound embedding has {SOUND_DIM}"
        problem = self.mismatch(shapes)
        if problem is None and (self.scale <= 0).any():
            return "a scale that is not positive"
        return problem

    def probabilities(self, sound_embedding: np.ndarray) -> np.ndarray:
        """(genres,) or (tracks, genres) genre probabilities of sound embeddings."""
        z = (np.asarray(sound_embedding, np.float32) - self.mean) / self.scale
        logits = z @ self.weight.T + self.bias
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)

    def fuse(self, track_scores: np.ndarray, sound_embedding: np.ndarray | None) -> np.ndarray:
        """A track's genre scores: the mean of the network's and the regressions'; the
        network's alone when the track has no sound embedding (shorter than one excerpt,
        or indexed without descriptors)."""
        if sound_embedding is None or not np.isfinite(sound_embedding).all():
            return track_scores
        return ((track_scores + self.probabilities(sound_embedding)) / 2).astype(np.float32)
