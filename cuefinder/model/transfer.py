"""Film-genre heads on a pretrained musicnn (transfer learning).

The network is musicnn (``musicnn.py``: trained on the Million Song Dataset's
Last.fm tags, or on MagnaTagATune) up to its 200-value penultimate layer, plus a
new linear genre head. Its pretrained tag layer is kept, so a transfer model
also tags every segment with musicnn's 50 tags (moods, instruments, tempo,
styles), which search can use.

Three recipes, set by ``ModelConfig.extra["train"]``:

- "head": the backbone is fixed (its pretrained weights, batch-norm statistics
  included) and only the genre head learns: fast, and safe on a few hundred tracks;
- "backend": the back end's dense layer learns too (what the time pooling feeds);
- "all": the whole network learns, the backbone at a tenth of the head's rate.

Batch-norm statistics always stay as pretrained: small batches could not
estimate them. "head" and "backend" train from the pooled features of the fixed
front end, computed once per track (``train/heads.py``); "all" needs full passes.

Patches are (batch, 96 mels, 187 frames) of ``features.MUSICNN_FEATURES``; the
embedding is the penultimate layer. A saved model holds all its weights, so
tagging with it needs neither TensorFlow nor the musicnn wheel.
"""

from __future__ import annotations

import torch
from torch import nn

from cuefinder.errors import ConfigError
from cuefinder.model.config import MUSICNN_MODES, ModelConfig
from cuefinder.model.musicnn import N_MELS, PATCH_FRAMES, TAGS, Musicnn, load

BACKBONE_LR_SCALE = 0.1
MODES = tuple(MUSICNN_MODES.values())  # "head", "backend", "all"


class MusicnnGenre(nn.Module):
    """Pretrained musicnn + genre head: (batch, mels, frames) -> (genre logits, embedding)."""

    def __init__(self, config: ModelConfig, *, pretrained: bool = False):
        super().__init__()
        self.config = config
        name = config.extra.get("backbone", "MSD_musicnn")
        self.backbone = load(name) if pretrained else Musicnn(name)
        self.mode = config.extra.get("train", "head")
        if self.mode not in MODES:
            raise ConfigError(f"musicnn train mode must be one of {MODES}: {self.mode!r}")
        if self.mode != "all":
            self.backbone.requires_grad_(False)
        if self.mode == "backend":
            for module in (self.backbone.dense, self.backbone.dense_norm):
                module.requires_grad_(True)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.embedding_dim, len(config.genres))

    @property
    def tag_names(self) -> tuple[str, ...]:
        return tuple(self.backbone.tags)

    def train(self, mode: bool = True):
        """Batch-norm statistics stay as pretrained; a fixed backbone stays in eval mode."""
        super().train(mode)
        for module in self.backbone.modules():
            if self.mode == "head" or isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.train(False)
        return self

    def outputs(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(genre logits, embedding, pretrained tag probabilities) of one pass."""
        layers = self.backbone.layers(patches.transpose(1, 2))  # musicnn reads (frames, mels)
        embedding = layers["penultimate"]
        logits = self.head(self.dropout(embedding))
        return logits, embedding, torch.sigmoid(layers["logits"])

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, embedding, _ = self.outputs(patches)
        return logits, embedding

    def from_pooled(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(genre logits, embedding) from the backbone's pooled features (batch, 1506)."""
        embedding = self.backbone.back_end(pooled)
        return self.head(self.dropout(embedding)), embedding

    def parameter_groups(self, learning_rate: float) -> list[dict]:
        """Optimiser groups: the head at ``learning_rate``, a fine-tuned backbone slower."""
        groups = [{"params": list(self.head.parameters()), "lr": learning_rate}]
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        if backbone:
            groups.append({"params": backbone, "lr": learning_rate * BACKBONE_LR_SCALE})
        return groups


def musicnn_config(genres: tuple[str, ...], *, train: str = "head",
                   backbone: str = "MSD_musicnn", dropout: float = 0.3) -> ModelConfig:  # fmt: skip
    """The ModelConfig of a transfer model (``train``: "head", "backend" or "all")."""
    if train not in MODES:
        raise ConfigError(f"musicnn train mode must be one of {MODES}: {train!r}")
    return ModelConfig(genres=genres, architecture="musicnn", n_mels=N_MELS,
                       patch_frames=PATCH_FRAMES, channels=(), embedding_dim=200, dropout=dropout,
                       extra={"backbone": backbone, "train": train,
                              "tags": list(TAGS[backbone])})  # fmt: skip
