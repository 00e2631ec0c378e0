"""Genre regressions on the sound embedding: learnt from what indexing stores, carried in
the model file, averaged into the track scores that indexing writes (real audio)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import train_tiny

from cuefinder.catalog import Catalog
from cuefinder.evaluate.cross_validation import _request
from cuefinder.model import checkpoint
from cuefinder.model.heard import Heard
from cuefinder.model.tagger import Tagger
from cuefinder.pipeline import stages
from cuefinder.pipeline.local import index
from cuefinder.train import featcache, logreg
from cuefinder.train.config import TrainConfig


def test_what_learning_reads_is_what_a_catalog_stores(five_tracks, tmp_path):
    with Catalog(five_tracks) as catalog:
        tracks = list(catalog.tracks())
    assert len(tracks) == 5
    for track in tracks:
        values = featcache.sounds(track.path, tmp_path)
        assert np.array_equal(values[-200:], track.sound_embedding), track.path
        assert np.allclose(values[:-200], track.sounds, atol=5e-5), track.path
    again = featcache.sounds(tracks[0].path, tmp_path)  # from the cache: the same values
    assert np.array_equal(again, featcache.sounds(tracks[0].path, tmp_path / "elsewhere"))


def test_regressions_in_numpy_answer_as_scikit_learn_does(five_tracks, tmp_path):
    with Catalog(five_tracks) as catalog:
        x = np.stack([t.sound_embedding for t in catalog.tracks()])
    labels = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 1], [1, 0, 1]], np.float32)
    fitted = logreg.fit(x, labels, ["a", "b", "c", "d", "e"])
    heard = Heard.from_fitted(fitted)
    assert np.allclose(heard.probabilities(x), fitted.predict(x), atol=1e-5)
    assert np.allclose(heard.probabilities(x)[:, 2], 1 - 1e-6)  # one class: its prevalence
    network = np.full(3, 0.2, np.float32)
    assert np.allclose(heard.fuse(network, x[0]), (network + heard.probabilities(x[0])) / 2)
    assert heard.fuse(network, None) is network
    assert heard.fuse(network, np.full(200, np.nan, np.float32)) is network


@pytest.fixture(scope="module")
def fused_model(music_root, tmp_path_factory):
    return train_tiny(music_root, tmp_path_factory.mktemp("heard"), heard=True)


@pytest.mark.slow
def test_a_model_carries_its_regressions_and_indexing_averages_them_in(
    fused_model, short_tracks, tmp_path
):
    path, n_tracks = fused_model
    info = checkpoint.read_info(path)
    assert info.heard and info.training["heard"]["tracks"] == n_tracks
    assert info.training["heard"]["c"] in logreg.C_GRID
    heard = checkpoint.load_heard(info)
    assert heard.weight.shape == (len(info.genres), 200)
    network = Tagger(*checkpoint.load(path))  # the same network, without its regressions
    assert network.heard is None and Tagger.load(path).heard is not None

    with Catalog(tmp_path / "fused.db") as catalog:
        index(short_tracks[:2], catalog, model=path, jobs=1, progress=False)
        stored = {t.path: t for t in catalog.tracks()}
    with Catalog(tmp_path / "plain.db") as catalog:
        index(short_tracks[:2], catalog, model=path, jobs=1, progress=False, descriptors=False)
        plain = {t.path: t for t in catalog.tracks()}
    assert len(stored) == 2
    for name, track in stored.items():
        alone = stages.analyse(stages.task_for(name), network)
        expected = (alone.track_scores + heard.probabilities(track.sound_embedding)) / 2
        assert np.allclose(track.track_scores, expected, atol=1e-6), name
        assert not np.allclose(track.track_scores, alone.track_scores, atol=1e-3), name
        assert np.allclose(track.segment_scores, alone.segment_scores, atol=1e-3), name  # f16
        # without descriptors there is no sound embedding: the network's scores alone
        assert plain[name].sound_embedding is None
        assert np.allclose(plain[name].track_scores, alone.track_scores, atol=1e-6), name


@pytest.mark.slow
def test_annotating_a_model_keeps_its_regressions(fused_model, tmp_path):
    source, _ = fused_model
    path = tmp_path / "copy.safetensors"
    path.write_bytes(source.read_bytes())
    checkpoint.annotate(path, note="estimate added")
    info = checkpoint.read_info(path)
    assert info.training["note"] == "estimate added" and info.heard
    before = checkpoint.load_heard(checkpoint.read_info(source))
    assert np.array_equal(checkpoint.load_heard(info).weight, before.weight)


def test_a_recipe_that_carries_regressions_is_scored_as_what_it_ships():
    genres = ("Action", "Comedy")
    recipes = {"shipped": TrainConfig(heard=True), "plain": TrainConfig()}
    methods, _, names, fused = _request(("random",), genres, TrainConfig(), recipes, None)
    assert methods == ("random", "heard-logreg")
    assert fused == [("shipped+heard-logreg", "shipped", "heard-logreg")]
    assert names[-1] == "shipped+heard-logreg" and "plain+heard-logreg" not in names
    # asked for already: scored once
    again = _request(
        ("random", "heard-logreg"), genres, TrainConfig(), recipes, [("shipped", "heard-logreg")]
    )
    assert again[3] == fused and again[0] == ("random", "heard-logreg")
