"""The catalog database: schema, the one writer, and the reads search needs."""

from cuefinder.catalog.db import Catalog, ScoreTable, StoredModel, Track, default_path

__all__ = ["Catalog", "ScoreTable", "StoredModel", "Track", "default_path"]
