"""The one training loop (train/loop.py) and the recipe it reads, without audio."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from cuefinder.errors import CuefinderError, DatasetError
from cuefinder.train import loop
from cuefinder.train.config import TrainConfig


def _toy(scores: list[float], config: TrainConfig, **kwargs):
    """A one-weight model trained by the loop; validation reads ``scores`` epoch by epoch,
    and each epoch's weight is its number (so the kept weights name the kept epoch)."""
    model = torch.nn.Linear(1, 1, bias=False)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.0)
    steps, epoch = [], iter(range(1, 100))

    def batch_loss():
        steps.append(1)
        return model(torch.ones(1, 1)).sum()

    def validate():
        with torch.no_grad():
            model.weight.fill_(float(next(epoch)))
        return scores[len(steps) // kwargs["steps_per_epoch"] - 1]

    run = loop.run_epochs(model, batch_loss, validate, optimiser, config, progress=False, **kwargs)
    return model, run, steps


def test_the_loop_stops_after_patience_and_keeps_the_best_epoch():
    config = TrainConfig(epochs=10, patience=2)
    model, run, steps = _toy([0.5, 0.7, 0.6, 0.65, 0.9], config, steps_per_epoch=3)
    assert [h["epoch"] for h in run.history] == [1, 2, 3, 4]  # two epochs without a better one
    assert len(steps) == 12 and run.best == 0.7 and run.stale == 2
    assert model.weight.item() == 2.0  # epoch 2's weights
    assert [h["val_roc_auc"] for h in run.history] == [0.5, 0.7, 0.6, 0.65]


def test_the_loop_runs_its_epochs_calls_after_each_and_stops_when_told():
    seen = []
    config = TrainConfig(epochs=3, patience=5)
    _, run, steps = _toy([0.1, 0.2, 0.3], config, steps_per_epoch=2, after_epoch=seen.append)
    assert seen == [run] * 3 and len(steps) == 6 and run.best == 0.3
    _, run, _ = _toy([0.1, 0.2, 0.3], config, steps_per_epoch=2, stop_after=1)
    assert len(run.history) == 1


def test_training_helpers_weigh_rare_genres_and_index_groups():
    from cuefinder.train.dataset import LabelledSet

    labels = np.array([[1, 0], [1, 0], [1, 1], [1, 0]], np.float32)
    data = LabelledSet([np.zeros((2, 2))] * 4, labels, ["a", "b", "a", "c"], ["p"] * 4, ("X", "Y"))
    assert np.allclose(loop.pos_weight(data, 3.0).numpy(), [1.0, np.sqrt(3)])
    assert np.allclose(loop.pos_weight(data, 1.5).numpy(), [1.0, 1.5])
    assert [g.tolist() for g in loop.index_by_group(data.groups)] == [[0, 2], [1], [3]]
    loss_fn, by_group, rng = loop.setup(data, TrainConfig(pos_weight_cap=3.0), seed=7)
    assert np.allclose(loss_fn.pos_weight.numpy(), [1.0, np.sqrt(3)])
    assert [g.tolist() for g in by_group] == [[0, 2], [1], [3]]
    first = (torch.rand(3), rng.random(3))
    _, _, rng = loop.setup(data, TrainConfig(), seed=7)  # the same seed, the same draws
    assert torch.equal(torch.rand(3), first[0]) and np.array_equal(rng.random(3), first[1])


def test_heads_train_through_the_shared_loop_with_their_own_recipe_fields():
    import ast
    from pathlib import Path

    import cuefinder.train.heads as heads

    source = Path(heads.__file__).read_text()
    imported = {n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
    assert "cuefinder.train.trainer" not in imported  # no circle with the trainer
    assert "run_epochs" in source and "STEPS_PER_EPOCH" not in source
    assert TrainConfig().head_patches == heads.PATCHES_PER_TRACK


BAD_RECIPES = {
    "epochs": [{"epochs": "ten"}, {"epochs": 2.5}],
    "timbre": [{"timbre": 1}],
    "learning_rate": [{"learning_rate": "fast"}],
    "channels": [{"channels": (4, "8")}, {"channels": ()}],
    "head_steps_per_epoch": [{"head_steps_per_epoch": 0}],
    "head_patches": [{"head_patches": 0}],
    "threads": [{"threads": -1}],
}


@pytest.mark.parametrize(
    ("field", "bad"), [(field, bad) for field, cases in BAD_RECIPES.items() for bad in cases]
)
def test_a_recipe_refuses_wrong_types_and_values_naming_the_field(field, bad):
    with pytest.raises(DatasetError, match=field) as caught:
        TrainConfig(**bad)
    assert isinstance(caught.value, CuefinderError) and "training recipe" in str(caught.value)


def test_a_recipe_takes_lists_and_ints_where_it_holds_tuples_and_floats(tmp_path):
    config = TrainConfig(architectures=["cnn", "resnet"], channels=[4, 8], learning_rate=1)
    assert config.architectures == ("cnn", "resnet") and config.channels == (4, 8)
    assert dataclasses.replace(config, seed=np.int64(3)).seed == 3
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('[train]\nepochs = "ten"\n')
    with pytest.raises(DatasetError, match="epochs must be int"):
        TrainConfig.from_toml(recipe)
