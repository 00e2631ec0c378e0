"""A short-chunk ResNet (after Won et al., 2020, "Evaluation of CNN-based automatic music
tagging models"): residual 3x3 blocks over a few seconds of log-mel, then pooled.

Same interface as ``GenreCNN``: (batch, mels, frames) -> (logits, embeddings).
"""

from __future__ import annotations

import torch
from torch import nn

from cuefinder.model.config import ModelConfig


class _Residual(nn.Module):
    """conv-BN-ReLU-conv-BN plus a (projected) shortcut, ReLU, then 2x2 max pool."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = (
            nn.Identity()
            if c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        )
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.body(x) + self.shortcut(x)))


class ShortChunkResNet(nn.Module):
    """Patch tagger with residual blocks: (batch, mels, frames) -> (logits, embeddings)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        first = config.channels[0]
        self.input_norm = nn.BatchNorm2d(1)
        self.stem = nn.Sequential(
            nn.Conv2d(1, first, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(first),
            nn.ReLU(inplace=True),
        )
        pairs = zip(config.channels, config.channels[1:])
        self.blocks = nn.Sequential(*(_Residual(a, b) for a, b in pairs))
        self.embed = nn.Sequential(
            nn.Linear(2 * config.channels[-1], config.embedding_dim), nn.ReLU(inplace=True)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.embedding_dim, len(config.genres))

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(self.input_norm(patches.unsqueeze(1)))  # (batch, C0, mels/2, frames/2)
        x = self.blocks(x)  # (batch, C, mels / 16, frames / 16)
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)  # (batch, 2C)
        embedding = self.embed(pooled)
        return self.head(self.dropout(embedding)), embedding
