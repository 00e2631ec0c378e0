"""The architecture settings stored in every model file (genres included)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

ARCHITECTURES = ("cnn", "resnet", "musicnn", "ensemble")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and output labels (stored in the model file)."""

    genres: tuple[str, ...]
    architecture: str = "cnn"  # "cnn" (the founding design), "resnet", "musicnn", "ensemble"
    n_mels: int = 96
    patch_frames: int = 96
    channels: tuple[int, ...] = (16, 32, 64, 128)
    embedding_dim: int = 128
    dropout: float = 0.3
    members: tuple[ModelConfig, ...] = ()  # an ensemble's networks
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}: {self.architecture}")
        if (self.architecture == "ensemble") != bool(self.members):
            raise ValueError("an ensemble (and only an ensemble) has members")
        if any(
            m.genres != self.genres or m.embedding_dim != self.embedding_dim for m in self.members
        ):
            raise ValueError("ensemble members must share genres and embedding size")
        if not self.genres or len(set(self.genres)) != len(self.genres):
            raise ValueError(f"genres must be a non-empty list of distinct names: {self.genres}")
        if self.architecture == "musicnn" and self.extra.get("backbone", "MSD_musicnn") not in (
            "MSD_musicnn",
            "MTT_musicnn",
        ):
            raise ValueError(f"unknown musicnn backbone: {self.extra.get('backbone')}")
        if self.patch_frames < 2 ** len(self.channels) or self.n_mels < 2 ** len(self.channels):
            raise ValueError("patch too small for the number of pooling blocks")

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
