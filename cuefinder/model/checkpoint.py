"""Model files: safetensors weights plus everything needed to use them.

One file holds the weights and, in its metadata, the architecture
(``ModelConfig``, genre list included), the front end (``FeatureConfig``) and
a free-form training record. Nothing is pickled; nothing lives in a second file.
The header can be read without torch (``read_info``), which keeps the indexing
coordinator and ``cuefinder --help`` light.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cuefinder.errors import ModelFileError
from cuefinder.features import FeatureConfig
from cuefinder.model.config import ModelConfig
from cuefinder.model.heard import Heard
from cuefinder.model.likeness import Likeness

FORMAT = "cuefinder-model"
FORMAT_VERSION = 1
DEFAULT_MODEL = Path(__file__).with_name("default.safetensors")


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself, read from its header alone."""

    path: Path
    model_id: str
    config: ModelConfig
    features: FeatureConfig
    training: dict
    heard: bool = False  # it carries genre regressions on the sound embedding (heard.py)
    likeness: bool = False  # it carries the "sounds like" projection (likeness.py)

    @property
    def genres(self) -> tuple[str, ...]:
        return self.config.genres

    @property
    def tags(self) -> tuple[str, ...]:
        """Pretrained tags the model also outputs (a musicnn transfer model's), else ()."""
        return tuple(self.config.extra.get("tags", ()))

    @property
    def thin_genres(self) -> dict[str, int]:
        """Genre -> training groups (games, films) behind it, for genres resting on fewer
        than ``MIN_GROUPS``: offered for search only with a warning."""
        counts = self.training.get("genre_groups") or {}
        return {g: n for g, n in counts.items() if n < MIN_GROUPS}

    @property
    def weak_genres(self) -> dict[str, str]:
        """Genre -> why its ranking is a hint at best: too few games taught it, or its
        cross-validated ROC-AUC on games the network never heard is under ``WEAK_AUC``
        (from the estimate ``cuefinder card --estimate`` stores: ranked within one model,
        as a catalog is, where the estimate has that figure; pooled over folds before)."""
        out = {g: f"taught by {n} game{'s' * (n != 1)} only" for g, n in self.thin_genres.items()}
        estimate = (self.training.get("cross_validation") or {}).get("estimate") or {}
        for genre, m in (estimate.get("per_genre") or {}).items():
            auc = m["within"] if "within" in m else m.get("roc_auc")
            if genre not in out and auc is not None and auc < WEAK_AUC:
                out[genre] = f"ROC-AUC {auc:.2f} on games it never heard (0.5 is chance)"
        return out

    @property
    def calibration(self) -> dict[str, tuple[float, float]]:
        """Genre -> (a, b): the calibrated probability is sigmoid(a * logit(p) + b), from
        the cross-validated predictions (evaluate.calibration); empty when not estimated."""
        estimate = (self.training.get("cross_validation") or {}).get("estimate") or {}
        params = (estimate.get("calibration") or {}).get("params") or {}
        return {g: (float(a), float(b)) for g, (a, b) in params.items()}


MIN_GROUPS = 3  # fewer training games behind a genre: its scores come with a warning
WEAK_AUC = 0.6  # a lower cross-validated ROC-AUC: the same


def default_model_path() -> Path:
    """The model used when none is named: $CUEFINDER_MODEL or the built-in one."""
    return Path(os.environ.get("CUEFINDER_MODEL") or DEFAULT_MODEL)


def save(
    path: str | os.PathLike,
    model,
    features: FeatureConfig,
    training: dict | None = None,
    heard=None,
    likeness=None,
):
    """Write ``model`` (any network ``model.build`` makes) with its configs, atomically;
    ``heard``: genre regressions on the sound embedding to carry (``heard.Heard``);
    ``likeness``: the "sounds like" projection to carry (``likeness.Likeness``)."""
    import torch
    from safetensors.torch import save_file

    if model.config.n_mels != features.n_mels:
        raise ModelFileError(f"{path}: the network reads {model.config.n_mels} mel bands but "
                             f"the front end makes {features.n_mels}")  # fmt: skip
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "model": json.dumps(model.config.to_dict()),
        "features": json.dumps(features.to_dict()),
        "training": json.dumps(training or {}),
    }
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if heard is not None:
        tensors |= {k: torch.from_numpy(v) for k, v in heard.tensors().items()}
    if likeness is not None:
        tensors |= {k: torch.from_numpy(v) for k, v in likeness.tensors().items()}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)  # a model file is for everyone who indexes with it
    os.replace(tmp, path)


def annotate(path: str | os.PathLike, **fields) -> None:
    """Add fields to a model file's training record; the weights (and model id) stay as they are."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = Path(path)
    read_info(path)  # refuse anything but a cuefinder model
    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata())
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    metadata["training"] = json.dumps(json.loads(metadata["training"]) | fields)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_info(path: str | os.PathLike) -> ModelInfo:
    """Parse a model file's header; ModelFileError if it is not a cuefinder model."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 0 < size < 100_000_000:
                raise ModelFileError(f"{path}: not a safetensors file")
            header = json.loads(handle.read(size))
            digest = hashlib.sha256(handle.read()).hexdigest()
    except OSError as err:
        raise ModelFileError(f"{path}: cannot read model file ({err.strerror or err})") from err
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelFileError(f"{path}: corrupt model header") from err
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a cuefinder model (no '{FORMAT}' metadata)")
    try:
        config = ModelConfig.from_dict(json.loads(meta["model"]))
        features = FeatureConfig.from_dict(json.loads(meta["features"]))
        training = json.loads(meta.get("training", "{}"))
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"{path}: model metadata is incomplete ({err})") from err
    if config.n_mels != features.n_mels:
        raise ModelFileError(f"{path}: the network reads {config.n_mels} mel bands but its "
                             f"front end makes {features.n_mels}")  # fmt: skip
    carried = Heard.carried_by(header), Likeness.carried_by(header)
    return ModelInfo(path, digest[:16], config, features, training, *carried)


def load(path: str | os.PathLike | None = None):
    """Load a model file; returns (its network in eval mode, ModelInfo). The genre
    regressions and projection a file may carry beside the network are read by
    ``load_heard`` and ``load_likeness``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from cuefinder.model import build

    info = read_info(path or default_model_path())
    model = build(info.config)
    try:
        state = load_file(str(info.path))
        extra = (Heard.PREFIX, Likeness.PREFIX)
        state = {k: v for k, v in state.items() if not k.startswith(extra)}
        model.load_state_dict(state, strict=True)
    except (SafetensorError, RuntimeError) as err:
        raise ModelFileError(f"{info.path}: weights do not fit the stored config "
                             f"({_first_problem(err)})") from None  # fmt: skip
    return model.eval(), info


def load_heard(info: ModelInfo):
    """The genre regressions on the sound embedding a model file carries (``heard.Heard``),
    or None; numpy only."""
    if not info.heard:
        return None
    heard = _carried(info, Heard, "genre regressions")
    problem = heard.problem(len(info.genres))
    if problem:
        raise ModelFileError(f"{info.path}: its genre regressions do not fit ({problem})")
    return heard


def load_likeness(info: ModelInfo):
    """The "sounds like" projection a model file carries (``likeness.Likeness``), or
    None; numpy only."""
    if not info.likeness:
        return None
    likeness = _carried(info, Likeness, "'sounds like' projection")
    problem = likeness.problem(info.config.output_dim)
    if problem:
        raise ModelFileError(f"{info.path}: its 'sounds like' projection does not fit ({problem})")
    return likeness


def _carried(info: ModelInfo, kind, what: str):
    """``kind.from_tensors`` (a ``carried.Carried``) of its tensors beside the network."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(info.path), framework="numpy") as handle:
            names = [k for k in handle.keys() if k.startswith(kind.PREFIX)]  # noqa: SIM118
            return kind.from_tensors({k: handle.get_tensor(k) for k in names})
    except (SafetensorError, KeyError, ValueError, TypeError, OSError) as err:
        raise ModelFileError(f"{info.path}: its {what} cannot be read ({err})") from None


def _first_problem(err: Exception) -> str:
    """torch lists every mismatched tensor on its own line: the first and a count, one line."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    details = [line for line in lines[1:] if not line.startswith("Error(s)")]
    if not details:
        return lines[0] if lines else type(err).__name__
    more = f"; and {len(details) - 1} more" if len(details) > 1 else ""
    return details[0].rstrip(".") + more
