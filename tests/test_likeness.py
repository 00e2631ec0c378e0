"""The "sounds like" projection: learnt from which training tracks share a game, carried in
the model file, applied by the vector index and by queries alike (real audio)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import train_tiny

from cuefinder.catalog import Catalog
from cuefinder.catalog.vectors import VectorIndex, joined
from cuefinder.errors import ModelFileError
from cuefinder.evaluate.metrics import same_group_precision
from cuefinder.find.similar import similar
from cuefinder.model import checkpoint, likeness
from cuefinder.model.tagger import Tagger
from cuefinder.pipeline import stages
from cuefinder.pipeline.local import index


def test_directions_that_vary_within_a_game_count_less():
    # 12 games, each a point in 8 quiet directions; 4 loud directions vary within every game
    rng = np.random.default_rng(0)
    games_ = np.repeat(np.arange(12), 8)
    centres = rng.normal(0, 1.0, (12, 8))
    quiet = centres[games_] + rng.normal(0, 0.1, (len(games_), 8))
    x = np.hstack([quiet, rng.normal(0, 5.0, (len(games_), 4))])
    before = same_group_precision(x, games_, 5).mean()
    mean, projection = likeness.whitening(x, games_, shrinkage=0.0)
    centred = (x - mean) @ projection
    after = same_group_precision(centred, games_, 5).mean()
    assert before < 0.5 and after > 0.9
    # the projection whitens the spread within games: unit variance in every direction
    within = np.concatenate(
        [centred[games_ == g] - centred[games_ == g].mean(0) for g in range(12)]
    )
    assert np.allclose(np.cov(within.T, bias=True), np.eye(12), atol=1e-6)
    # the inner split of the games chooses the least shrinkage here
    assert likeness.choose_shrinkage(x, games_) == likeness.SHRINKAGE[0]


def test_a_track_without_a_sound_embedding_keeps_an_empty_sound_block():
    rng = np.random.default_rng(1)
    x, groups = rng.normal(size=(40, 200)), np.repeat(np.arange(8), 5)
    fitted, record = likeness.fit(rng.normal(size=(40, 6)), np.vstack([x[:-1], 0 * x[-1:]]), groups)
    assert record["tracks"] == 40 and record["games"] == 8
    sounds = np.vstack([x[:2], np.zeros((1, 200))])
    vectors = joined(rng.normal(size=(3, 6)), sounds, fitted)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.count_nonzero(vectors[2, 6:]) == 0 and np.count_nonzero(vectors[0, 6:]) == 200
    assert fitted.problem(6) is None and "model_mean is (6,)" in fitted.problem(7)


@pytest.fixture(scope="module")
def projected_model(music_root, tmp_path_factory):
    return train_tiny(music_root, tmp_path_factory.mktemp("likeness"), likeness=True)


@pytest.mark.slow
def test_a_model_carries_its_projection_and_the_index_applies_it(
    projected_model, short_tracks, tmp_path
):
    source, n_tracks = projected_model
    path = tmp_path / "model.safetensors"
    shutil.copy(source, path)
    info = checkpoint.read_info(path)
    assert info.likeness and not info.heard
    assert (
        info.training["likeness"]["tracks"] == n_tracks and info.training["likeness"]["games"] == 4
    )
    projection = checkpoint.load_likeness(info)
    dim = info.config.output_dim
    assert projection.model_projection.shape == (dim, dim)
    assert Tagger.load(path).model is not None  # the network loads without the extra tensors

    catalog_path = tmp_path / "catalog.db"
    with Catalog(catalog_path) as catalog:
        index(short_tracks[:3], catalog, model=path, jobs=1, progress=False)
        tracks = sorted(catalog.tracks(), key=lambda t: t.id)
        model = catalog.active_model()
        vectors = VectorIndex(catalog, model, exact_below=0)
        assert vectors.likeness is not None
        ids, stored = vectors.vectors()
        raw = [t.embedding for t in tracks], [t.sound_embedding for t in tracks]
        assert np.allclose(stored, joined(*raw, projection), atol=1e-6)
        assert not np.allclose(stored, joined(*raw), atol=1e-3)
        # taught tags learn in the joined space without it (find/teach.py)
        assert np.allclose(vectors.vectors(projected=False)[1], joined(*raw), atol=1e-6)
        assert vectors.sync().size == 3  # the HNSW index holds the projected vectors
        for track in tracks:  # each track is its own nearest, through HNSW
            found = similar(track.id, catalog=catalog, limit=1, exclude_self=False, index=vectors)
            assert found[0].id == track.id and found[0].score > 0.99

        # the model file damaged: the index is rebuilt from the plain joined vectors
        path.write_bytes(b"not a model any more")
        plain = VectorIndex(catalog, model, exact_below=0)
        assert plain.likeness is None
        assert plain.sync().rebuilt
        assert np.allclose(plain.vectors()[1], joined(*raw), atol=1e-6)
        found = similar(tracks[0].id, catalog=catalog, limit=1, exclude_self=False)
        assert found[0].id == tracks[0].id
        # then gone: still plain, nothing to rebuild
        path.unlink()
        assert VectorIndex(catalog, model).likeness is None and not plain.sync().rebuilt


@pytest.mark.slow
def test_a_projection_that_does_not_fit_refuses_the_model(projected_model, tmp_path):
    source, _ = projected_model
    network, info = checkpoint.load(source)
    good = checkpoint.load_likeness(info)
    smaller = good.model_mean[:-1], good.model_projection[:-1, :-1]
    bad = likeness.Likeness(*smaller, good.sound_mean, good.sound_projection)
    path = tmp_path / "bad.safetensors"
    checkpoint.save(path, network, info.features, info.training, likeness=bad)
    with pytest.raises(ModelFileError, match="'sounds like' projection does not fit") as err:
        stages.check_model(checkpoint.read_info(path))
    assert str(path) in str(err.value) and "\n" not in str(err.value)
