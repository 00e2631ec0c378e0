"""What a person should know before trusting a ranking.

A result's score is its rank in the catalog, so the best of a bad lot still scores near
1. Two things say how good it is: its calibrated fit (the probability, calibrated on
games the model never heard, that the track suits the query's wanted genres; a level
"strong", "some" or "weak"), and warnings: a genre that few games taught, or that the
model ranks near chance on unseen games, and a query whose best result fits weakly.
They appear beside the results in the CLI, the API and the page.
"""

from __future__ import annotations

import functools
import math

from cuefinder.catalog import Catalog
from cuefinder.find.grammar import GenreQuery
from cuefinder.model import checkpoint

# calibrated fit at or above which a result is called this (the first that applies)
FIT_LEVELS = ((0.5, "strong"), (0.25, "some"), (0.0, "weak"))


def query_warnings(query: GenreQuery, catalog: Catalog, fits=()) -> list[str]:
    """One line per genre of the query (wanted or excluded) whose ranking is weak, and one
    when even the best of the results fits the query weakly (``fits``: the results')."""
    weak = weak_genres(catalog)
    named = dict.fromkeys(t.genre for t in query.terms)
    lines = [f"{g}: {weak[g]}; read its ranking as a hint" for g in named if g in weak]
    fits = [f for f in fits if f is not None]
    if fits and max(fits) < FIT_LEVELS[1][0]:
        lines.append(f"no track fits well: the best calibrated fit is {max(fits):.2f} (weak)")
    return lines


def fit(probabilities: dict[str, float], query: GenreQuery, curves) -> float | None:
    """Weighted mean over the query's wanted genres of the calibrated probability that the
    track suits each; None without calibration curves (or without a wanted genre)."""
    wanted = [t for t in query.terms if not t.exclude and t.genre in curves]
    if not wanted:
        return None
    total = 0.0
    for term in wanted:
        p = min(max(probabilities[term.genre], 1e-6), 1 - 1e-6)
        a, b = curves[term.genre]
        total += term.weight / (1 + math.exp(-(a * math.log(p / (1 - p)) + b)))
    return total / sum(t.weight for t in wanted)


def fit_level(value: float | None) -> str | None:
    if value is None:
        return None
    return next(name for floor, name in FIT_LEVELS if value >= floor)


def weak_genres(catalog: Catalog) -> dict[str, str]:
    """Genre -> reason, for the catalog's active model (empty when its file is gone)."""
    info = _info(catalog)
    return info.weak_genres if info else {}


def calibration(catalog: Catalog) -> dict[str, tuple[float, float]]:
    """Genre -> calibration curve of the catalog's active model (empty if it has none)."""
    info = _info(catalog)
    return info.calibration if info else {}


def _info(catalog: Catalog):
    model = catalog.active_model()
    path = catalog.model_path(model.model_id) if model else None
    if path is None:
        return None
    return _read(str(path), path.stat().st_mtime_ns, model.model_id)


@functools.lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int, model_id: str):
    info = checkpoint.read_info(path)
    return info if info.model_id == model_id else None
