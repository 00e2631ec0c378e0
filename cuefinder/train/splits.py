"""Grouped splits: a group (a film, a game) is never on both sides.

Tracks of one soundtrack share a composer; a split by track measures memory of
the composer, not generalisation.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from cuefinder.errors import ConfigError


def split_groups(
    group_genres: Mapping[str, set[str]],
    test_fraction: float,
    seed: int = 0,
    sizes: Mapping[str, float] | None = None,
) -> tuple[list[str], list[str]]:
    """Split group names into (train, test).

    Every genre held by two or more groups gets at least one group on each side
    where that is possible; a genre held by one group keeps it in train. About
    ``test_fraction`` of the groups (or of their ``sizes``, e.g. track counts)
    go to test, and never none: when every group is some genre's only holder,
    the group that is so for the fewest genres goes.

    Parameters
    ----------
    group_genres : group -> genres of its tracks (union)
    test_fraction : share of groups to hold out, in (0, 1)
    seed : the split is a pure function of its inputs and this seed
    sizes : group -> weight (default 1 each) in which ``test_fraction`` is measured
    """
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = random.Random(seed)
    groups = sorted(group_genres)
    holders = {g: [k for k in groups if g in group_genres[k]] for g in _genres(group_genres)}
    weight = {k: float(sizes[k]) if sizes else 1.0 for k in groups}
    budget = test_fraction * sum(weight.values())
    test: set[str] = set()

    def fits(k: str) -> bool:
        return not test or sum(weight[t] for t in test) + weight[k] <= 1.1 * budget

    for genre in sorted(holders, key=lambda g: (len(holders[g]), g)):
        held = holders[genre]
        if len(held) < 2 or any(k in test for k in held):
            continue
        candidates = [k for k in held if _can_leave(k, test, holders) and fits(k)]
        if candidates:
            test.add(rng.choice(candidates))
    rest = [k for k in groups if k not in test]
    rng.shuffle(rest)
    while sum(weight[t] for t in test) < budget and rest:
        candidate = rest.pop()
        if _can_leave(candidate, test, holders) and fits(candidate):
            test.add(candidate)
    if not test:  # every group is some genre's only holder: hold out the least unique one
        test.add(min(groups, key=lambda k: (_only_holder_of(k, holders), rng.random())))
    return [k for k in groups if k not in test], sorted(test)


def _only_holder_of(group: str, holders: Mapping[str, Sequence[str]]) -> int:
    return sum(1 for held in holders.values() if held == [group])


def _genres(group_genres: Mapping[str, set[str]]) -> set[str]:
    return set().union(*group_genres.values()) if group_genres else set()


def _can_leave(group: str, test: set[str], holders: Mapping[str, Sequence[str]]) -> bool:
    """True if moving ``group`` to test keeps a train group for each of its genres."""
    for held in holders.values():
        if group in held and all(k == group or k in test for k in held):
            return False
    return True
