"""Grouped splits never divide a group and keep genres on both sides where possible."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cuefinder.train.splits import split_groups

GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi"]
group_maps = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=4),
    st.sets(st.sampled_from(GENRES), min_size=1, max_size=3),
    min_size=3,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(group_maps, st.floats(0.1, 0.5), st.integers(0, 5))
def test_split_is_a_partition_of_groups(groups, fraction, seed):
    train, test = split_groups(groups, fraction, seed)
    assert set(train).isdisjoint(test)
    assert set(train) | set(test) == set(groups)
    assert test and train  # both sides hold something
    fallback = len(test) == 1  # every group was some genre's only holder: one had to go
    for genre in GENRES:  # otherwise no genre loses all its training groups
        holders = [g for g in groups if genre in groups[g]]
        if holders and not fallback:
            assert any(g in train for g in holders), genre


def test_split_is_a_pure_function_of_its_seed():
    groups = {f"game{i}": {GENRES[i % 6], GENRES[(i * 7) % 6]} for i in range(20)}
    assert split_groups(groups, 0.25, 3) == split_groups(groups, 0.25, 3)
    assert split_groups(groups, 0.25, 3) != split_groups(groups, 0.25, 4)
