"""Train genre taggers from a labelled manifest; evaluate on held-out groups; write the model.

Recipe: cached log-mel features; random patches drawn group-balanced (pick a
group, then a track, then an offset); gain and SpecAugment-style masking; BCE
with label smoothing and a capped positive weight for rare genres; AdamW with a
one-cycle schedule; the epoch with the best validation macro ROC-AUC is kept.
Validation and test groups are disjoint from training groups
(``splits.split_groups``). ``members > 1`` trains that many networks (seeds
``seed, seed+1, ...``, architectures cycling through ``architectures``) and
saves them as one ensemble.

Training can resume: after each epoch the full state (weights, optimiser,
schedule, random generators, best weights so far, history) goes to a
safetensors file in ``checkpoint_dir``; a resumed run continues exactly where
the interrupted one stopped.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import torch

from cuefinder.descriptors import SOUND_DIM
from cuefinder.errors import DatasetError
from cuefinder.features import even_patches
from cuefinder.model import build, checkpoint, features_for
from cuefinder.model.config import MUSICNN_MODES, NETWORKS, POOLED_MODES, TRAINABLE, ModelConfig
from cuefinder.train import dataset, scoring, state
from cuefinder.train.config import DEFAULT_TRAIN, TrainConfig
from cuefinder.train.dataset import LabelledSet
from cuefinder.train.loop import run_epochs, setup, smoothed
from cuefinder.train.splits import split_groups

__all__ = ["TRAINABLE", "TrainConfig", "embed", "fit", "fit_ensemble", "predict", "train"]


def train(
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    config: TrainConfig = DEFAULT_TRAIN,
    *,
    cache_dir: Path | None = None,
    checkpoint_dir: Path | None = None,
    progress: bool = True,
) -> str:
    """Train, evaluate on held-out groups, save the model; returns a summary line."""
    started = time.monotonic()
    if config.threads:
        torch.set_num_threads(config.threads)
    feature_config = features_for(member_configs(("genre",), config)[0])
    data, skipped = dataset.load(
        manifest, feature_config, max_seconds=config.max_seconds, cache_dir=cache_dir,
        progress=progress,
    )  # fmt: skip
    sets, groups = holdout(data, config)
    model = fit_ensemble(sets["train"], sets["val"], config, progress, checkpoint_dir)
    width = model.config.patch_frames
    evaluation = None
    if len(sets["test"]):
        test_scores = predict(model, sets["test"].features, width, config.eval_patches)
        evaluation = scoring.evaluate(
            sets["test"].labels, test_scores, data.genres, sets["test"].groups
        )
    seen = data.select(groups["train"] + groups["val"])
    sounds = sound_embeddings(seen, cache_dir) if config.heard or config.likeness else None
    heard, heard_record = fit_heard(seen, sounds, config) if config.heard else (None, None)
    likeness = fit_likeness(model, seen, sounds, config) if config.likeness else (None, None)
    record = {
        "manifest": str(Path(manifest).name),
        "config": asdict(config),
        "groups": groups,
        "genre_groups": genre_group_counts(seen),
        "tracks": {k: len(v) for k, v in sets.items()},
        "skipped": skipped,
        "history": model.history,
        "test": evaluation,
        "train_seconds": round(time.monotonic() - started, 1),
    }
    if heard_record:
        record["heard"] = heard_record
    if likeness[1]:
        record["likeness"] = likeness[1]
    checkpoint.save(out, model, feature_config, record, heard=heard, likeness=likeness[0])
    Path(out).with_suffix(".report.json").write_text(json.dumps(record, indent=2))
    seconds = f"({record['train_seconds']:.0f} s)"
    if evaluation is None:
        return (
            f"wrote {out}: trained on all {len(seen.group_genres())} groups "
            f"({len(groups['val'])} of them for early stopping); no test groups {seconds}"
        )
    return (
        f"wrote {out}: test macro ROC-AUC {evaluation['macro']['roc_auc']:.3f}, "
        f"PR-AUC {evaluation['macro']['pr_auc']:.3f} on {len(groups['test'])} held-out groups "
        f"{seconds}"
    )


def sound_embeddings(data: LabelledSet, cache_dir: Path | None = None) -> np.ndarray:
    """(tracks, SOUND_DIM): each track's sound embedding as a catalog stores it
    (``featcache.sounds``, read once for all that learns from it); NaN rows for a track
    without a whole 3 s excerpt."""
    from cuefinder.train import featcache

    return np.stack([featcache.sounds(p, cache_dir)[-SOUND_DIM:] for p in data.paths])


def fit_heard(data: LabelledSet, sounds: np.ndarray, config: TrainConfig):
    """Genre regressions on the sound embeddings (``sound_embeddings`` of ``data``) of
    every given track (``model/heard.py``), their strength chosen by an inner grouped
    split; (Heard, what the record keeps)."""
    from cuefinder.model.heard import Heard
    from cuefinder.train import logreg

    keep = np.isfinite(sounds).all(axis=1)  # a track without a whole 3 s excerpt has none
    groups = [g for g, k in zip(data.groups, keep, strict=True) if k]
    fitted = logreg.fit(sounds[keep], data.labels[keep], groups, config.seed)
    return Heard.from_fitted(fitted), {"c": fitted.c, "tracks": int(keep.sum())}


def fit_likeness(model, data: LabelledSet, sounds: np.ndarray, config: TrainConfig):
    """The "sounds like" projection (``model/likeness.py``) from every given track's
    embedding by the trained network and sound embedding (``sound_embeddings`` of
    ``data``), and their games; (Likeness, what the record keeps)."""
    from cuefinder.model import likeness

    embeddings = embed(model, data.features, config.eval_patches)
    return likeness.fit(embeddings, np.nan_to_num(sounds), data.groups)  # none: zeros


def genre_group_counts(data: LabelledSet) -> dict[str, int]:
    """Genre -> how many groups (games, films) hold it: the evidence behind each genre."""
    counts = dict.fromkeys(data.genres, 0)
    for genres in data.group_genres().values():
        for genre in genres:
            counts[genre] += 1
    return counts


def holdout(data: LabelledSet, config: TrainConfig) -> tuple[dict, dict]:
    """Train/val/test sets split by group, and the group names of each side."""
    group_genres = data.group_genres()
    if len(group_genres) < 3:
        raise DatasetError(f"need at least 3 groups to train and test, got {len(group_genres)}")
    sizes = {g: data.groups.count(g) for g in group_genres}  # hold out a share of tracks
    if config.test_fraction == 0:  # train on every group: no test set
        rest, test = sorted(group_genres), []
    else:
        rest, test = split_groups(group_genres, config.test_fraction, config.seed, sizes)
    train_groups, val = split_groups(
        {k: group_genres[k] for k in rest}, config.val_fraction, config.seed + 1, sizes
    )
    groups = {"train": train_groups, "val": val, "test": test}
    return {k: data.select(v) for k, v in groups.items()}, groups


def member_configs(genres: tuple[str, ...], config: TrainConfig) -> list[ModelConfig]:
    """One ModelConfig per ensemble member, architectures cycling."""
    archs = config.architectures
    return [model_config(genres, archs[i % len(archs)], config) for i in range(config.members)]


def model_config(genres: tuple[str, ...], architecture: str, config: TrainConfig) -> ModelConfig:
    """The network a recipe's architecture name means: cnn, resnet, or a genre head on the
    pretrained musicnn whose backbone is fixed (musicnn-frozen), tuned in its dense top
    (musicnn-top) or tuned throughout (musicnn-full)."""
    if architecture in MUSICNN_MODES:
        from cuefinder.model.transfer import musicnn_config

        return musicnn_config(genres, train=MUSICNN_MODES[architecture])
    if architecture not in NETWORKS:
        raise DatasetError(
            f"unknown architecture {architecture!r}; choose from {', '.join(TRAINABLE)}"
        )
    return ModelConfig(
        genres=genres, architecture=architecture, channels=config.channels,
        input_norm=config.input_norm if architecture == "cnn" else "batch",
        similarity_dim=config.similarity_dim if config.contrastive and architecture == "cnn"
        else 0,
        pooling="top" if config.bag > 1 else "mean",
    )  # fmt: skip


def fit_ensemble(train_set, val_set, config: TrainConfig, progress: bool = True,
                 checkpoint_dir: Path | None = None):  # fmt: skip
    """Train every member; one member is returned as itself, several as an Ensemble."""
    members, histories = [], []
    for i, model_config in enumerate(member_configs(train_set.genres, config)):
        member_seed = config.seed + i
        resume = Path(checkpoint_dir) / f"member{i}.state.safetensors" if checkpoint_dir else None
        model, history = fit(train_set, val_set, model_config, config, progress=progress,
                             seed=member_seed, state_path=resume)  # fmt: skip
        members.append(model)
        histories.append(history)
    if len(members) == 1:
        members[0].history = histories[0]
        return members[0]
    ensemble_config = ModelConfig(
        genres=train_set.genres, architecture="ensemble",
        members=tuple(m.config for m in members),
    )  # fmt: skip
    ensemble = build(ensemble_config)
    for target, member in zip(ensemble.members, members):
        target.load_state_dict(member.state_dict())
    ensemble.history = [h[-1] | {"member": i} for i, h in enumerate(histories)]
    ensemble.member_histories = histories
    return ensemble.eval()


def fit(
    train_set: LabelledSet,
    val_set: LabelledSet,
    model_config: ModelConfig,
    config: TrainConfig,
    *,
    progress: bool = True,
    seed: int | None = None,
    state_path: Path | None = None,
    stop_after: int | None = None,
):
    """Train one network; returns (model with the best validation epoch's weights, history).

    ``state_path``: resume from it when it exists, and save there after each epoch.
    ``stop_after``: stop after this many epochs in this call (to test resuming).
    """
    seed = config.seed if seed is None else seed
    if model_config.extra.get("train") in POOLED_MODES:  # from pooled features
        from cuefinder.train import heads

        return heads.fit(train_set, val_set, model_config, config, progress=progress, seed=seed)
    loss_fn, by_group, rng = setup(train_set, config, seed)
    model = build(model_config, pretrained=True)
    groups = (
        model.parameter_groups(config.learning_rate)
        if hasattr(model, "parameter_groups")
        else [{"params": list(model.parameters()), "lr": config.learning_rate}]
    )
    optimiser = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    total = config.epochs * config.steps_per_epoch
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, [g["lr"] for g in groups], total_steps=total
    )
    resumed, save = None, None
    if state_path is not None:
        if Path(state_path).exists():
            resumed = state.load(state_path, model, optimiser, schedule, rng)
        save = partial(_save_state, state_path, model, optimiser, schedule, rng)

    def batch_loss() -> torch.Tensor:
        return _batch_loss(model, loss_fn, train_set, by_group, config, rng)

    def validate() -> float:
        scores = predict(model, val_set.features, model_config.patch_frames, config.eval_patches)
        return scoring.macro_roc_auc(val_set.labels, scores)

    run = run_epochs(
        model,
        batch_loss,
        validate,
        optimiser,
        config,
        steps_per_epoch=config.steps_per_epoch,
        schedule=schedule,
        run=resumed,
        after_epoch=save,
        stop_after=stop_after,
        desc=f"train {model_config.architecture}",
        progress=progress,
    )
    if config.timbre and model_config.architecture == "cnn":
        from cuefinder.model.timbre import attach

        model = attach(model, train_set.features)
    return model.eval(), run.history


def _save_state(path, model, optimiser, schedule, rng, run: state.RunState) -> None:
    state.save(path, run, model, optimiser, schedule, rng)


def _batch_loss(model, loss_fn, data: LabelledSet, by_group, config: TrainConfig, rng):
    """One training batch's loss: group-balanced patches, augmented, with label smoothing,
    mixup, multiple-instance bags and the contrastive term as the recipe asks."""
    contrastive = config.contrastive > 0 and model.config.similarity_dim > 0
    decibels = model.config.architecture != "musicnn"
    width = model.config.patch_frames
    x, y = _batch(data, by_group, width, config, rng, decibels=decibels, pairs=contrastive)
    y = smoothed(y, config.label_smoothing)
    if config.mixup > 0:
        x, y = _mixup(x, y, data, by_group, config.mixup, rng)
    logits, embedding = model(x)
    if config.bag > 1:  # rows are bags of `bag` patches of one track
        logits, y = _pool_bags(logits, config.bag), y[:: config.bag]
    loss = loss_fn(logits, y)
    if contrastive:
        loss = loss + config.contrastive * nt_xent(embedding, config.temperature)
    return loss


def _batch(data: LabelledSet, by_group, width: int, config: TrainConfig, rng, decibels=True,
           pairs: bool = False):  # fmt: skip
    """A group-balanced batch of random patches with augmentation: (x, y).

    ``pairs``: half as many tracks, two independent patches of each; rows ``i`` and
    ``i + batch // 2`` then come from the same track (the contrastive loss's pairs).
    """
    bag = config.bag if config.bag > 1 else 1
    count = config.batch_size // 2 if pairs else config.batch_size // bag
    tracks = _sample_tracks(by_group, count, rng)
    if pairs:
        tracks = np.concatenate([tracks, tracks])
    tracks = np.repeat(tracks, bag)  # a bag's patches are consecutive rows
    patches = [_random_patch(data.features[t], width, rng) for t in tracks]
    labels = data.labels[tracks]
    x = torch.from_numpy(np.stack(patches).astype(np.float32))  # (batch, mels, frames)
    return _augment(x, rng, 1.0 if decibels else 0.1), torch.from_numpy(labels)


def _pool_bags(logits: torch.Tensor, bag: int) -> torch.Tensor:
    """(tracks * bag, genres) patch logits -> (tracks, genres): each genre's top quarter."""
    from cuefinder.model.config import top_count

    grouped = logits.reshape(-1, bag, logits.shape[1])
    return grouped.topk(top_count(bag), dim=1).values.mean(dim=1)


def _sample_tracks(by_group, count: int, rng) -> np.ndarray:
    """Track indices: pick a group uniformly, then a track of it."""
    out = np.empty(count, np.int64)
    for i in range(count):
        members = by_group[rng.integers(len(by_group))]
        out[i] = members[rng.integers(len(members))]
    return out


def _mixup(x, y, data: LabelledSet, by_group, alpha: float, rng):
    """Each patch mixed with a patch of a group-balanced random track, most often of another
    game (dB values and labels mixed with the same Beta(alpha, alpha) weight, the larger
    weight on the original)."""
    partners = _sample_tracks(by_group, len(x), rng)
    other = np.stack([_random_patch(data.features[t], x.shape[2], rng) for t in partners])
    lam = rng.beta(alpha, alpha, (len(x), 1)).astype(np.float32)
    lam = np.maximum(lam, 1 - lam)
    other_y = torch.from_numpy(data.labels[partners])
    weight = torch.from_numpy(lam)
    mixed = weight[:, :, None] * x + (1 - weight[:, :, None]) * torch.from_numpy(
        other.astype(np.float32)
    )
    return mixed, weight * y + (1 - weight) * other_y


def nt_xent(embedding: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (SimCLR) loss of a batch whose rows i and i + n/2 are two views of one track."""
    z = torch.nn.functional.normalize(embedding, dim=1)
    n = len(z) // 2
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return torch.nn.functional.cross_entropy(similarity, target)


def _random_patch(features: np.ndarray, width: int, rng) -> np.ndarray:
    frames = features.shape[1]
    if frames < width:
        return np.tile(features, (1, -(-width // frames)))[:, :width]
    start = int(rng.integers(frames - width + 1))
    return features[:, start : start + width]


def _augment(x: torch.Tensor, rng, per_db: float = 1.0) -> torch.Tensor:
    """Random gain (+-6 dB) and one frequency and one time mask per patch.

    ``per_db``: feature units per decibel (1 for dB features; 0.1 for musicnn's
    log10 compression, where a gain is close to an offset wherever there is sound).
    """
    batch, mels, frames = x.shape
    gain = rng.uniform(-6, 6, (batch, 1, 1)) * per_db
    x = x + torch.from_numpy(gain.astype(np.float32))
    floor = x.amin(dim=(1, 2), keepdim=True)
    for i in range(batch):
        f0, f = int(rng.integers(mels)), int(rng.integers(mels // 8 + 1))
        t0, t = int(rng.integers(frames)), int(rng.integers(frames // 8 + 1))
        x[i, f0 : f0 + f, :] = floor[i]
        x[i, :, t0 : t0 + t] = floor[i]
    return x


@torch.inference_mode()
def predict(model, features: list[np.ndarray], width: int, max_patches: int) -> np.ndarray:
    """Track probabilities (tracks, genres): evenly spaced patches of each track, pooled as
    the model pools segments (``ModelConfig.pooling``)."""
    if getattr(model, "mode", None) in POOLED_MODES:  # pretrained convolutions: reuse
        from cuefinder.train import heads

        return heads.predict_pooled(model, heads.pooled(model, features, max_patches))
    from cuefinder.model.config import pool_segments

    model.eval()
    out = []
    for values in features:
        patches = torch.from_numpy(even_patches(values, width, max_patches).astype(np.float32))
        probs = torch.sigmoid(model(patches)[0]).numpy()
        out.append(pool_segments(probs, model.config.pooling))
    return np.stack(out) if out else np.zeros((0, len(model.config.genres)), np.float32)


@torch.inference_mode()
def embed(model, features: list[np.ndarray], max_patches: int) -> np.ndarray:
    """(tracks, dim) track embeddings as a catalog stores them: the mean of the unit-length
    embeddings of evenly spaced patches, scaled to unit length."""
    model.eval()
    rows = []
    for values in features:
        x = even_patches(values, model.config.patch_frames, max_patches).astype(np.float32)
        vectors = torch.nn.functional.normalize(model(torch.from_numpy(x))[1], dim=1)
        rows.append(torch.nn.functional.normalize(vectors.mean(dim=0), dim=0).numpy())
    return np.stack(rows)
