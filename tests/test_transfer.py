"""Genre heads on the pretrained musicnn: training, saving, tagging, indexing, searching tags."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import torch
from serve_helpers import served

from cuefinder import audio
from cuefinder.catalog import Catalog
from cuefinder.datasets import games
from cuefinder.evaluate import cross_validation
from cuefinder.evaluate.cross_validation import METHODS
from cuefinder.features import MUSICNN_FEATURES, FeatureConfig, log_mel
from cuefinder.model import build, checkpoint, features_for, musicnn
from cuefinder.model.tagger import Tagger
from cuefinder.model.transfer import musicnn_config
from cuefinder.pipeline.local import index
from cuefinder.train import dataset
from cuefinder.train.trainer import TRAINABLE, TrainConfig, fit, model_config, predict

pytestmark = pytest.mark.slow  # not in `make test-fast`

PACKAGES = ("funnyboat", "scorched3d-data", "xblast-tnt-musics", "abe-data")
TINY = TrainConfig(epochs=2, steps_per_epoch=2, batch_size=4, eval_patches=2, patience=5)


@pytest.fixture(scope="module")
def labelled(music_root, tmp_path_factory) -> dataset.LabelledSet:
    folder = tmp_path_factory.mktemp("transfer")
    manifest = folder / "manifest.csv"
    games.write_manifest(games.game_tracks(PACKAGES, music_root.parent), manifest)
    data, skipped = dataset.load(manifest, MUSICNN_FEATURES, max_seconds=30,
                                 cache_dir=folder / "features", progress=False)  # fmt: skip
    assert not skipped
    return data


@pytest.fixture(scope="module")
def frozen(labelled, tmp_path_factory):
    """A frozen-backbone transfer model trained for a few steps, saved and its path."""
    config = model_config(labelled.genres, "musicnn-frozen", TINY)
    model, history = fit(labelled, labelled, config, TINY, progress=False)
    assert model.mode == "head" and history
    path = tmp_path_factory.mktemp("frozen") / "transfer.safetensors"
    checkpoint.save(path, model, MUSICNN_FEATURES, {"history": history})
    return model, path


def test_the_musicnn_front_end_is_a_setting_of_the_shared_one(funnyboat):
    samples = np.concatenate(list(audio.stream(funnyboat, sample_rate=16000)))[: 16000 * 10]
    ours = log_mel(samples, MUSICNN_FEATURES).numpy().T  # (frames, mels), uncentred frames
    reference = musicnn.musicnn_features(samples)  # musicnn's extractor: centred frames
    # frame i here is centred frame i + 1 there (n_fft / 2 = one hop of padding)
    n = len(ours)
    np.testing.assert_allclose(ours, reference[1 : 1 + n], atol=2e-2)  # its float16 rounding
    assert "scale" not in FeatureConfig().to_dict()  # old settings (and cache keys) unchanged
    assert MUSICNN_FEATURES.to_dict()["scale"] == "log1p"
    assert features_for(musicnn_config(("A", "B"), train="head")) == MUSICNN_FEATURES


def test_the_command_line_offers_every_trainable_architecture():
    from cuefinder.cli import _parser

    commands = _parser()._subparsers._group_actions[0].choices
    train = next(a for a in commands["train"]._actions if a.dest == "architectures")
    methods = next(a for a in commands["evaluate"]._actions if a.dest == "methods")
    assert tuple(train.choices) == TRAINABLE
    assert sorted(methods.choices) == sorted(METHODS)


def test_a_frozen_backbone_keeps_its_pretrained_weights(labelled, frozen):
    model, _ = frozen
    pretrained = musicnn.load("MSD_musicnn").state_dict()
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, pretrained[key]), key
    fresh = build(model.config)  # the head starts elsewhere: it learnt
    assert not torch.equal(fresh.head.weight, model.head.weight)


def test_tuning_the_top_moves_only_the_dense_layers(labelled):
    config = model_config(labelled.genres, "musicnn-top", TINY)
    model, history = fit(labelled, labelled, config, TINY, progress=False)
    assert len(history) >= 1 and all(np.isfinite(h["loss"]) for h in history)
    pretrained = musicnn.load("MSD_musicnn").state_dict()
    for key, value in model.backbone.state_dict().items():
        moved = not torch.equal(value, pretrained[key])
        assert moved == (key in ("dense.weight", "dense.bias", "dense_norm.weight",
                                 "dense_norm.bias")), key  # fmt: skip


def test_pooled_predictions_equal_full_passes(labelled, frozen):
    from cuefinder.features import even_patches
    from cuefinder.train import heads

    model, _ = frozen
    fast = predict(model, labelled.features[:3], 187, 4)
    with torch.inference_mode():
        slow = np.stack([
            torch.sigmoid(model(torch.from_numpy(even_patches(v, 187, 4).astype(np.float32)))[0])
            .mean(dim=0).numpy()
            for v in labelled.features[:3]
        ])  # fmt: skip
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    assert len(heads.pooled(model, labelled.features[:1], 4)[0]) <= 4


def test_fine_tuning_moves_the_backbone_but_not_its_batch_norm_statistics(labelled):
    config = model_config(labelled.genres, "musicnn-full", TINY)
    model, history = fit(labelled, labelled, config, TINY, progress=False)
    assert all(np.isfinite(h["loss"]) for h in history)
    pretrained = musicnn.load("MSD_musicnn").state_dict()
    state = model.backbone.state_dict()
    assert not torch.equal(state["dense.weight"], pretrained["dense.weight"])
    for key in (k for k in state if k.endswith("running_mean")):
        assert torch.equal(state[key], pretrained[key]), key


def test_a_saved_transfer_model_tags_genres_and_musicnn_tags(frozen, funnyboat):
    model, path = frozen
    info = checkpoint.read_info(path)
    assert info.features == MUSICNN_FEATURES and info.tags == musicnn.TAGS["MSD_musicnn"]
    tagger = Tagger.load(path)
    tagged = tagger.tag_stream(audio.stream(funnyboat, sample_rate=16000))
    assert tagged.tag_scores.shape == (50,) and tagged.embedding.shape == (200,)
    assert tagged.segment_embeddings.shape[1] == 200
    # the tags are the pretrained network's own on the same patches
    samples = np.concatenate(list(audio.stream(funnyboat, sample_rate=16000)))
    patches = log_mel(samples, MUSICNN_FEATURES).T.unfold(0, 187, 187).permute(0, 2, 1)
    with torch.inference_mode():
        reference, _ = musicnn.load("MSD_musicnn")(patches)
    np.testing.assert_allclose(tagged.tag_scores, reference.mean(dim=0).numpy(), atol=1e-4)


def test_indexing_with_a_transfer_model_stores_and_searches_tags(frozen, short_tracks, tmp_path,
                                                                  copy_of):  # fmt: skip
    from cuefinder.find.rank import search

    _, path = frozen
    copy_of(tmp_path / "lib", *short_tracks)
    catalog = Catalog(tmp_path / "c.db")
    report = index([tmp_path / "lib"], catalog, model=path, progress=False)
    assert report.indexed == len(short_tracks) and not report.failed
    model = catalog.active_model()
    assert model.tags == musicnn.TAGS["MSD_musicnn"] and model.embedding_dim == 200
    for track in catalog.tracks():
        profile = track.tag_profile()
        assert len(profile) == 50 and all(0 <= v <= 1 for v in profile.values())
    hits = search("#sad -rock", catalog, limit=3)
    assert hits and set(hits[0].genres) == {"sad", "rock"}
    catalog.close()
    # the HTTP API takes the same tag terms and shows each track's tags
    with served(tmp_path / "c.db", log=tmp_path / "serve.log") as url:
        answer = httpx.get(url + "/api/search", params={"q": "#sad -rock", "limit": 3}).json()
        assert [r["path"] for r in answer["results"]] == [h.path for h in hits]
        assert set(answer["results"][0]["genres"]) == {"sad", "rock"}
        detail = httpx.get(url + f"/api/tracks/{hits[0].id}").json()
        assert len(detail["tags"]) == 50


def test_cross_validation_sets_pretrained_heads_beside_the_scratch_cnn(labelled, music_root,
                                                                       tmp_path):  # fmt: skip
    from cuefinder.evaluate.report import write_report
    from cuefinder.features import FeatureConfig

    manifest = tmp_path / "manifest.csv"
    games.write_manifest(games.game_tracks(PACKAGES, music_root.parent), manifest)
    scratch, _ = dataset.load(manifest, FeatureConfig(), max_seconds=30,
                              cache_dir=tmp_path / "f", progress=False)  # fmt: skip
    recipe = TrainConfig(epochs=2, steps_per_epoch=2, batch_size=4, eval_patches=2,
                         channels=(4, 8, 8, 16))  # fmt: skip
    with pytest.raises(ValueError, match="musicnn_data"):
        cross_validation.cross_validate(scratch, ["musicnn-frozen"], progress=False)
    result = cross_validation.cross_validate(
        scratch, ["mfcc-logreg", "cnn", "musicnn-frozen", "musicnn-top"], scheme="logo",
        train_config=recipe, progress=False, musicnn_data=labelled,
    )  # fmt: skip
    assert list(result.methods) == ["mfcc-logreg", "cnn", "musicnn-frozen", "musicnn-top"]
    for name in ("musicnn-frozen", "musicnn-top"):
        scores = result.methods[name].scores
        assert scores.shape == (len(scratch), len(scratch.genres)) and np.isfinite(scores).all()
        assert [t["fold"] for t in result.methods[name].training] == [0, 1, 2, 3]
    text = write_report(result, tmp_path / "report").read_text()
    assert "**musicnn-frozen** vs **cnn**" in text or "**musicnn-top** vs **cnn**" in text
