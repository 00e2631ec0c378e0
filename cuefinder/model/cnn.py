"""The genre tagger network: a CNN over log-mel patches of a few seconds.

The founding design: convolutions over spectrogram patches, multi-label sigmoid
outputs over film genres. A strided 3x3 conv halves a (mels, frames) patch, then
three conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool) shrink it further;
global average and max pooling over what is left give a vector that a linear
layer maps to the patch embedding; a last linear layer gives one logit per genre.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and output labels (stored in the model file)."""

    genres: tuple[str, ...]
    n_mels: int = 96
    patch_frames: int = 96
    channels: tuple[int, ...] = (16, 32, 64, 128)
    embedding_dim: int = 128
    dropout: float = 0.3
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.genres or len(set(self.genres)) != len(self.genres):
            raise ValueError(f"genres must be a non-empty list of distinct names: {self.genres}")
        if self.patch_frames < 2 ** len(self.channels) or self.n_mels < 2 ** len(self.channels):
            raise ValueError("patch too small for the number of pooling blocks")

    def to_dict(self) -> dict:
        values = asdict(self)
        values["genres"] = list(self.genres)
        values["channels"] = list(self.channels)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        known = {k: values[k] for k in cls.__dataclass_fields__ if k in values}
        known["genres"] = tuple(known["genres"])
        if "channels" in known:
            known["channels"] = tuple(known["channels"])
        return cls(**known)


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
        self.input_norm = nn.BatchNorm2d(1)
        pairs = zip(widths, widths[1:])
        self.blocks = nn.Sequential(*(_block(a, b, stem=i == 0) for i, (a, b) in enumerate(pairs)))
        self.embed = nn.Sequential(
            nn.Linear(2 * config.channels[-1], config.embedding_dim), nn.ReLU(inplace=True)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.embedding_dim, len(config.genres))

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (logits (batch, genres), embeddings (batch, embedding_dim))."""
        x = self.input_norm(patches.unsqueeze(1))  # (batch, 1, mels, frames)
        x = self.blocks(x)  # (batch, C, mels / 16, frames / 16)
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)  # (batch, 2C)
        embedding = self.embed(pooled)  # (batch, E)
        return self.head(self.dropout(embedding)), embedding
