"""Grouped splits: a group (a film, a game) is never on both sides.

Tracks of one soundtrack share a composer; a split by track measures memory of
the composer, not generalisation.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cuefinder.errors import ConfigError

if TYPE_CHECKING:
    from cuefinder.train.dataset import LabelledSet

SCHEMES = ("kfold", "logo")  # grouped K-fold, leave-one-group-out


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


@dataclass(frozen=True)
class Fold:
    """Group names on each side of one cross-validation fold."""

    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def check(self) -> None:
        """Raise AssertionError if a group is on two sides or a side is empty."""
        sides = {"train": set(self.train), "val": set(self.val), "test": set(self.test)}
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            shared = sides[a] & sides[b]
            if shared:
                raise AssertionError(f"fold {self.index}: groups in {a} and {b}: {sorted(shared)}")
        for side, names in sides.items():
            if not names:
                raise AssertionError(f"fold {self.index}: no {side} groups")


def assign_groups(
    group_genres: dict[str, set[str]], sizes: dict[str, int], folds: int, seed: int = 0
) -> list[list[str]]:
    """Whole groups dealt out to ``folds`` test folds, balancing genre coverage.

    Groups holding rare genres are placed first (larger groups first among equals, a
    seeded shuffle for the rest); each goes to the fold where its genres are least
    represented so far (as a share of each genre's groups), plus a penalty for the
    fold's share of tracks, so folds also stay similar in size.

    Parameters
    ----------
    group_genres : group -> its genres
    sizes : group -> its number of tracks
    folds : number of folds, 2 .. number of groups
    """
    names = sorted(group_genres)
    if not 2 <= folds <= len(names):
        raise ConfigError(f"need 2 <= folds <= {len(names)} groups, got folds={folds}")
    rng = random.Random(seed)
    holders = Counter(g for k in names for g in group_genres[k])
    rng.shuffle(names)
    names.sort(key=lambda k: (min((holders[g] for g in group_genres[k]), default=10**9),
                              -sizes[k]))  # fmt: skip
    target = sum(sizes.values()) / folds
    counts = [Counter() for _ in range(folds)]
    tracks = [0] * folds
    members: list[list[str]] = [[] for _ in range(folds)]
    for left, k in enumerate(names[::-1]):  # left: groups still to place after this one
        empty = [f for f in range(folds) if not members[f]]
        candidates = empty if len(empty) > left else list(range(folds))
        rng.shuffle(candidates)

        def cost(f: int, k: str = k) -> float:
            share = sum(counts[f][g] / holders[g] for g in group_genres[k])
            return share + (tracks[f] + sizes[k]) / target

        best = min(candidates, key=cost)
        members[best].append(k)
        counts[best].update(group_genres[k])
        tracks[best] += sizes[k]
    return [sorted(m) for m in members]


def make_folds(
    data: LabelledSet, scheme: str = "kfold", folds: int = 4, seed: int = 0,
    val_fraction: float = 0.2,
) -> list[Fold]:  # fmt: skip
    """The folds of a scheme: test groups per fold, and a validation split of the rest."""
    group_genres = data.group_genres()
    if scheme == "kfold":
        tests = assign_groups(group_genres, Counter(data.groups), folds, seed)
    elif scheme == "logo":
        tests = [[k] for k in sorted(group_genres)]
    else:
        raise ConfigError(f"unknown scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    out = []
    for i, test in enumerate(tests):
        rest = [k for k in sorted(group_genres) if k not in set(test)]
        if len(rest) < 2:
            raise ConfigError(f"fold {i}: {len(rest)} training group(s); need 2 for validation")
        train, val = split_groups({k: group_genres[k] for k in rest}, val_fraction, seed + 1 + i)
        fold = Fold(i, tuple(train), tuple(val), tuple(sorted(test)))
        fold.check()
        out.append(fold)
    covered = [k for f in out for k in f.test]
    if sorted(covered) != sorted(group_genres):
        raise AssertionError("every group must be a test group exactly once")
    return out


# ---------------------------------------------------------------- results


def scheme_words(scheme: str, folds: int) -> str:
    """How a cross-validation was split, in words: "grouped 4-fold" or
    "leave-one-group-out, 98 folds"."""
    if scheme == "logo":
        return f"leave-one-group-out, {folds} folds"
    return f"grouped {folds}-fold"
