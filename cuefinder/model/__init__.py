"""The genre tagger: network definitions, their config, checkpoints and inference.

``build(config)`` gives the ``nn.Module`` a ``ModelConfig`` describes: the
founding CNN (``cnn.py``), a short-chunk ResNet (``resnet.py``) or an ensemble
of either (``ensemble.py``). All map (batch, mels, frames) log-mel patches to
(genre logits, embeddings).
"""

from __future__ import annotations

from cuefinder.model.config import ModelConfig


def build(config: ModelConfig):
    """The network a config describes, freshly initialised."""
    if config.architecture == "cnn":
        from cuefinder.model.cnn import GenreCNN

        return GenreCNN(config)
    if config.architecture == "resnet":
        from cuefinder.model.resnet import ShortChunkResNet

        return ShortChunkResNet(config)
    from cuefinder.model.ensemble import Ensemble

    return Ensemble(config)
