"""The genre tagger network: a CNN over log-mel patches of a few seconds.

The founding design: convolutions over spectrogram patches, multi-label sigmoid
outputs over film genres. A strided 3x3 conv halves a (mels, frames) patch, then
three conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool) shrink it further;
global average and max pooling over what is left give a vector that a linear
layer maps to the patch embedding; a last linear layer gives one logit per genre.

Three settings of ``ModelConfig`` change this: ``input_norm`` (how a patch is
normalised first; see ``normalise``), ``similarity_dim``, a second head on the
pooled features whose output is the embedding the network gives for "sounds
like", trained contrastively (``train.trainer``) rather than for genres, and
``timbre``: the patch's timbre statistics beside that embedding (``model.timbre``).
"""

from __future__ import annotations

import torch
from torch import nn

from cuefinder.model import timbre
from cuefinder.model.config import ModelConfig


def _block(c_in: int, c_out: int, *, stem: bool = False) -> nn.Sequential:
    """3x3 conv, batch norm, ReLU, then 2x2 max pool (the stem strides instead: cheaper)."""
    conv = nn.Conv2d(c_in, c_out, kernel_size=3, stride=2 if stem else 1, padding=1, bias=False)
    layers = [conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers if stem else [*layers, nn.MaxPool2d(2)])


class GenreCNN(nn.Module):
    """Patch tagger: (batch, mels, frames) log-mel dB -> genre logits and embeddings."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        widths = (1, *config.channels)
        self.input_norm = nn.BatchNorm2d(1) if config.input_norm == "batch" else None
        pairs = zip(widths, widths[1:])
        self.blocks = nn.Sequential(*(_block(a, b, stem=i == 0) for i, (a, b) in enumerate(pairs)))
        self.embed = nn.Sequential(
            nn.Linear(2 * config.channels[-1], config.embedding_dim), nn.ReLU(inplace=True)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.embedding_dim, len(config.genres))
        width = 2 * config.channels[-1]
        self.similarity = (
            nn.Sequential(nn.Linear(width, width), nn.ReLU(inplace=True),
                          nn.Linear(width, config.similarity_dim))
            if config.similarity_dim else None
        )  # fmt: skip
        self.timbre = timbre.Timbre(config.n_mels) if config.timbre else None

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (logits (batch, genres), embeddings (batch, config.output_dim))."""
        x = normalise(patches, self.config.input_norm).unsqueeze(1)  # (batch, 1, mels, frames)
        if self.input_norm is not None:
            x = self.input_norm(x)
        x = self.blocks(x)  # (batch, C, mels / 16, frames / 16)
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)  # (batch, 2C)
        embedding = self.embed(pooled)  # (batch, E)
        logits = self.head(self.dropout(embedding))
        if self.similarity is not None:
            embedding = self.similarity(pooled)
        if self.timbre is not None:
            embedding = timbre.fuse(embedding, self.timbre(patches))
        return logits, embedding


def normalise(patches: torch.Tensor, how: str) -> torch.Tensor:
    """Per-patch normalisation of (batch, mels, frames) log-mel dB, before any learned layer.

    "batch": unchanged (the network's batch norm follows); "level": each patch minus its
    mean, over its standard deviation; "band": each mel band minus its mean over the
    patch's frames, then the patch over its standard deviation. A patch is a few seconds,
    so this holds for a stream as for a whole track.
    """
    if how == "batch":
        return patches
    centre = (
        patches.mean(dim=2, keepdim=True)
        if how == "band"
        else patches.mean(dim=(1, 2), keepdim=True)
    )
    x = patches - centre
    return x / x.std(dim=(1, 2), keepdim=True).clamp_min(1e-3)
