"""Training genre heads on the pretrained musicnn from its pooled features.

When the backbone's convolutions stay fixed (``musicnn-frozen``: only the genre
head learns; ``musicnn-top``: its dense top learns too), everything below the
time pooling is the same in every epoch. So each track's evenly spaced 3 s
patches go through the fixed front and mid end once, and training then works on
those pooled vectors (1506 values per patch): seconds per epoch instead of an
hour. The result is an ordinary transfer model (``model/transfer.py``) whose
backbone holds the pretrained weights, with the tuned top, if any.

Pooled features are remembered per feature array while it lives, so the folds
of a cross-validation compute each track once.
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np
import torch

from cuefinder.model import build
from cuefinder.model.config import ModelConfig
from cuefinder.train import scoring
from cuefinder.train.config import TrainConfig
from cuefinder.train.dataset import LabelledSet
from cuefinder.train.loop import run_epochs, setup, smoothed

PATCHES_PER_TRACK = TrainConfig.head_patches  # evenly spaced 3 s patches per track
_memo: dict[tuple[int, str, int], tuple] = {}


@torch.inference_mode()
def pooled(model, features: list[np.ndarray], max_patches: int = PATCHES_PER_TRACK):
    """Each track's pooled backbone features, (patches, 1506) float32, remembered per array.

    Only for a transfer model whose convolutions are the pretrained ones (modes "head"
    and "backend"): the memo assumes they never change.
    """
    from cuefinder.features import even_patches

    backbone = model.backbone.eval()
    out = []
    for values in features:
        key = (id(values), backbone.name, max_patches)
        hit = _memo.get(key)
        if hit is not None and hit[0]() is values:
            out.append(hit[1])
            continue
        patches = even_patches(values, model.config.patch_frames, max_patches)
        x = torch.from_numpy(patches.astype(np.float32)).transpose(1, 2)  # (n, frames, mels)
        row = backbone.pooled(x).numpy()
        with contextlib.suppress(TypeError):
            _memo[key] = (weakref.ref(values, lambda _r, k=key: _memo.pop(k, None)), row)
        out.append(row)
    return out


@torch.inference_mode()
def predict_pooled(model, rows: list[np.ndarray]) -> np.ndarray:
    """Track probabilities (tracks, genres): mean over each track's pooled patches."""
    model.eval()
    probs = [torch.sigmoid(model.from_pooled(torch.from_numpy(r))[0]).mean(dim=0) for r in rows]
    return torch.stack(probs).numpy() if probs else np.zeros((0, len(model.config.genres)))


def fit(
    train_set: LabelledSet,
    val_set: LabelledSet,
    model_config: ModelConfig,
    config: TrainConfig,
    *,
    progress: bool = True,
    seed: int = 0,
):
    """Train the head (and the dense top for mode "backend"); (model, history) like
    ``trainer.fit``, through the same loop (``loop.run_epochs``), with the recipe's
    ``head_steps_per_epoch`` and ``head_patches``."""
    loss_fn, by_group, rng = setup(train_set, config, seed)
    model = build(model_config, pretrained=True)
    train_rows = pooled(model, train_set.features, config.head_patches)
    val_rows = pooled(model, val_set.features, config.head_patches)
    groups = model.parameter_groups(config.learning_rate)
    optimiser = torch.optim.AdamW(groups, weight_decay=config.weight_decay)

    def batch_loss() -> torch.Tensor:
        x, y = _batch(train_rows, train_set.labels, by_group, config.batch_size, rng)
        return loss_fn(model.from_pooled(x)[0], smoothed(y, config.label_smoothing))

    def validate() -> float:
        return scoring.macro_roc_auc(val_set.labels, predict_pooled(model, val_rows))

    run = run_epochs(
        model,
        batch_loss,
        validate,
        optimiser,
        config,
        steps_per_epoch=config.head_steps_per_epoch,
        desc=f"train {model_config.extra['train']}",
        progress=progress,
    )
    return model.eval(), run.history


def _batch(rows, labels, by_group, size: int, rng):
    """A group-balanced batch of random pooled patches and their tracks' labels."""
    xs, ys = [], []
    for _ in range(size):
        members = by_group[rng.integers(len(by_group))]
        track = int(members[rng.integers(len(members))])
        xs.append(rows[track][rng.integers(len(rows[track]))])
        ys.append(labels[track])
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))
