"""Metrics against small cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cuefinder.evaluate import metrics
from cuefinder.train import scoring

# The textbook case: two negatives (0.1, 0.4), two positives (0.35, 0.8).
Y = np.array([0, 0, 1, 1])
S = np.array([0.1, 0.4, 0.35, 0.8])


def test_roc_and_pr_auc_by_hand():
    # pairs (pos, neg): (0.35, 0.1) right, (0.35, 0.4) wrong, (0.8, both) right -> 3/4
    assert scoring.roc_auc(Y, S) == pytest.approx(0.75)
    # ranked: 0.8 (+) P=1 R=.5; 0.4 (-); 0.35 (+) P=2/3 R=1 -> AP = .5*1 + .5*2/3
    assert scoring.pr_auc(Y, S) == pytest.approx(0.8333, abs=1e-4)
    assert metrics.fast_roc_auc(Y, S) == pytest.approx(0.75)
    assert metrics.fast_average_precision(Y, S) == pytest.approx(5 / 6)


def test_single_class_genres_have_no_auc_and_macro_skips_them():
    assert scoring.roc_auc(np.zeros(4), S) is None
    assert scoring.roc_auc(np.ones(4), S) is None
    assert scoring.pr_auc(np.zeros(4), S) is None
    labels = np.stack([Y, np.zeros(4)], axis=1)
    scores = np.stack([S, np.array([0.9, 0.1, 0.5, 0.2])], axis=1)
    assert scoring.macro_roc_auc(labels, scores) == pytest.approx(0.75)
    assert metrics.macro_pr_auc(labels, scores) == pytest.approx(5 / 6)
    result = scoring.evaluate(labels, scores, ("a", "b"), ["g1", "g1", "g2", "g3"])
    assert result["macro"]["genres_scored"] == 1
    assert result["macro"]["roc_auc"] == pytest.approx(0.75)
    assert result["per_genre"]["b"]["roc_auc"] is None
    assert result["per_genre"]["a"]["positive_groups"] == 2


def test_prf_by_hand_with_the_zero_over_zero_convention():
    labels = np.array([[1, 0, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0]])
    scores = np.array([[0.9, 0.1, 0.1], [0.6, 0.7, 0.1], [0.4, 0.2, 0.1], [0.2, 0.3, 0.1]])
    out = metrics.prf(labels, scores, np.array([0.5, 0.5, 0.5]))
    a, b, c = out["per_genre"]
    # a: predicted tracks 0, 1; tp 1 (track 0), fp 1 (track 1), fn 1 (track 2)
    assert (a["tp"], a["fp"], a["fn"]) == (1, 1, 1)
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    # b: predicted track 1 (wrong), missed track 3: P = 0/1, R = 0/1, F1 = 0/0 -> 0
    assert (b["precision"], b["recall"], b["f1"]) == (0.0, 0.0, 0.0)
    # c: nothing predicted, nothing positive: every ratio is 0/0 -> 0, and macro skips it
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 0)
    assert out["macro"]["genres_scored"] == 2
    assert out["macro"]["f1"] == pytest.approx(0.25)
    assert out["macro"]["precision"] == pytest.approx(0.25)
    assert out["macro_all"]["f1"] == pytest.approx(0.5 / 3)


def test_prf_takes_a_threshold_per_track():
    labels = np.array([[1], [1], [0]])
    scores = np.array([[0.6], [0.6], [0.6]])
    # track 1 sits in a fold with a high threshold: only track 0 and 2 are predicted
    out = metrics.prf(labels, scores, np.array([[0.5], [0.7], [0.5]]))
    assert out["per_genre"][0]["tp"] == 1 and out["per_genre"][0]["fp"] == 1
    assert out["macro"]["f1"] == pytest.approx(0.5)


def test_best_threshold_maximises_f1_by_hand():
    # cuts: >=0.8 F1 2/3, >=0.4 F1 1/2, >=0.35 F1 4/5, >=0.1 F1 2/3 -> cut at 0.35;
    # every threshold in (0.1, 0.35] gives the same decisions; the midpoint is returned
    t = metrics.best_thresholds(Y, S)
    assert t.shape == (1,)
    assert 0.1 < t[0] <= 0.35
    assert t[0] == pytest.approx(0.225)
    assert metrics.prf(Y, S, t)["macro"]["f1"] == pytest.approx(0.8)


def test_best_thresholds_edge_cases():
    labels = np.array([[0, 1, 1], [0, 1, 0], [0, 1, 1]])
    scores = np.array([[0.9, 0.2, 0.5], [0.1, 0.4, 0.5], [0.3, 0.3, 0.5]])
    t = metrics.best_thresholds(labels, scores)
    assert t[0] == 0.5  # no positives
    assert t[1] <= 0.2  # all positive: predict everything, F1 = 1
    assert t[2] == 0.5  # all scores tie: the only cut predicts all (F1 0.8)
    assert metrics.prf(labels, scores, t)["per_genre"][1]["f1"] == 1.0


def test_best_thresholds_match_a_brute_force_search():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, (40, 6))
    scores = np.round(rng.random((40, 6)), 1)  # ties on purpose
    t = metrics.best_thresholds(labels, scores)
    for g in range(6):
        best = max(
            metrics.prf(labels[:, g], scores[:, g], np.array([c]))["per_genre"][0]["f1"]
            for c in np.unique(scores[:, g])
        )
        got = metrics.prf(labels[:, g], scores[:, g], t[g : g + 1])["per_genre"][0]["f1"]
        assert got == pytest.approx(best)


def test_curve_points():
    fpr, tpr = metrics.roc_points(Y, S)
    assert np.trapezoid(tpr, fpr) == pytest.approx(0.75)
    recall, precision = metrics.pr_points(Y, S)
    assert recall[0] == 1.0 and precision[-1] == 1.0
    assert metrics.roc_points(np.zeros(4), S) is None
    assert metrics.pr_points(np.zeros(4), S) is None


def test_fast_versions_equal_sklearn():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(3, 50))
        y, s = rng.integers(0, 2, n), np.round(rng.random(n), 1)
        for slow, fast in ((scoring.roc_auc, metrics.fast_roc_auc),
                           (scoring.pr_auc, metrics.fast_average_precision)):  # fmt: skip
            a, b = slow(y, s), fast(y, s)
            assert (a is None and b is None) or a == pytest.approx(b, abs=1e-12)
    labels, scores = rng.integers(0, 2, (30, 4)), rng.random((30, 4))
    assert metrics.fast_macro(labels, scores) == pytest.approx(
        scoring.macro_roc_auc(labels, scores)
    )
    assert metrics.fast_macro(labels, scores, "pr_auc") == pytest.approx(
        metrics.macro_pr_auc(labels, scores)
    )


def test_column_roc_auc_equals_sklearn_per_genre():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, (40, 5))
    labels[:, 3] = 1  # one class only: not defined
    scores = np.round(rng.random((40, 5)), 1)  # ties count half, as sklearn counts them
    found = metrics.column_roc_auc(labels, scores)
    for g in range(5):
        expected = scoring.roc_auc(labels[:, g], scores[:, g])
        if expected is None:
            assert np.isnan(found[g])
        else:
            assert found[g] == pytest.approx(expected, abs=1e-12)


def test_same_group_precision_and_its_group_bootstrap():
    from cuefinder.evaluate.metrics import group_bootstrap, same_group_precision

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8))
    groups = np.repeat(["a", "b", "c"], 11)
    tight = centres[[0] * 11 + [1] * 11 + [2] * 11] + 0.01 * rng.normal(size=(33, 8))
    assert np.all(same_group_precision(tight, groups) == 1.0)
    noise = rng.normal(size=(33, 8))
    assert same_group_precision(noise, groups).mean() < 0.6
    low, high = group_bootstrap(same_group_precision(noise, groups), groups)
    assert 0 <= low <= same_group_precision(noise, groups).mean() <= high <= 1


def test_same_group_precision_with_other_queries_leaves_each_track_out():
    from cuefinder.evaluate.metrics import same_group_precision

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 8))
    groups = np.repeat(["a", "b", "c"], 11)
    tight = centres[[0] * 11 + [1] * 11 + [2] * 11] + 0.01 * rng.normal(size=(33, 8))
    same = same_group_precision(tight, groups, 10, queries=tight)
    np.testing.assert_array_equal(same, same_group_precision(tight, groups, 10))
    # each track asks with a vector of the next group's: none of its 10 nearest is its own
    shifted = np.roll(tight, -11, axis=0)
    assert np.all(same_group_precision(tight, groups, 10, queries=shifted) == 0.0)
    # asking with its own vector scaled: the track itself is left out, 10 of 10 others hit
    assert np.all(same_group_precision(tight, groups, 10, queries=3 * tight) == 1.0)
