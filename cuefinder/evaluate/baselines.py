"""Baselines that the networks must beat, with the same fit/predict interface.

``fit(method, train_set, seed=0) -> predictor`` and ``predict(predictor, data) ->
(tracks, genres)`` scores, for the methods in ``BASELINES``:

``random``
    Uniform scores in [0, 1), a pure function of (seed, track path), so a track scores
    the same whichever set it is in. Its ROC-AUC is 0.5 and its PR-AUC the prevalence,
    up to noise.
``majority``
    Every track gets the training prevalence of each genre as its score (all tracks
    tie, so its ROC-AUC is 0.5). Its decisions are fixed: positive iff the prevalence
    exceeds 0.5 (``predictor.thresholds`` = 0.5), the majority class of each genre.
``mfcc-logreg``
    Track statistics from the cached log-mel: 20 MFCCs (``librosa.feature.mfcc`` on
    the dB mel spectrogram) and their deltas, mean and standard deviation over time,
    plus the mean level of 8 mel bands, loudness mean/std, mel centroid mean/std and
    spectral flux mean/std (94 values); standardised on the training tracks; one
    ``LogisticRegression(class_weight="balanced")`` per genre, its regularisation ``C``
    chosen from ``train.logreg.C_GRID`` by an inner grouped 3-fold split of the training
    groups (pooled macro ROC-AUC), so the baseline is as strong as it honestly can be. A
    genre with a single class in training scores its training prevalence.
``sounds-logreg``
    The same logistic regressions on what musicnn's MagnaTagATune tagger hears in the
    track (``sound_tags``: its 50 tag probabilities, averaged over ``descriptors.EXCERPTS``
    3 s excerpts spread over the track): the ``sounds`` every catalog already stores,
    computed as indexing computes them, so a genre read from them costs nothing more at
    indexing time.
``heard-logreg``
    The same on the tagger's penultimate layer over the same excerpts (``sound_embeddings``,
    200 values): the sound embedding every catalog stores for "sounds like". A model
    trained with ``heard = true`` carries these regressions and averages them with its
    network's track scores (``model/heard.py``).

A predictor whose ``thresholds`` attribute is None has its F1 thresholds chosen on
validation data by the caller; otherwise those fixed thresholds are its decisions.
"""

from __future__ import annotations

import contextlib
import weakref
import zlib
from dataclasses import dataclass

import numpy as np

from cuefinder.descriptors import SOUND_DIM
from cuefinder.errors import ConfigError
from cuefinder.model.config import BASELINES
from cuefinder.train import logreg
from cuefinder.train.dataset import LabelledSet


@dataclass
class RandomScores:
    """Seeded uniform scores."""

    genres: int
    seed: int = 0
    thresholds: np.ndarray | None = None

    def predict(self, data: LabelledSet) -> np.ndarray:
        out = np.empty((len(data), self.genres), np.float32)
        for i, path in enumerate(data.paths):
            rng = np.random.default_rng([self.seed, zlib.crc32(path.encode())])
            out[i] = rng.random(self.genres)
        return out


@dataclass
class Majority:
    """Training prevalence as every track's score; decisions: prevalence > 0.5."""

    prevalence: np.ndarray  # (genres,)
    thresholds: np.ndarray | None = None

    def __post_init__(self):
        if self.thresholds is None:
            # score >= threshold must mean prevalence > 0.5: the next float above 0.5
            self.thresholds = np.full(len(self.prevalence), np.nextafter(0.5, 1.0))

    def predict(self, data: LabelledSet) -> np.ndarray:
        return np.tile(self.prevalence.astype(np.float32), (len(data), 1))


@dataclass
class LogRegs:
    """Standardised track features and one logistic regression per genre."""

    features: str  # "mfcc" (``track_statistics``), "sounds" (``sound_tags``) or "heard"
    fitted: logreg.Fitted
    thresholds: np.ndarray | None = None

    @property
    def c(self) -> float:
        """The regularisation chosen on the training groups."""
        return self.fitted.c

    def predict(self, data: LabelledSet) -> np.ndarray:
        return self.fitted.predict(_FEATURES[self.features](data))


def fit(method: str, train_set: LabelledSet, *, seed: int = 0):
    """A fitted predictor of one baseline method (see the module docstring)."""
    if method == "random":
        return RandomScores(len(train_set.genres), seed)
    prevalence = train_set.labels.mean(axis=0).astype(np.float64)
    if method == "majority":
        return Majority(prevalence)
    if method in ("mfcc-logreg", "sounds-logreg", "heard-logreg"):
        return _fit_logreg(method.split("-")[0], train_set, seed)
    raise ConfigError(f"unknown baseline {method!r}; known: {', '.join(BASELINES)}")


def predict(predictor, data: LabelledSet) -> np.ndarray:
    """Scores (tracks, genres) of a fitted predictor on a set."""
    return predictor.predict(data)


def _fit_logreg(features: str, train_set: LabelledSet, seed: int) -> LogRegs:
    x = _FEATURES[features](train_set)
    return LogRegs(features, logreg.fit(x, train_set.labels, train_set.groups, seed))


# ---------------------------------------------------------------- track statistics

_memo: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def track_statistics(features: list[np.ndarray]) -> np.ndarray:
    """(tracks, 94) MFCC and spectral statistics of log-mel arrays (n_mels, frames) in dB.

    Results are remembered per array object while it lives (sets made with
    ``LabelledSet.select`` share arrays, so cross-validation computes each track once).
    """
    rows = []
    for values in features:
        hit = _memo.get(id(values))
        if hit is not None and hit[0]() is values:
            rows.append(hit[1])
            continue
        row = _statistics(values)
        with contextlib.suppress(TypeError):  # no weak references: just don't remember
            _memo[id(values)] = (weakref.ref(values, _forget(id(values))), row)
        rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, 94))


def _forget(key: int):
    def drop(_ref):
        _memo.pop(key, None)

    return drop


def _statistics(values: np.ndarray) -> np.ndarray:
    import librosa

    logmel = values.astype(np.float32)
    if logmel.shape[1] < 9:  # delta needs 9 frames: repeat a very short track
        logmel = np.tile(logmel, (1, -(-9 // logmel.shape[1])))
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=20)
    delta = librosa.feature.delta(mfcc)
    bands = np.array_split(logmel, 8, axis=0)
    power = np.power(10.0, (logmel - logmel.max()) / 10.0)
    bins = np.arange(logmel.shape[0], dtype=np.float32)[:, None]
    centroid = (power * bins).sum(axis=0) / np.maximum(power.sum(axis=0), 1e-12)
    loudness = logmel.mean(axis=0)
    flux = np.sqrt((np.maximum(np.diff(logmel, axis=1), 0) ** 2).mean(axis=0))
    return np.concatenate([
        mfcc.mean(axis=1), mfcc.std(axis=1), delta.mean(axis=1), delta.std(axis=1),
        [b.mean() for b in bands],
        [loudness.mean(), loudness.std(), centroid.mean(), centroid.std(),
         flux.mean(), flux.std()],
    ]).astype(np.float64)  # fmt: skip


# ---------------------------------------------------------------- musicnn's sound tags

_sounds: dict[str, np.ndarray] = {}  # path -> tags and sound embedding, this process


def sound_tags(paths) -> np.ndarray:
    """(tracks, 50) musicnn MagnaTagATune tag probabilities of each file, exactly as a
    catalog stores them (``train.featcache.sounds``: the mean over ``descriptors.EXCERPTS``
    3 s excerpts that indexing keeps while decoding)."""
    return _musicnn_of(paths)[:, :-SOUND_DIM]


def sound_embeddings(paths) -> np.ndarray:
    """(tracks, 200) the same tagger's penultimate layer over the same excerpts: the sound
    embedding every catalog stores, which "sounds like" joins (``bench/bench_similarity.py``)
    and ``heard-logreg`` (and the built-in model's fused track scores) read."""
    return _musicnn_of(paths)[:, -SOUND_DIM:]


def _musicnn_of(paths) -> np.ndarray:
    """Tags and sound embedding side by side; zeros for a file with no whole 3 s excerpt."""
    from cuefinder.train import featcache

    for path in dict.fromkeys(paths):
        if path not in _sounds:
            _sounds[path] = np.nan_to_num(featcache.sounds(path))
    if not len(paths):
        return np.zeros((0, 50 + SOUND_DIM), np.float32)
    return np.stack([_sounds[p] for p in paths])


_FEATURES = {
    "mfcc": lambda data: track_statistics(data.features),
    "sounds": lambda data: sound_tags(data.paths),
    "heard": lambda data: sound_embeddings(data.paths),
}
