"""The architecture settings stored in every model file (genres included)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from cuefinder.errors import ConfigError

# Every architecture and method name, declared here once (model, trainer, evaluation, CLI):
NETWORKS = ("cnn", "resnet")  # trained from scratch on cuefinder's log-mel
ARCHITECTURES = (*NETWORKS, "musicnn", "ensemble")  # what a model file's network can be
# The recipes' names for what can be trained: the networks, and genre heads on the
# pretrained musicnn whose backbone is fixed (frozen), tuned in its dense top (top) or
# tuned throughout (full), each mapped to its ``extra["train"]`` mode (model/transfer.py)
MUSICNN_MODES = {"musicnn-frozen": "head", "musicnn-top": "backend", "musicnn-full": "all"}
POOLED_MODES = ("head", "backend")  # convolutions fixed: trained on pooled features (heads.py)
TRAINABLE = (*NETWORKS, *MUSICNN_MODES)
BASELINES = ("random", "majority", "mfcc-logreg", "sounds-logreg", "heard-logreg")  # baselines
METHODS = (*BASELINES, *TRAINABLE, "ensemble")  # what `cuefinder evaluate` compares
DEFAULT_METHODS = (*BASELINES[:3], "ensemble")  # what it compares unless told
INPUT_NORMS = ("batch", "level", "band")
POOLINGS = ("mean", "top")
# the timbre statistics a network may carry beside its embedding (model/timbre.py): 20
# MFCCs and their deltas (mean and deviation), 8 mel bands, 6 of loudness, centroid, flux
TIMBRE_MFCC, TIMBRE_BANDS = 20, 8
TIMBRE_SIZE = 4 * TIMBRE_MFCC + TIMBRE_BANDS + 6  # 94, as the MFCC baseline's statistics


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and output labels (stored in the model file)."""

    genres: tuple[str, ...]
    architecture: str = "cnn"  # "cnn" (the founding design), "resnet", "musicnn", "ensemble"
    # the front end's (FeatureConfig.n_mels, not imported here: numpy would load with the
    # command line); features_for, checkpoint.save and checkpoint.read_info check they agree
    n_mels: int = 96
    patch_frames: int = 96
    channels: tuple[int, ...] = (16, 32, 64, 128)
    embedding_dim: int = 128
    dropout: float = 0.3
    # How a patch is normalised before the convolutions (see cnn.normalise): "batch" (one
    # batch norm over every value: the original design), "level" (each patch to zero mean
    # and unit variance: mastering level and dynamic range removed), "band" (each mel band
    # of a patch to zero mean over time, then unit variance: the recording's colour removed)
    input_norm: str = "batch"
    # > 0: a second head maps the pooled convolution features to an embedding of this size
    # trained contrastively (two parts of one track are a pair) and used for "sounds like";
    # 0: the genre head's embedding serves (the original design)
    similarity_dim: int = 0
    # True: the embedding is the learned one and the patch's standardised timbre
    # statistics side by side (model/timbre.py), fitted after training (``timbre.attach``)
    timbre: bool = False
    # How segment probabilities become a track's: "mean" (the original design) or "top"
    # (the mean log-odds of each genre's top quarter of segments: a track suits a genre
    # when a good part of it does, the multiple-instance view); see ``pool_segments``
    pooling: str = "mean"
    members: tuple[ModelConfig, ...] = ()  # an ensemble's networks
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"architecture must be one of {ARCHITECTURES}: {self.architecture}")
        if self.input_norm not in INPUT_NORMS:
            raise ConfigError(f"input_norm must be one of {INPUT_NORMS}: {self.input_norm}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {POOLINGS}: {self.pooling}")
        if self.similarity_dim < 0 or (self.similarity_dim and self.architecture != "cnn"):
            raise ConfigError("similarity_dim is a size >= 0, and only the cnn has that head")
        if self.timbre and self.architecture != "cnn":
            raise ConfigError("timbre statistics are attached to a cnn only")
        if (self.architecture == "ensemble") != bool(self.members):
            raise ConfigError("an ensemble (and only an ensemble) has members")
        if any(m.genres != self.genres or m.output_dim != self.output_dim for m in self.members):
            raise ConfigError("ensemble members must share genres and embedding size")
        if not self.genres or len(set(self.genres)) != len(self.genres):
            raise ConfigError(f"genres must be a non-empty list of distinct names: {self.genres}")
        if self.architecture == "musicnn" and self.extra.get("backbone", "MSD_musicnn") not in (
            "MSD_musicnn",
            "MTT_musicnn",
        ):
            raise ConfigError(f"unknown musicnn backbone: {self.extra.get('backbone')}")
        if self.patch_frames < 2 ** len(self.channels) or self.n_mels < 2 ** len(self.channels):
            raise ConfigError("patch too small for the number of pooling blocks")

    @property
    def output_dim(self) -> int:
        """Size of the embedding the network outputs: the similarity head's if it has one,
        else the genre head's; plus the timbre statistics if attached."""
        learned = self.similarity_dim or self.embedding_dim
        if not self.timbre:
            return learned
        return learned + TIMBRE_SIZE

    def to_dict(self) -> dict:
        values = asdict(self)
        values["genres"] = list(self.genres)
        values["channels"] = list(self.channels)
        values["members"] = [m.to_dict() for m in self.members]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        known = {k: values[k] for k in cls.__dataclass_fields__ if k in values}
        known["genres"] = tuple(known["genres"])
        if "channels" in known:
            known["channels"] = tuple(known["channels"])
        known["members"] = tuple(cls.from_dict(m) for m in known.get("members", ()))
        return cls(**known)


def top_count(segments: int) -> int:
    """How many segments the "top" pooling averages: a quarter, at least one."""
    return max(1, segments // 4)


def pool_segments(probabilities, pooling: str):
    """Track probabilities (genres,) from segment probabilities (segments, genres), numpy."""
    import numpy as np

    probs = np.asarray(probabilities, np.float64)
    if pooling == "mean" or len(probs) == 0:
        return probs.mean(axis=0).astype(np.float32)
    clipped = np.clip(probs, 1e-6, 1 - 1e-6)
    logits = np.log(clipped / (1 - clipped))
    k = top_count(len(probs))
    top = -np.sort(-logits, axis=0)[:k]
    return (1 / (1 + np.exp(-top.mean(axis=0)))).astype(np.float32)
