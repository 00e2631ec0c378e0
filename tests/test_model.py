"""Model files: safetensors round trip, the built-in model, and bad model files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cuefinder.errors import ModelFileError
from cuefinder.features import FeatureConfig
from cuefinder.model import checkpoint
from cuefinder.model.cnn import GenreCNN
from cuefinder.model.config import ModelConfig
from cuefinder.model.tagger import Tagger


def test_save_load_round_trip_keeps_weights_configs_and_labels(tmp_path):
    torch.manual_seed(1)
    config = ModelConfig(
        genres=("Horror", "Romance", "Sci-Fi"), channels=(8, 16, 16, 32), embedding_dim=32
    )
    model = GenreCNN(config).eval()
    features = FeatureConfig(n_mels=96, hop_length=256)
    path = tmp_path / "m.safetensors"
    checkpoint.save(path, model, features, {"note": "round trip"})
    loaded, info = checkpoint.load(path)
    assert info.config == config and info.features == features
    assert info.training == {"note": "round trip"} and info.genres == config.genres
    x = torch.randn(3, 96, 96)
    assert torch.allclose(model(x)[0], loaded(x)[0]) and torch.allclose(model(x)[1], loaded(x)[1])
    assert path.read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle
    assert checkpoint.read_info(path).model_id == info.model_id


def test_builtin_model_is_a_complete_cuefinder_model():
    info = checkpoint.read_info(checkpoint.DEFAULT_MODEL)
    assert checkpoint.DEFAULT_MODEL.stat().st_size < 25 * 2**20
    assert {"Action", "Comedy", "Horror", "Romance", "Sci-Fi", "Drama"} <= set(info.genres)
    # trained on every game (a validation split aside); the estimate for unseen music is the
    # cross-validated one attached from the evaluation next to it
    groups = info.training["groups"]
    assert set(groups["val"]).isdisjoint(groups["train"]) and len(groups["train"]) > 60
    estimate = info.training["cross_validation"]["estimate"]
    assert estimate["groups"] == len(groups["train"]) + len(groups["val"]) + len(groups["test"])
    assert estimate["macro"]["roc_auc"] > 0.5
    assert set(info.training["genre_groups"]) == set(info.genres)
    # its track scores are averaged with regressions on the sound embedding, fitted on
    # every labelled track
    assert info.heard and info.training["heard"]["tracks"] == sum(info.training["tracks"].values())
    assert checkpoint.load_heard(info).weight.shape == (len(info.genres), 200)
    tagger = Tagger.load()
    silence_then_tone = np.zeros(16000 * 8, np.float32)
    silence_then_tone[16000:] = 0.3 * np.sin(np.arange(16000 * 7) * 2 * np.pi * 440 / 16000)
    tagged = tagger.tag_stream([silence_then_tone])
    assert tagged.segment_scores.shape == (2, len(info.genres))
    assert np.all((tagged.segment_scores >= 0) & (tagged.segment_scores <= 1))
    assert abs(float(np.linalg.norm(tagged.embedding)) - 1) < 1e-5


def test_a_clip_shorter_than_a_patch_is_looped_into_one_segment():
    tagger = Tagger.load()
    tagged = tagger.tag_stream([0.1 * np.random.default_rng(0).standard_normal(24000)])
    assert tagged.segment_scores.shape[0] == 1 and abs(tagged.duration - 1.5) < 1e-6


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a safetensors"),
        (b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all", "corrupt"),
    ],
)
def test_bad_model_files_are_refused_by_name(tmp_path, content, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        checkpoint.read_info(path)


def test_a_safetensors_file_without_cuefinder_metadata_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ModelFileError, match="not a cuefinder model"):
        checkpoint.load(path)
    header = json.loads(path.read_bytes()[8 : 8 + int.from_bytes(path.read_bytes()[:8], "little")])
    assert "__metadata__" not in header or "format" not in header["__metadata__"]


def test_the_committed_model_card_is_what_the_model_file_says():
    from cuefinder.evaluate.card import render

    card = checkpoint.DEFAULT_MODEL.with_name("MODEL_CARD.md").read_text()
    assert render(checkpoint.DEFAULT_MODEL) + "\n" == card  # `cuefinder card` prints it
    info = checkpoint.read_info(checkpoint.DEFAULT_MODEL)
    estimate = info.training["cross_validation"]["estimate"]
    # the estimate: ranked within one model (as a catalog is), pooled over folds beside it
    assert f"**{estimate['within'][0]:.3f}**" in card and "cuefinder train" in card
    assert (
        f"Pooled over the folds instead (every fold's scores in one ranking, which mixes "
        f"the folds' models and their scales): {estimate['macro']['roc_auc']:.3f}" in card
    )
    assert f"**{estimate['similarity']['p10']:.3f}**" in card
    # the cross-validated comparison comes from the reports committed next to the model:
    # the shipped recipe's (its estimate, and two more fold draws), then the levers' (same
    # folds)
    assert estimate["method"] == "default+heard-logreg"
    draws = {d["scheme"]: d for d in estimate["draws"]}
    for name, scheme in (("fused-5fold", "grouped 5-fold"), ("fused-3fold", "grouped 3-fold")):
        saved = json.loads(
            (checkpoint.DEFAULT_MODEL.parent / "evaluation" / name / "evaluation.json").read_text()
        )
        summary = saved["summary"]["default+heard-logreg"]
        assert draws[scheme]["roc_auc"] == summary["roc_auc"]
        assert draws[scheme]["within"] == summary["within_roc_auc"]
        assert f"{scheme} {summary['within_roc_auc']:.3f}" in card
        assert f"(pooled {summary['roc_auc']:.3f};" in card
    cv = info.training["cross_validation"]
    folder = checkpoint.DEFAULT_MODEL.parent / "evaluation"
    reports = {
        folder / "fused" / "report.md": ("mfcc-logreg", "default", "default+heard-logreg"),
        folder / "report.md": ("default+mfcc-logreg",),
        folder / "levers" / "report.md": ("base", "level", "level-contrastive", "level-bag"),
    }
    for report, names in reports.items():
        saved = json.loads(report.with_name("evaluation.json").read_text())
        for name in names:
            assert cv["sources"][name] == str(report.relative_to(folder.parents[2]))
            assert cv["summary"][name] == saved["summary"][name]
            row = saved["summary"][name]
            assert f"| {name} | {row['within_roc_auc']:.3f} | {row['roc_auc']:.3f} |" in card


def test_annotating_a_model_keeps_its_weights_and_id(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(checkpoint.DEFAULT_MODEL.read_bytes())
    before = checkpoint.read_info(path)
    checkpoint.annotate(path, cross_validation={"scheme": "grouped 4-fold", "summary": {}})
    after = checkpoint.read_info(path)
    assert after.model_id == before.model_id and after.config == before.config
    assert after.training == before.training | {
        "cross_validation": {"scheme": "grouped 4-fold", "summary": {}}
    }
    x = torch.randn(2, 96, 96)
    assert torch.equal(checkpoint.load(path)[0](x)[0], checkpoint.load()[0](x)[0])


def test_a_model_whose_network_and_front_end_disagree_is_refused(tmp_path):
    from cuefinder.model import build

    model = build(ModelConfig(genres=("Action", "Drama"), channels=(4, 8, 8, 16)))
    with pytest.raises(ModelFileError, match="96 mel bands but the front end makes 64"):
        checkpoint.save(tmp_path / "m.safetensors", model, FeatureConfig(n_mels=64))
    assert not (tmp_path / "m.safetensors").exists()


def test_timbre_statistics_of_a_patch_are_the_mfcc_baselines(funnyboat):
    """One definition of the statistics: the network's (torch, per patch) gives what the
    MFCC baseline (librosa, per track) gives on the same log-mel array."""
    from cuefinder.audio import load
    from cuefinder.evaluate.baselines import track_statistics
    from cuefinder.features import log_mel
    from cuefinder.model import timbre

    config = FeatureConfig()
    samples = load(funnyboat, sample_rate=config.sample_rate, max_seconds=20)
    mel = log_mel(samples, config).numpy()
    patches = np.stack([mel[:, s : s + 96] for s in (0, 150, 300)])
    ours = timbre.statistics(torch.from_numpy(patches), timbre.dct_matrix(config.n_mels))
    reference = track_statistics(list(patches))
    assert ours.shape == (3, timbre.SIZE)
    np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-3, atol=1e-3)


def test_the_builtin_embedding_carries_standardised_timbre():
    from cuefinder.model import timbre

    model, info = checkpoint.load()
    assert info.config.timbre and info.config.output_dim == 128 + timbre.SIZE
    assert model.timbre.std.min() > 0 and not torch.all(model.timbre.mean == 0)
    x = torch.randn(4, 96, 96) * 10 - 40
    _, embedding = model(x)
    assert torch.allclose(embedding.norm(dim=1), torch.ones(4), atol=1e-5)
    # each half has length sqrt(1/2): neither drowns the other
    halves = embedding[:, :128].norm(dim=1), embedding[:, 128:].norm(dim=1)
    assert torch.allclose(halves[0], halves[1], atol=1e-5)


def test_genres_the_model_cannot_tell_apart_are_named_with_the_reason():
    info = checkpoint.read_info(checkpoint.DEFAULT_MODEL)
    estimate = info.training["cross_validation"]["estimate"]["per_genre"]
    weak = info.weak_genres
    for genre, m in estimate.items():
        expected = m["positive_groups"] < checkpoint.MIN_GROUPS or m["within"] < 0.6
        assert (genre in weak) == expected, genre
    assert weak["Romance"] == "taught by 2 games only"
    # ranked within one model, as a catalog is ranked (pooled over folds it is 0.46)
    assert weak["Mystery"].startswith("ROC-AUC 0.54 on games it never heard")
    assert weak["Animation"].startswith("ROC-AUC 0.56 on games it never heard")
