"""What a person should know before trusting a ranking.

A genre that few games taught, or that the model ranks near chance on games it never
heard (its card's cross-validated estimate), still gets scores; a query that leans on
it gets a warning beside its results (CLI, API, page), so that a confident-looking
list is read as the hint it is.
"""

from __future__ import annotations

import functools

from cuefinder.catalog import Catalog
from cuefinder.find.grammar import GenreQuery
from cuefinder.model import checkpoint


def query_warnings(query: GenreQuery, catalog: Catalog) -> list[str]:
    """One line per genre of the query (wanted or excluded) whose ranking is weak."""
    weak = weak_genres(catalog)
    named = dict.fromkeys(t.genre for t in query.terms)
    return [f"{g}: {weak[g]}; read its ranking as a hint" for g in named if g in weak]


def weak_genres(catalog: Catalog) -> dict[str, str]:
    """Genre -> reason, for the catalog's active model (empty when its file is gone)."""
    model = catalog.active_model()
    path = catalog.model_path(model.model_id) if model else None
    if path is None:
        return {}
    return _weak(str(path), path.stat().st_mtime_ns, model.model_id)


@functools.lru_cache(maxsize=8)
def _weak(path: str, mtime_ns: int, model_id: str) -> dict[str, str]:
    info = checkpoint.read_info(path)
    return info.weak_genres if info.model_id == model_id else {}
