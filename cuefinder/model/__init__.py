"""The genre tagger: network definitions, their config, checkpoints and inference.

``build(config)`` gives the ``nn.Module`` a ``ModelConfig`` describes: the
founding CNN (``cnn.py``), a short-chunk ResNet (``resnet.py``), a genre head on
the pretrained musicnn (``transfer.py``), or an ensemble of networks that share
a front end (``ensemble.py``). All map (batch, mels, frames) log-mel patches to
(genre logits, embeddings); ``features_for(config)`` is the front end they read.
"""

from __future__ import annotations

from cuefinder.errors import ConfigError
from cuefinder.model.config import ModelConfig


def build(config: ModelConfig, *, pretrained: bool = False):
    """The network a config describes, freshly initialised (``pretrained``: a transfer
    model's backbone starts from musicnn's published weights, as training wants)."""
    if config.architecture == "cnn":
        from cuefinder.model.cnn import GenreCNN

        return GenreCNN(config)
    if config.architecture == "resnet":
        from cuefinder.model.resnet import ShortChunkResNet

        return ShortChunkResNet(config)
    if config.architecture == "musicnn":
        from cuefinder.model.transfer import MusicnnGenre

        return MusicnnGenre(config, pretrained=pretrained)
    from cuefinder.model.ensemble import Ensemble

    return Ensemble(config, [build(m) for m in config.members])


def features_for(config: ModelConfig):
    """The front end a network reads: musicnn's for transfer models, cuefinder's otherwise."""
    from cuefinder.features import MUSICNN_FEATURES, FeatureConfig

    networks = config.members or (config,)
    kinds = {m.architecture == "musicnn" for m in networks}
    if len(kinds) > 1:
        raise ConfigError("ensemble members must read the same front end (musicnn or not)")
    features = MUSICNN_FEATURES if kinds.pop() else FeatureConfig()
    for network in networks:
        if network.n_mels != features.n_mels:
            raise ConfigError(
                f"the {network.architecture} reads {network.n_mels} mel bands but its front "
                f"end makes {features.n_mels} (ModelConfig.n_mels and FeatureConfig.n_mels)"
            )
    return features
