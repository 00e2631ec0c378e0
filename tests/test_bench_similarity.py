"""The "sounds like" benchmark's kept-out-shaped pool (``bench/bench_similarity.py
--pool LEAST:MOST``): which held-out tracks become queries and candidates."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

from cuefinder.train.dataset import LabelledSet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import bench_similarity as bench  # noqa: E402


def held_out(sizes: dict[str, int]) -> LabelledSet:
    groups = [game for game, n in sizes.items() for _ in range(n)]
    rows = len(groups)
    return LabelledSet(
        [np.full((2, 3), i, np.float16) for i in range(rows)],
        np.eye(rows, 2, dtype=np.float32),
        groups,
        [f"{g}/{i}.ogg" for i, g in enumerate(groups)],
        ("Action", "Drama"),
    )


def test_pool_keeps_games_of_at_least_least_tracks_and_at_most_most_of_each():
    test = held_out({"big": 20, "small": 3, "five": 5, "nine": 9})
    pool = bench.shaped(test, 5, 8, seed=0)
    counts = {g: pool.groups.count(g) for g in set(pool.groups)}
    assert counts == {"big": 8, "five": 5, "nine": 8}
    # rows stay whole and in order: each path still with its own features and labels
    where = [test.paths.index(p) for p in pool.paths]
    assert where == sorted(where)
    for row, original in enumerate(where):
        assert pool.features[row][0, 0] == original
        assert np.array_equal(pool.labels[row], test.labels[original])


def test_pool_draw_follows_the_seed():
    test = held_out({"big": 30, "other": 12})
    first, again = bench.shaped(test, 5, 6, seed=3), bench.shaped(test, 5, 6, seed=3)
    assert first.paths == again.paths
    assert any(bench.shaped(test, 5, 6, seed=s).paths != first.paths for s in range(4, 8))


@pytest.mark.parametrize("text", ["5", "a:b", "1:4", "6:5", "5:12:1"])
def test_pool_shape_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError, match="--pool"):
        bench.pool_shape(text)


def test_pool_shape_reads():
    assert bench.pool_shape("5:12") == (5, 12)
