"""Training on real audio: the loss falls, resuming equals not stopping, ensembles save."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from cuefinder.datasets import games
from cuefinder.datasets.manifest import write_manifest
from cuefinder.errors import DatasetError
from cuefinder.features import FeatureConfig
from cuefinder.model import build, checkpoint
from cuefinder.model.config import ModelConfig
from cuefinder.model.tagger import Tagger
from cuefinder.train import dataset, loop, trainer

TINY = trainer.TrainConfig(
    channels=(4, 8, 8, 16), epochs=4, steps_per_epoch=3, batch_size=8, eval_patches=2,
    max_seconds=60, patience=10,
)  # fmt: skip

pytestmark = pytest.mark.slow  # not in `make test-fast`


@pytest.fixture(scope="module")
def labelled(music_root, tmp_path_factory) -> dataset.LabelledSet:
    folder = tmp_path_factory.mktemp("train")
    tracks = games.game_tracks(("funnyboat", "scorched3d-data", "xblast-tnt-musics", "abe-data"),
                               music_root.parent)  # fmt: skip
    write_manifest(tracks, folder / "manifest.csv")
    data, skipped = dataset.load(folder / "manifest.csv", FeatureConfig(), max_seconds=60,
                                 cache_dir=folder / "features", progress=False)  # fmt: skip
    assert not skipped and len(set(data.groups)) == 4
    return data


def test_a_tiny_network_learns_real_patches(labelled):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build(ModelConfig(genres=labelled.genres, channels=(4, 8, 8, 16), dropout=0.0))
    by_group = loop.index_by_group(labelled.groups)
    x, y = trainer._batch(labelled, by_group, 96, dataclasses.replace(TINY, batch_size=16), rng)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses = []
    for _ in range(15):
        loss = loss_fn(model(x)[0], y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_resuming_from_a_checkpoint_equals_an_uninterrupted_run(labelled, tmp_path):
    train_set = labelled.select(sorted(set(labelled.groups))[:3])
    val_set = labelled.select(sorted(set(labelled.groups))[3:])
    config = ModelConfig(genres=labelled.genres, channels=(4, 8, 8, 16))
    whole, history = trainer.fit(train_set, val_set, config, TINY, progress=False)
    state = tmp_path / "run.state.safetensors"
    trainer.fit(train_set, val_set, config, TINY, progress=False, state_path=state, stop_after=2)
    resumed, resumed_history = trainer.fit(train_set, val_set, config, TINY, progress=False,
                                           state_path=state)  # fmt: skip
    assert [h["epoch"] for h in resumed_history] == [1, 2, 3, 4]
    assert resumed_history == history
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_ensemble_trains_saves_and_tags(labelled, tmp_path):
    config = dataclasses.replace(TINY, epochs=1, members=2, architectures=("cnn", "resnet"))
    train_set = labelled.select(sorted(set(labelled.groups))[:3])
    val_set = labelled.select(sorted(set(labelled.groups))[3:])
    model = trainer.fit_ensemble(train_set, val_set, config, progress=False)
    assert model.config.architecture == "ensemble"
    assert [m.architecture for m in model.config.members] == ["cnn", "resnet"]
    path = tmp_path / "ensemble.safetensors"
    checkpoint.save(path, model, FeatureConfig(), {"note": "ensemble"})
    tagger = Tagger.load(path)
    features = labelled.features[0][:, :96].astype(np.float32)[None]
    with torch.inference_mode():
        expected = torch.sigmoid(model(torch.from_numpy(features))[0]).numpy()
        members = [torch.sigmoid(m(torch.from_numpy(features))[0]).numpy() for m in model.members]
    assert np.allclose(expected, np.mean(members, axis=0), atol=1e-5)
    probs, _ = tagger.tag_patches(torch.from_numpy(features))
    assert np.allclose(probs, expected, atol=1e-5)


def test_recipe_file_sets_fields_and_rejects_unknown_ones(tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('[train]\narchitectures = ["cnn", "resnet"]\nmembers = 3\nepochs = 7\n')
    config = trainer.TrainConfig.from_toml(recipe, epochs=9)
    assert (config.architectures, config.members, config.epochs) == (("cnn", "resnet"), 3, 9)
    recipe.write_text("[train]\nepohcs = 7\n")
    with pytest.raises(DatasetError, match="unknown settings \\['epohcs'\\]"):
        trainer.TrainConfig.from_toml(recipe)


def test_recipe_settings_are_checked_before_any_audio_is_read(tmp_path):
    for bad, field in [({"test_fraction": 1.5}, "test_fraction"), ({"epochs": 0}, "epochs"),
                       ({"input_norm": "loud"}, "input_norm"), ({"mixup": -1.0}, "mixup"),
                       ({"architectures": ("vgg",)}, "architectures")]:  # fmt: skip
        with pytest.raises(DatasetError, match=field):
            trainer.TrainConfig(**bad)
    import subprocess
    import sys

    missing = tmp_path / "no-such-manifest.csv"
    result = subprocess.run(
        [sys.executable, "-m", "cuefinder", "train", str(missing), "--out",
         str(tmp_path / "m.safetensors"), "--test-fraction", "1.5"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "test_fraction must be in [0, 1)" in lines[0], result.stderr


@pytest.mark.parametrize("norm", ["level", "band"])
def test_contrastive_mixup_and_patch_norms_train_save_and_tag(labelled, tmp_path, norm):
    config = dataclasses.replace(TINY, epochs=2, input_norm=norm, contrastive=0.5, mixup=0.4,
                                 similarity_dim=24)  # fmt: skip
    train_set = labelled.select(sorted(set(labelled.groups))[:3])
    val_set = labelled.select(sorted(set(labelled.groups))[3:])
    model_config = trainer.model_config(labelled.genres, "cnn", config)
    assert (model_config.input_norm, model_config.similarity_dim) == (norm, 24)
    model, history = trainer.fit(train_set, val_set, model_config, config, progress=False)
    assert len(history) == 2 and all(np.isfinite(h["loss"]) for h in history)
    path = tmp_path / "m.safetensors"
    checkpoint.save(path, model, FeatureConfig(), {"note": norm})
    tagger = Tagger.load(path)
    assert tagger.info.config.output_dim == 24
    patches = torch.from_numpy(labelled.features[0][:, :192].astype(np.float32))
    patches = torch.stack([patches[:, :96], patches[:, 96:]])
    probs, embeddings = tagger.tag_patches(patches)
    assert probs.shape == (2, len(labelled.genres)) and embeddings.shape == (2, 24)
    # a patch-normalised network hears a track the same at any playback level
    louder, _ = tagger.tag_patches(patches + 12.0)
    assert np.allclose(louder, probs, atol=1e-4)


def test_nt_xent_prefers_matching_pairs():
    torch.manual_seed(0)
    views = torch.randn(8, 16)
    paired = torch.cat([views, views + 0.01 * torch.randn(8, 16)])
    shuffled = torch.cat([views, torch.randn(8, 16)])
    assert trainer.nt_xent(paired, 0.1) < 0.1 < trainer.nt_xent(shuffled, 0.1)


def test_multiple_instance_recipe_trains_on_bags_and_pools_the_top_quarter(labelled, tmp_path):
    from cuefinder.model.config import pool_segments

    config = dataclasses.replace(TINY, epochs=2, bag=4)
    train_set = labelled.select(sorted(set(labelled.groups))[:3])
    val_set = labelled.select(sorted(set(labelled.groups))[3:])
    model_config = trainer.model_config(labelled.genres, "cnn", config)
    assert model_config.pooling == "top"
    model, history = trainer.fit(train_set, val_set, model_config, config, progress=False)
    assert len(history) == 2
    path = tmp_path / "bag.safetensors"
    checkpoint.save(path, model, FeatureConfig(), {"note": "bag"})
    tagged = Tagger.load(path).tag_stream([np.sin(np.arange(16000 * 20) * 0.05) * 0.3])
    assert np.allclose(tagged.track_scores, pool_segments(tagged.segment_scores, "top"))
    with pytest.raises(DatasetError, match="bag"):
        trainer.TrainConfig(bag=5, batch_size=48)


def test_top_pooling_rewards_a_track_that_fits_in_part():
    from cuefinder.model.config import pool_segments

    steady = np.full((8, 1), 0.3)
    assert np.allclose(pool_segments(steady, "top"), 0.3, atol=1e-5)
    assert np.allclose(pool_segments(steady, "mean"), 0.3)
    partly = np.array([[0.9], [0.9], [0.1], [0.1], [0.1], [0.1], [0.1], [0.1]])
    assert pool_segments(partly, "top")[0] == pytest.approx(0.9, abs=1e-4)
    assert pool_segments(partly, "mean")[0] == pytest.approx(0.3)
