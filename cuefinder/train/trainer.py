"""Train the genre CNN from a labelled manifest, evaluate on held-out groups, write the model.

Straightforward recipe: cached log-mel features; random patches drawn
group-balanced (pick a group, then a track, then an offset); gain and
SpecAugment-style masking; BCE with label smoothing; AdamW; the epoch with the
best validation macro ROC-AUC is kept. Validation and test groups are disjoint
from training groups (``splits.split_groups``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from cuefinder.errors import DatasetError
from cuefinder.features import FeatureConfig
from cuefinder.model import checkpoint
from cuefinder.model.cnn import GenreCNN, ModelConfig
from cuefinder.train import featcache, metrics
from cuefinder.train.splits import split_groups


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    steps_per_epoch: int = 60
    batch_size: int = 48
    learning_rate: float = 2e-3
    weight_decay: float = 1e-3
    label_smoothing: float = 0.1
    test_fraction: float = 0.25
    val_fraction: float = 0.2
    max_seconds: float = 600.0
    eval_patches: int = 40  # per track, evenly spaced
    patience: int = 8
    seed: int = 0
    threads: int = 0  # 0: torch's default


@dataclass
class LabelledSet:
    """Features and multi-hot labels of the tracks of some groups."""

    features: list[np.ndarray]  # each (n_mels, frames) float16
    labels: np.ndarray  # (tracks, genres) float32
    groups: list[str]
    paths: list[str]


def train(
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    config: TrainConfig = TrainConfig(),
    *,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> str:
    """Train, evaluate on held-out groups, save the model; returns a summary line."""
    from cuefinder.train.games import read_manifest

    started = time.monotonic()
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    rows = read_manifest(Path(manifest))
    genres = tuple(sorted({g for r in rows for g in r.genres}))
    feature_config = FeatureConfig()
    model_config = ModelConfig(genres=genres)
    values = featcache.build(
        [r.path for r in rows],
        feature_config,
        max_seconds=config.max_seconds,
        cache_dir=cache_dir,
        progress=progress,
    )
    usable = [(r, v) for r, v in zip(rows, values) if not isinstance(v, str)]
    skipped = [(r.path, v) for r, v in zip(rows, values) if isinstance(v, str)]
    group_genres: dict[str, set[str]] = {}
    for r, _ in usable:
        group_genres.setdefault(r.package, set()).update(r.genres)
    if len(group_genres) < 3:
        raise DatasetError(
            f"{manifest}: need at least 3 groups to train and test, got {len(group_genres)}"
        )
    rest, test_groups = split_groups(group_genres, config.test_fraction, config.seed)
    train_groups, val_groups = split_groups(
        {k: group_genres[k] for k in rest}, config.val_fraction, config.seed + 1
    )
    sets = {
        name: _subset(usable, set(keys), genres)
        for name, keys in (("train", train_groups), ("val", val_groups), ("test", test_groups))
    }
    model, history = _fit(sets["train"], sets["val"], model_config, config, progress)
    test_scores = predict(
        model, sets["test"].features, model_config.patch_frames, config.eval_patches
    )
    evaluation = metrics.evaluate(sets["test"].labels, test_scores, genres, sets["test"].groups)
    record = {
        "manifest": str(Path(manifest).name),
        "config": asdict(config),
        "groups": {"train": train_groups, "val": val_groups, "test": test_groups},
        "tracks": {k: len(v.paths) for k, v in sets.items()},
        "skipped": [f"{p}: {why}" for p, why in skipped],
        "history": history,
        "test": evaluation,
        "train_seconds": round(time.monotonic() - started, 1),
    }
    checkpoint.save(out, model, feature_config, record)
    report = Path(out).with_suffix(".report.json")
    report.write_text(json.dumps(record, indent=2))
    return (
        f"wrote {out}: test macro ROC-AUC {evaluation['macro']['roc_auc']:.3f}, "
        f"PR-AUC {evaluation['macro']['pr_auc']:.3f} on {len(test_groups)} held-out groups "
        f"({record['train_seconds']:.0f} s); report {report}"
    )


def _subset(usable, keys: set[str], genres: tuple[str, ...]) -> LabelledSet:
    chosen = [(r, v) for r, v in usable if r.package in keys]
    labels = np.zeros((len(chosen), len(genres)), np.float32)
    for i, (r, _) in enumerate(chosen):
        labels[i, [genres.index(g) for g in r.genres]] = 1.0
    return LabelledSet(
        [v for _, v in chosen],
        labels,
        [r.package for r, _ in chosen],
        [str(r.path) for r, _ in chosen],
    )


def _fit(
    train_set: LabelledSet,
    val_set: LabelledSet,
    model_config: ModelConfig,
    config: TrainConfig,
    progress: bool,
):
    from tqdm import tqdm

    rng = np.random.default_rng(config.seed)
    model = GenreCNN(model_config)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    total = config.epochs * config.steps_per_epoch
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, config.learning_rate, total_steps=total
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    by_group = _index_by_group(train_set.groups)
    best, best_state, history, stale = -1.0, None, [], 0
    bar = tqdm(total=total, unit="step", desc="train", disable=not progress or None)
    for epoch in range(config.epochs):
        model.train()
        losses = []
        for _ in range(config.steps_per_epoch):
            x, y = _batch(train_set, by_group, model_config.patch_frames, config, rng)
            y = y * (1 - config.label_smoothing) + config.label_smoothing / 2
            loss = loss_fn(model(x)[0], y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(float(loss))
            bar.update(1)
        scores = predict(model, val_set.features, model_config.patch_frames, config.eval_patches)
        val = metrics.macro_roc_auc(val_set.labels, scores)
        history.append(
            {
                "epoch": epoch + 1,
                "loss": round(float(np.mean(losses)), 4),
                "val_roc_auc": round(val, 4),
            }
        )
        bar.set_postfix_str(f"loss {np.mean(losses):.3f} val ROC-AUC {val:.3f}")
        if val > best:
            best, stale = val, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    bar.close()
    model.load_state_dict(best_state)
    return model.eval(), history


def _index_by_group(groups: list[str]) -> list[np.ndarray]:
    names = sorted(set(groups))
    return [np.array([i for i, g in enumerate(groups) if g == name]) for name in names]


def _batch(data: LabelledSet, by_group, width: int, config: TrainConfig, rng):
    """A group-balanced batch of random patches with augmentation: (x, y)."""
    patches, labels = [], []
    for _ in range(config.batch_size):
        members = by_group[rng.integers(len(by_group))]
        track = int(members[rng.integers(len(members))])
        patches.append(_random_patch(data.features[track], width, rng))
        labels.append(data.labels[track])
    x = torch.from_numpy(np.stack(patches).astype(np.float32))  # (batch, mels, frames)
    return _augment(x, rng), torch.from_numpy(np.stack(labels))


def _random_patch(features: np.ndarray, width: int, rng) -> np.ndarray:
    frames = features.shape[1]
    if frames < width:
        return np.tile(features, (1, -(-width // frames)))[:, :width]
    start = int(rng.integers(frames - width + 1))
    return features[:, start : start + width]


def _augment(x: torch.Tensor, rng) -> torch.Tensor:
    """Random gain (+-6 dB) and one frequency and one time mask per patch."""
    batch, mels, frames = x.shape
    x = x + torch.from_numpy(rng.uniform(-6, 6, (batch, 1, 1)).astype(np.float32))
    floor = x.amin(dim=(1, 2), keepdim=True)
    for i in range(batch):
        f0, f = int(rng.integers(mels)), int(rng.integers(mels // 8 + 1))
        t0, t = int(rng.integers(frames)), int(rng.integers(frames // 8 + 1))
        x[i, f0 : f0 + f, :] = floor[i]
        x[i, :, t0 : t0 + t] = floor[i]
    return x


@torch.inference_mode()
def predict(
    model: GenreCNN, features: list[np.ndarray], width: int, max_patches: int
) -> np.ndarray:
    """Track probabilities (tracks, genres): mean over evenly spaced patches of each track."""
    model.eval()
    out = []
    for values in features:
        patches = torch.from_numpy(_even_patches(values, width, max_patches).astype(np.float32))
        out.append(torch.sigmoid(model(patches)[0]).mean(dim=0).numpy())
    return np.stack(out) if out else np.zeros((0, len(model.config.genres)), np.float32)


def _even_patches(values: np.ndarray, width: int, max_patches: int) -> np.ndarray:
    frames = values.shape[1]
    if frames < width:
        return np.tile(values, (1, -(-width // frames)))[None, :, :width]
    count = min(max_patches, frames // width)
    starts = np.linspace(0, frames - width, count).astype(int)
    return np.stack([values[:, s : s + width] for s in starts])
