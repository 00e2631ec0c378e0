"""cuefinder: tag music by the film genres it suits, and search a catalog by them.

The Python API mirrors the command line::

    import cuefinder
    catalog = cuefinder.Catalog("catalog.db")
    cuefinder.index(["music/"], catalog)
    cuefinder.search("romance comedy -action horror:0.3", catalog)
    cuefinder.find.similar("music/temp-track.mp3", catalog, start=45, end=75)
    cuefinder.teach("tension build", catalog, add=["music/cue-042.flac"])

Names are imported on first use, so ``import cuefinder`` stays light.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = [
    "Catalog", "index", "search", "similar", "interpret", "parse_query", "teach", "refine",
    "Tagger", "CuefinderError",
]  # fmt: skip

_EXPORTS = {
    "Catalog": ("cuefinder.catalog", "Catalog"),
    "index": ("cuefinder.pipeline.local", "index"),
    "search": ("cuefinder.find.rank", "search"),
    "similar": ("cuefinder.find.similar", "similar"),
    "interpret": ("cuefinder.find.text", "interpret"),
    "parse_query": ("cuefinder.find.grammar", "parse"),
    "teach": ("cuefinder.find.teach", "teach"),
    "refine": ("cuefinder.find.rank", "refine"),
    "Tagger": ("cuefinder.model.tagger", "Tagger"),
    "CuefinderError": ("cuefinder.errors", "CuefinderError"),
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cuefinder' has no attribute {name!r}")
    import importlib

    module, attribute = _EXPORTS[name]
    return getattr(importlib.import_module(module), attribute)
