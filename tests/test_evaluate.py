"""Cross-validation on real game soundtracks: grouped folds, baselines, tiny networks, report."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from cuefinder.datasets import games
from cuefinder.errors import DatasetError
from cuefinder.evaluate import baselines, cross_validation, metrics, results, within
from cuefinder.evaluate.report import write_report
from cuefinder.evaluate.results import Evaluation
from cuefinder.features import FeatureConfig
from cuefinder.train import dataset, logreg, splits
from cuefinder.train.trainer import TrainConfig

pytestmark = pytest.mark.slow  # not in `make test-fast`

PACKAGES = ("funnyboat", "scorched3d-data", "xblast-tnt-musics", "abe-data")
TINY = TrainConfig(epochs=2, steps_per_epoch=3, batch_size=8, channels=(4, 8, 8, 16),
                   eval_patches=2, members=2, architectures=("cnn", "resnet"))  # fmt: skip


@pytest.fixture(scope="module")
def small_set(music_root, tmp_path_factory) -> dataset.LabelledSet:
    """12 real tracks of 4 games (the groups), features computed into a fresh cache."""
    folder = tmp_path_factory.mktemp("eval")
    manifest = folder / "manifest.csv"
    games.write_manifest(games.game_tracks(PACKAGES, music_root.parent), manifest)
    data, skipped = dataset.load(manifest, FeatureConfig(), max_seconds=60,
                                 cache_dir=folder / "features", progress=False)  # fmt: skip
    assert not skipped
    assert set(data.groups) == set(PACKAGES)
    return data


@pytest.fixture(scope="module")
def evaluation(small_set) -> Evaluation:
    return cross_validation.cross_validate(
        small_set, ["random", "majority", "mfcc-logreg", "ensemble"], scheme="logo",
        train_config=TINY, progress=False,
    )  # fmt: skip


def _assert_partition(folds, groups):
    for fold in folds:
        sides = [set(fold.train), set(fold.val), set(fold.test)]
        assert all(sides), fold
        assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
        assert sides[0] | sides[1] | sides[2] == set(groups)
    assert sorted(g for f in folds for g in f.test) == sorted(set(groups))


@pytest.mark.parametrize("scheme,folds", [("kfold", 2), ("logo", 0)])
def test_no_group_on_two_sides_of_any_split(small_set, scheme, folds):
    made = splits.make_folds(small_set, scheme, folds or 4, seed=1)
    assert len(made) == (folds or len(set(small_set.groups)))
    _assert_partition(made, small_set.groups)
    for fold in made:  # and the tracks follow their groups
        paths = {side: set(small_set.select(getattr(fold, side)).paths)
                 for side in ("train", "val", "test")}  # fmt: skip
        assert not paths["train"] & paths["test"] and not paths["val"] & paths["test"]


def test_fold_check_catches_a_shared_group():
    with pytest.raises(AssertionError, match="abe-data"):
        splits.Fold(0, ("abe-data", "funnyboat"), ("scorched3d-data",), ("abe-data",)).check()


def test_kfold_on_the_99_labelled_games_balances_genres():
    group_genres = {p: set(g) for p, g in games._game_genres().items()}
    sizes = dict.fromkeys(group_genres, 10)
    folds = splits.assign_groups(group_genres, sizes, 4, seed=0)
    assert sorted(g for f in folds for g in f) == sorted(group_genres)
    assert all(23 <= len(f) <= 27 for f in folds), [len(f) for f in folds]
    for genre, holders in Counter(g for v in group_genres.values() for g in v).items():
        per_fold = [sum(genre in group_genres[k] for k in f) for f in folds]
        assert max(per_fold) - min(per_fold) <= max(2, holders // 4), (genre, per_fold)
    assert folds == splits.assign_groups(group_genres, sizes, 4, seed=0)  # seeded


def test_baselines_on_real_features(small_set):
    train = small_set.select(["funnyboat", "scorched3d-data", "xblast-tnt-musics"])
    test = small_set.select(["abe-data"])
    shape = (len(test), len(small_set.genres))
    for name in baselines.BASELINES:
        predictor = baselines.fit(name, train, seed=0)
        scores = baselines.predict(predictor, test)
        assert scores.shape == shape and np.isfinite(scores).all()
        assert ((scores >= 0) & (scores <= 1)).all()
    random = baselines.fit("random", train, seed=0)
    rows = [small_set.paths.index(p) for p in test.paths]
    again = baselines.predict(random, small_set)[rows]  # same tracks, in another set
    np.testing.assert_array_equal(baselines.predict(random, test), again)
    majority = baselines.fit("majority", train)
    np.testing.assert_allclose(baselines.predict(majority, test)[0], train.labels.mean(axis=0))
    decided = baselines.predict(majority, test) >= majority.thresholds
    np.testing.assert_array_equal(decided[0], train.labels.mean(axis=0) > 0.5)
    stats = baselines.track_statistics(small_set.features)
    assert stats.shape == (len(small_set), 94) and np.isfinite(stats).all()
    heard = baselines.sound_embeddings(small_set.paths)  # heard-logreg's features
    assert heard.shape == (len(small_set), 200) and np.isfinite(heard).all() and heard.any()
    assert baselines.fit("heard-logreg", train).features == "heard"


def test_cross_validate_end_to_end(evaluation, small_set):
    n, g = len(small_set), len(small_set.genres)
    assert list(evaluation.methods) == ["random", "majority", "mfcc-logreg", "cnn", "resnet",
                                        "member0-cnn", "member1-resnet", "ensemble"]  # fmt: skip
    _assert_partition(evaluation.folds, small_set.groups)
    assert sorted(set(evaluation.fold_of.tolist())) == list(range(len(evaluation.folds)))
    for name, result in evaluation.methods.items():
        assert result.scores.shape == (n, g) and np.isfinite(result.scores).all(), name
        assert result.thresholds.shape == (len(evaluation.folds), g)
        assert len(result.per_fold) == len(evaluation.folds)
        assert "roc_auc" in result.metrics["macro"] and "f1" in result.metrics["macro"]
    members = evaluation.methods
    # the ensemble is the mean of its members; singles are members, not trained again
    np.testing.assert_allclose(
        members["ensemble"].scores,
        (members["member0-cnn"].scores + members["member1-resnet"].scores) / 2, atol=1e-6,
    )  # fmt: skip
    np.testing.assert_array_equal(members["cnn"].scores, members["member0-cnn"].scores)
    assert members["cnn"].seconds == members["member0-cnn"].seconds
    assert "member0-cnn" in members["cnn"].note
    trained = members["member1-resnet"].training
    assert [t["fold"] for t in trained] == list(range(len(evaluation.folds)))
    assert all(1 <= t["best_epoch"] <= t["epochs"] <= TINY.epochs for t in trained)
    counts = evaluation.genre_groups
    assert counts["overall"]["Comedy"] == sum(
        "Comedy" in v for v in small_set.group_genres().values()
    )
    for fold, per in zip(evaluation.folds, counts["per_fold"]):
        assert sum(per["test"].values()) == sum(len(small_set.group_genres()[k]) for k in fold.test)
    # group level: one row per game, union labels, each game scored by its own fold's model
    level = evaluation.group_level["ensemble"]
    assert level["groups"] == 4 and "leave-one-group-out" in level["protocol"]
    assert level["per_genre"]["Comedy"]["positive_groups"] == counts["overall"]["Comedy"]
    # JSON round trip
    text = json.dumps(evaluation.to_dict())
    back = Evaluation.from_dict(json.loads(text))
    assert results.summary(back) == results.summary(evaluation)


def test_kfold_notes_that_it_is_not_the_ma_protocol(small_set):
    result = cross_validation.cross_validate(small_set, ["random", "majority"], scheme="kfold",
                                             folds=2, progress=False)  # fmt: skip
    assert len(result.folds) == 2
    assert any("not Ma et al." in note for note in result.notes)
    assert "instead of leave-one-group-out" in result.group_level["random"]["protocol"]
    with pytest.raises(ValueError, match="unknown methods"):
        cross_validation.cross_validate(small_set, ["svm"], progress=False)


def test_report_files_and_numbers(evaluation, tmp_path):
    path = write_report(evaluation, tmp_path / "report")
    folder = path.parent
    for name in ("roc_curves.png", "pr_curves.png", "per_genre_auc.png", "cooccurrence.png"):
        png = folder / name
        assert png.stat().st_size > 1000
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = path.read_text()
    saved = json.loads((folder / "evaluation.json").read_text())
    for name, row in saved["summary"].items():
        line = next(x for x in text.splitlines() if x.startswith(f"| {name} |"))
        for key in ("roc_auc", "pr_auc", "f1", "group_f1"):
            assert f"{row[key]:.3f}" in line, (name, key)
    assert "Which wins" in text and "leave-one-group-out" in text
    assert "## Network training" in text and "| member1-resnet | 3 |" in text
    assert "| Comedy |" in text
    # calibration: each method's ECE raw and cross-fitted Platt, per genre and on average
    from cuefinder.evaluate.calibration import from_evaluation

    assert "## Calibration" in text and "| genre | mfcc-logreg raw | mfcc-logreg Platt |" in text
    mean = next(x for x in text.splitlines() if x.startswith("| **mean** |"))
    record = from_evaluation(evaluation, "mfcc-logreg")
    assert mean.split(" | ")[1:3] == [f"{record['macro_before']:.3f}",
                                      f"{record['macro_platt']:.3f}"]  # fmt: skip
    assert (
        "cuefinder evaluate MANIFEST -o REPORT_DIR --methods random majority mfcc-logreg ensemble "
        "--scheme logo --config RECIPE.toml" in text
    )


@pytest.fixture(scope="module")
def two_folds(small_set) -> Evaluation:
    """The baselines in grouped 2-fold cross-validation: two groups per test fold."""
    return cross_validation.cross_validate(
        small_set,
        ["random", "majority", "mfcc-logreg"],
        scheme="kfold",
        folds=2,
        progress=False,
    )


def test_within_one_model_ranks_each_fold_by_its_own_model(two_folds):
    from sklearn.metrics import roc_auc_score

    ev = two_folds
    rows = within.fold_rows(ev.groups, ev.fold_of)
    assert sorted(np.concatenate([np.concatenate(f) for f in rows]).tolist()) == list(
        range(len(ev.paths))
    )
    scores = ev.methods["mfcc-logreg"].scores
    found = within.per_genre(ev.labels, scores, rows)
    for g in range(len(ev.genres)):  # sklearn per fold, averaged over the folds with both classes
        each = [
            roc_auc_score(ev.labels[ev.fold_of == k, g], scores[ev.fold_of == k, g])
            for k in (0, 1)
            if 0 < ev.labels[ev.fold_of == k, g].sum() < (ev.fold_of == k).sum()
        ]
        assert np.isnan(found[g]) if not each else found[g] == pytest.approx(np.mean(each))
    assert np.isfinite(found).any()
    # a model whose scale moves between folds ranks each fold the same: only pooling notices
    shifted = scores + 10.0 * ev.fold_of[:, None]
    assert np.allclose(within.per_genre(ev.labels, shifted, rows), found, equal_nan=True)
    pooled = [metrics.fast_roc_auc(ev.labels[:, g], shifted[:, g]) for g in range(len(ev.genres))]
    assert any(
        p is not None and abs(p - metrics.fast_roc_auc(ev.labels[:, g], scores[:, g])) > 0.01
        for g, p in enumerate(pooled)
    )
    # the majority baseline is one constant per fold: exactly chance within each model
    table = results.summary(ev)
    assert table["majority"]["within_roc_auc"] == 0.5
    found = within.measure(ev, ["majority", "mfcc-logreg"], resamples=50)
    low, high = found["macro"]["mfcc-logreg"][1:]
    assert low <= found["macro"]["mfcc-logreg"][0] <= high
    d = within.difference(found, "mfcc-logreg", "majority")
    assert d["difference"] == pytest.approx(table["mfcc-logreg"]["within_roc_auc"] - 0.5, abs=1e-4)
    assert d["low"] <= d["difference"] <= d["high"]


def test_report_command_writes_a_report_again_from_its_evaluation(two_folds, tmp_path):
    folder = write_report(two_folds, tmp_path / "report").parent
    first = (folder / "report.md").read_text()
    assert "## Ranked within one model" in first
    assert "| majority | 0.500 | 0.500 to 0.500 |" in first
    (folder / "report.md").unlink()
    missing, a_file = tmp_path / "elsewhere", tmp_path / "notes.txt"
    a_file.write_text("not a report folder")
    done = subprocess.run(
        [sys.executable, "-m", "cuefinder", "report", str(missing), str(a_file), str(folder)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"cuefinder: error: {place / 'evaluation.json'}: no such file (not a folder that "
        "cuefinder evaluate wrote)"
        for place in (missing, a_file)
    ]
    assert done.stdout.strip() == f"report: {folder / 'report.md'}"  # the others still done
    again = (folder / "report.md").read_text()
    table = [line for line in first.splitlines() if line.startswith("| ")]
    assert [line for line in again.splitlines() if line.startswith("| ")] == table


def test_evaluate_command_writes_the_report(small_set, tmp_path, music_root):
    manifest = tmp_path / "manifest.csv"
    games.write_manifest(games.game_tracks(PACKAGES, music_root.parent), manifest)
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "cuefinder", "evaluate", str(manifest), "-o", str(out), "-q",
         "--methods", "random", "mfcc-logreg", "--folds", "2", "--cache", str(tmp_path / "f")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"report: {out / 'report.md'}" in done.stdout
    saved = json.loads((out / "evaluation.json").read_text())
    assert list(saved["summary"]) == ["random", "mfcc-logreg"]
    assert len(saved["folds"]) == 2
    assert "| mfcc-logreg | baseline |" in (out / "report.md").read_text()


def test_evaluate_command_names_the_problem_with_a_manifest(tmp_path, small_set):
    missing = tmp_path / "gone.ogg"
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"path,group,genres,title\n{missing},g1,Comedy,t\n")
    done = subprocess.run(
        [sys.executable, "-m", "cuefinder", "evaluate", str(manifest), "-o", str(tmp_path / "r")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"{manifest}: no usable tracks (1 skipped; first: {missing}" in done.stderr
    assert "Traceback" not in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "cuefinder", "evaluate", str(manifest), "-o", str(tmp_path / "r"),
         "--methods", "svm"], capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and "invalid choice: 'svm'" in done.stderr


def test_recipes_and_fusions_are_scored_in_the_same_folds(small_set):
    one = TrainConfig(epochs=1, steps_per_epoch=2, batch_size=8, channels=(4, 8, 8, 16),
                      eval_patches=2)  # fmt: skip
    recipes = {
        "level-contrastive": TrainConfig(**{**one.__dict__, "input_norm": "level",
                                            "contrastive": 0.5}),
        "band-mixup-2seeds": TrainConfig(**{**one.__dict__, "input_norm": "band",
                                            "mixup": 0.4, "members": 2}),
    }  # fmt: skip
    result = cross_validation.cross_validate(
        small_set, ["random", "mfcc-logreg"], scheme="logo", train_config=one,
        progress=False, recipes=recipes, fusions=[("level-contrastive", "mfcc-logreg")],
    )  # fmt: skip
    names = list(result.methods)
    assert names[-3:] == ["level-contrastive", "band-mixup-2seeds", "level-contrastive+mfcc-logreg"]
    fused = result.methods["level-contrastive+mfcc-logreg"]
    assert fused.kind == "fusion"
    expected = result.methods["level-contrastive"].scores + result.methods["mfcc-logreg"].scores
    assert np.allclose(fused.scores, expected / 2)
    assert result.config["recipes"]["band-mixup-2seeds"]["members"] == 2
    # every network's embedding is scored for same-game retrieval beside its controls
    spaces = result.similarity
    assert {"mfcc", "level-contrastive", "level-contrastive/random"} <= set(spaces)
    for values in spaces.values():
        assert values.shape == (len(small_set),) and np.all((values >= 0) & (values <= 1))
    from cuefinder.evaluate.report import render, similarity_rows

    rows = {r["space"]: r for r in similarity_rows(result)}
    assert "vs_mfcc" in rows["level-contrastive"] and "vs_random" in rows["level-contrastive"]
    text = render(result)
    assert "## Sounds like: same-game retrieval on held-out games" in text
    assert "Lever **band-mixup-2seeds** vs **level-contrastive**" in text
    assert "--recipe level-contrastive=recipes/level-contrastive.toml" in text
    again = Evaluation.from_dict(json.loads(json.dumps(result.to_dict())))
    assert np.allclose(again.similarity["mfcc"], spaces["mfcc"], atol=1e-4)
    with pytest.raises(DatasetError, match="not evaluated: nope"):
        cross_validation.cross_validate(small_set, ["random"], scheme="logo", train_config=one,
                                        progress=False, fusions=[("random", "nope")])  # fmt: skip


def test_mfcc_baseline_chooses_its_regularisation_on_training_groups_only(small_set):
    x = baselines.track_statistics(small_set.features)
    x = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-9)
    # too few groups for an inner split: the middle of the grid
    assert logreg.choose_c(x, small_set.labels, small_set.groups, 0) == logreg.C_GRID[2]
    many = [f"{g}-{i % 2}" for i, g in enumerate(small_set.groups)]  # 8 pseudo-groups
    chosen = logreg.choose_c(x, small_set.labels, many, 0)
    assert chosen in logreg.C_GRID
    predictor = baselines.fit("mfcc-logreg", small_set)
    assert predictor.c in logreg.C_GRID
