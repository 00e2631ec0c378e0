"""The training recipe (``TrainConfig``): every lever of a training run, checked when made.

Torch-free, so a recipe is read and refused before anything heavy loads or any audio is
decoded. A trained model records its recipe (``asdict``) in its training record.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from numbers import Integral, Real

from cuefinder.errors import DatasetError
from cuefinder.model.config import INPUT_NORMS, TRAINABLE

MAX_SECONDS = 600.0  # how much of each track training reads, unless a recipe says


@dataclass(frozen=True)
class TrainConfig:
    """A training recipe (``--config recipe.toml`` sets any field; saved in the model)."""

    architectures: tuple[str, ...] = ("cnn",)
    members: int = 1
    channels: tuple[int, ...] = (16, 32, 64, 128)
    epochs: int = 30
    steps_per_epoch: int = 60
    batch_size: int = 48
    learning_rate: float = 2e-3
    weight_decay: float = 1e-3
    label_smoothing: float = 0.1
    pos_weight_cap: float = 3.0
    test_fraction: float = 0.25  # 0: every group trains (the validation split aside)
    val_fraction: float = 0.2
    max_seconds: float = MAX_SECONDS
    eval_patches: int = 40  # per track, evenly spaced
    patience: int = 8
    seed: int = 0
    threads: int = 0  # 0: torch's default
    input_norm: str = "batch"  # cnn: "batch", "level" or "band" (ModelConfig.input_norm)
    # > 0: a cnn gets a similarity head trained with this weight on a contrastive loss
    # (NT-Xent: two parts of one track are a pair, the batch's other tracks the negatives)
    contrastive: float = 0.0
    similarity_dim: int = 128
    temperature: float = 0.1
    mixup: float = 0.0  # > 0: mix each patch with one of another game, Beta(a, a) weights
    # > 1: multiple-instance training: each track is a bag of this many patches whose
    # genre log-odds are pooled (top quarter's mean) before the loss; the model then pools
    # a track's segments the same way ("top"). 0 or 1: each patch carries its track's label
    bag: int = 0
    # True: a cnn's embedding also carries each patch's timbre statistics, standardised
    # over the training tracks after training (model/timbre.py): the "sounds like" space
    timbre: bool = False
    # True: the model file also carries logistic regressions on each track's sound
    # embedding (what musicnn's tagger hears, which indexing computes anyway), fitted on
    # every training track, and a track's genre scores are the mean of the network's and
    # theirs (model/heard.py); ``cuefinder evaluate`` scores such a recipe NAME as the
    # fusion NAME+heard-logreg
    heard: bool = False
    # True: the model file also carries the "sounds like" projection: each block of the
    # joined space (the network's embedding, the sound embedding) whitened by its spread
    # within the training games, fitted on every training track (model/likeness.py)
    likeness: bool = False
    # Genre heads on the fixed pretrained musicnn (musicnn-frozen, musicnn-top) learn from
    # each track's pooled backbone features (train/heads.py), where a step costs little:
    # they take these instead of steps_per_epoch, and train and validate on this many
    # evenly spaced patches of each track (eval_patches still sets the test predictions)
    head_steps_per_epoch: int = 100
    head_patches: int = 40

    def __post_init__(self):
        """Refuse a recipe that cannot run before any audio is decoded."""
        for f in fields(self):  # lists (TOML, argparse) become the tuples a recipe holds
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        problems = _type_problems(self) or _value_problems(self)
        if problems:
            raise DatasetError("training recipe: " + "; ".join(problems))

    @classmethod
    def from_toml(cls, path: str | os.PathLike, **overrides) -> TrainConfig:
        """Fields from the ``[train]`` table of a TOML file (or its top level), then overrides."""
        try:
            with open(path, "rb") as handle:
                table = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise DatasetError(f"{path}: cannot read training config ({err})") from err
        values = table.get("train", table)
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise DatasetError(
                f"{path}: unknown settings {sorted(unknown)}; known: {sorted(known)}"
            )
        return cls(**{**values, **overrides})


def _type_problems(config: TrainConfig) -> list[str]:
    """Each field holds what its default is (a float field takes an int too)."""
    problems = []
    for f in fields(config):
        value, default = getattr(config, f.name), f.default
        if isinstance(default, tuple):
            ok = isinstance(value, tuple) and all(_is(v, type(default[0])) for v in value)
            kind = f"a list of {type(default[0]).__name__}"
        else:
            ok, kind = _is(value, type(default)), type(default).__name__
        if not ok:
            problems.append(f"{f.name} must be {kind}: {value!r}")
    return problems


def _is(value, kind: type) -> bool:
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    return isinstance(value, {int: Integral, float: Real}.get(kind, kind))


def _value_problems(config: TrainConfig) -> list[str]:
    """What makes a well-typed recipe unable to run, one line per field."""
    c, problems = config, []
    if not 0 <= c.test_fraction < 1:
        problems.append(f"test_fraction must be in [0, 1): {c.test_fraction}")
    if not 0 < c.val_fraction < 1:
        problems.append(f"val_fraction must be in (0, 1): {c.val_fraction}")
    unknown = [a for a in c.architectures if a not in TRAINABLE]
    if unknown or not c.architectures:
        problems.append(f"architectures must be among {', '.join(TRAINABLE)}: {unknown}")
    counts = ("members", "epochs", "steps_per_epoch", "batch_size", "eval_patches", "patience")
    for name in (*counts, "similarity_dim", "head_steps_per_epoch", "head_patches"):
        if getattr(c, name) < 1:
            problems.append(f"{name} must be at least 1: {getattr(c, name)}")
    for name in ("learning_rate", "max_seconds", "temperature"):
        if not getattr(c, name) > 0:
            problems.append(f"{name} must be positive: {getattr(c, name)}")
    for name in ("weight_decay", "contrastive", "mixup", "label_smoothing", "threads"):
        if not getattr(c, name) >= 0:
            problems.append(f"{name} must be at least 0: {getattr(c, name)}")
    if not c.channels or any(n < 1 for n in c.channels):
        problems.append(f"channels must be sizes of at least 1: {list(c.channels)}")
    if c.input_norm not in INPUT_NORMS:
        problems.append(f"input_norm must be one of {', '.join(INPUT_NORMS)}")
    if c.bag < 0 or (c.bag > 1 and c.batch_size % c.bag):
        problems.append(f"bag must be >= 0 and divide batch_size: {c.bag}")
    if c.bag > 1 and (c.contrastive or c.mixup):
        problems.append("bag (multiple-instance) does not combine with contrastive or mixup")
    if c.contrastive and c.batch_size < 4:
        problems.append("a contrastive recipe needs batch_size >= 4")
    return problems


DEFAULT_TRAIN = TrainConfig()  # the recipe a run without one follows
