"""Timbre statistics of a patch, standardised: the hand-made half of "sounds like".

On games held out of training, MFCC statistics find tracks of the same game better than
any learned embedding alone, and the two together better than either
(``bench/bench_similarity.py``). A network with ``ModelConfig.timbre`` therefore gives,
for every patch, its learned embedding and these statistics side by side, each scaled to
unit length (the concatenation has unit length too): a catalog stores it, the track's
vector is the mean over its patches, and "sounds like" and the best-matching window use
it without knowing it is two things.

The statistics are those of the MFCC baseline (``evaluate.baselines.track_statistics``)
computed over one patch (about 3 s) in torch: 20 MFCCs and their deltas (mean and
standard deviation over frames), the mean level of 8 mel bands, and the mean and
standard deviation of loudness, spectral centroid and spectral flux (94 values). They
are standardised with the mean and standard deviation of the training tracks' patches,
stored in the model file (``attach``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from cuefinder.model.config import TIMBRE_BANDS as N_BANDS
from cuefinder.model.config import TIMBRE_MFCC as N_MFCC
from cuefinder.model.config import TIMBRE_SIZE as SIZE

DELTA_WIDTH = 9  # frames in the delta's regression window (librosa's default)
FIT_PATCHES = 16  # evenly spaced patches per training track for the standardisation


def dct_matrix(n_mels: int, n_mfcc: int = N_MFCC) -> torch.Tensor:
    """(n_mfcc, n_mels) orthonormal DCT-II, as ``librosa.feature.mfcc`` applies it."""
    n = torch.arange(n_mels, dtype=torch.float64)
    k = torch.arange(n_mfcc, dtype=torch.float64)[:, None]
    basis = torch.cos(math.pi / n_mels * (n + 0.5) * k) * math.sqrt(2.0 / n_mels)
    basis[0] /= math.sqrt(2.0)
    return basis.float()


def statistics(patches: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    """(batch, 94) statistics of (batch, mels, frames) log-mel dB patches."""
    mfcc = dct @ patches  # (batch, 20, frames)
    # delta: the least-squares slope over 9 frames; at the edges the slope of the first and
    # last full window (a line fitted there, as librosa's "interp" mode does)
    half = DELTA_WIDTH // 2
    weights = torch.arange(-half, half + 1, dtype=patches.dtype)
    kernel = (weights / (weights**2).sum()).repeat(N_MFCC, 1, 1)  # (20, 1, 9)
    delta = nn.functional.conv1d(mfcc, kernel, groups=N_MFCC)
    delta = nn.functional.pad(delta, (half, half), mode="replicate")
    bands = torch.stack([b.mean(dim=(1, 2)) for b in patches.tensor_split(N_BANDS, dim=1)], 1)
    power = torch.pow(10.0, (patches - patches.amax(dim=(1, 2), keepdim=True)) / 10.0)
    bins = torch.arange(patches.shape[1], dtype=patches.dtype)[:, None]
    centroid = (power * bins).sum(dim=1) / power.sum(dim=1).clamp_min(1e-12)
    loudness = patches.mean(dim=1)
    flux = torch.diff(patches, dim=2).clamp_min(0).pow(2).mean(dim=1).sqrt()
    return torch.cat([
        mfcc.mean(2), mfcc.std(2, correction=0), delta.mean(2), delta.std(2, correction=0),
        bands,
        torch.stack([loudness.mean(1), loudness.std(1, correction=0),
                     centroid.mean(1), centroid.std(1, correction=0),
                     flux.mean(1), flux.std(1, correction=0)], dim=1),
    ], dim=1)  # fmt: skip


class Timbre(nn.Module):
    """(batch, mels, frames) log-mel dB -> (batch, 94) standardised timbre statistics."""

    def __init__(self, n_mels: int):
        super().__init__()
        self.register_buffer("dct", dct_matrix(n_mels), persistent=False)
        self.register_buffer("mean", torch.zeros(SIZE))
        self.register_buffer("std", torch.ones(SIZE))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return (statistics(patches, self.dct) - self.mean) / self.std


def fuse(learned: torch.Tensor, timbre: torch.Tensor) -> torch.Tensor:
    """Both halves at unit length side by side, scaled so that the whole has unit length."""
    halves = [nn.functional.normalize(v, dim=1) for v in (learned, timbre)]
    return torch.cat(halves, dim=1) * math.sqrt(0.5)


def attach(model, features: list[np.ndarray]):
    """A copy of a trained cnn whose embedding carries timbre statistics standardised over
    evenly spaced patches of ``features`` (the training tracks' log-mel arrays)."""
    from dataclasses import replace

    from cuefinder.features import even_patches

    config = replace(model.config, timbre=True)
    fused = type(model)(config)  # the same network (a cnn), with the timbre half
    fused.load_state_dict(model.state_dict(), strict=False)
    patches = [even_patches(v, config.patch_frames, FIT_PATCHES) for v in features]
    with torch.inference_mode():
        x = torch.from_numpy(np.concatenate(patches).astype(np.float32))
        stats = torch.cat([statistics(b, fused.timbre.dct) for b in x.split(512)])
        fused.timbre.mean.copy_(stats.mean(dim=0))
        fused.timbre.std.copy_(stats.std(dim=0).clamp_min(1e-6))
    fused.history = getattr(model, "history", None)
    return fused.eval()
