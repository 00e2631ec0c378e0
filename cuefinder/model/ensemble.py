"""An ensemble: several networks whose genre probabilities are averaged.

Its logits are the log-odds of the mean probability, so ``sigmoid(logits)`` is
the ensemble's probability; its embedding is the mean of the members'. The members
are built by the caller (``model.build``), so this module never imports the factory.
"""

from __future__ import annotations

import torch
from torch import nn

from cuefinder.model.config import ModelConfig


class Ensemble(nn.Module):
    def __init__(self, config: ModelConfig, members: list[nn.Module]):
        """``members``: the networks ``config.members`` describe, in that order."""
        super().__init__()
        self.config = config
        self.members = nn.ModuleList(members)

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [member(patches) for member in self.members]
        probs = torch.stack([torch.sigmoid(logits) for logits, _ in outputs]).mean(dim=0)
        embedding = torch.stack([e for _, e in outputs]).mean(dim=0)
        return torch.logit(probs, eps=1e-6), embedding
