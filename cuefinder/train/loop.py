"""The training loop every network and pretrained head shares: epochs of optimiser steps,
each epoch scored on validation groups, early stopping, the best epoch's weights kept.

What differs between a network on log-mel patches (``trainer.fit``) and a genre head on
pooled musicnn features (``heads.fit``) is how a batch's loss is made and how validation
tracks are scored; those come in as functions. Also here: what both set up before the
loop (``setup``) and the batch helpers both use.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from cuefinder.train import state
from cuefinder.train.config import TrainConfig
from cuefinder.train.dataset import LabelledSet


def setup(
    train_set: LabelledSet, config: TrainConfig, seed: int
) -> tuple[torch.nn.BCEWithLogitsLoss, list[np.ndarray], np.random.Generator]:
    """What a fit sets up before it builds its model: seeds torch (the model's initial
    weights), and returns the loss (BCE on logits, rare genres weighted by ``pos_weight``),
    the training tracks by group (for group-balanced batches) and the batches' generator."""
    torch.manual_seed(seed)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight(train_set, config.pos_weight_cap))
    return loss_fn, index_by_group(train_set.groups), np.random.default_rng(seed)


def run_epochs(
    model,
    batch_loss: Callable[[], torch.Tensor],
    validate: Callable[[], float],
    optimiser,
    config: TrainConfig,
    *,
    steps_per_epoch: int,
    schedule=None,
    run: state.RunState | None = None,
    after_epoch: Callable[[state.RunState], None] | None = None,
    stop_after: int | None = None,
    desc: str = "train",
    progress: bool = True,
) -> state.RunState:
    """Train until ``config.epochs`` epochs, or ``config.patience`` epochs without a better
    validation score; an epoch is ``steps_per_epoch`` steps.

    Each step: ``batch_loss()`` (a fresh batch's loss), backward, an optimiser step and a
    ``schedule`` step if given. Each epoch: ``validate()`` (higher is better: macro ROC-AUC),
    a history row, the weights kept when best, then ``after_epoch(run)`` (to save it).
    ``run``: a resumed run's state. ``stop_after``: stop after this many epochs in this call.
    Leaves the best epoch's weights in ``model``; returns the run (``run.history``).
    """
    from tqdm import tqdm

    run = run or state.RunState(history=[], best=-1.0, best_weights=None, stale=0)
    total, done = config.epochs * steps_per_epoch, len(run.history) * steps_per_epoch
    bar = tqdm(total=total, initial=done, unit="step", desc=desc, disable=not progress or None)
    done_here = 0
    while len(run.history) < config.epochs and run.stale < config.patience:
        if stop_after is not None and done_here >= stop_after:
            break
        model.train()
        losses = []
        for _ in range(steps_per_epoch):
            loss = batch_loss()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if schedule is not None:
                schedule.step()
            losses.append(loss.item())
            bar.update(1)
        loss, val = float(np.mean(losses)), validate()
        _record(run, model, loss, val)
        bar.set_postfix_str(f"loss {loss:.3f} val ROC-AUC {val:.3f}")
        done_here += 1
        if after_epoch is not None:
            after_epoch(run)
    bar.close()
    model.load_state_dict(run.best_weights)
    return run


def _record(run: state.RunState, model, loss: float, val: float) -> None:
    """An epoch's history row; its weights kept if it is the best so far, else one more stale."""
    row = {"epoch": len(run.history) + 1, "loss": round(loss, 4), "val_roc_auc": round(val, 4)}
    run.history.append(row)
    if val > run.best:
        run.best, run.stale = val, 0
        run.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        run.stale += 1


def pos_weight(data: LabelledSet, cap: float) -> torch.Tensor:
    """Rare genres weigh more: sqrt(negatives / positives), between 1 and ``cap``."""
    positives = data.labels.sum(axis=0)
    ratio = (len(data) - positives) / np.maximum(positives, 1)
    return torch.from_numpy(np.clip(np.sqrt(ratio), 1.0, cap).astype(np.float32))


def index_by_group(groups: list[str]) -> list[np.ndarray]:
    """Track indices of each group, groups in name order (for group-balanced sampling)."""
    names = sorted(set(groups))
    return [np.array([i for i, g in enumerate(groups) if g == name]) for name in names]


def smoothed(y: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Labels pulled towards 1/2 by ``label_smoothing``."""
    return y * (1 - label_smoothing) + label_smoothing / 2
