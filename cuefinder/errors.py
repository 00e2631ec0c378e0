"""Exceptions raised by cuefinder's library code.

Library code raises these; only the edges (cli.py, web/) turn them into
messages and exit codes or HTTP statuses.
"""


class CuefinderError(Exception):
    """Base class: every error the library expects to raise on bad input."""


class DecodeError(CuefinderError):
    """An audio file could not be decoded; the message names the file and why."""


class FeatureError(CuefinderError):
    """Audio or settings unfit for the log-mel front end."""


class ModelFileError(CuefinderError):
    """A model file is missing, corrupt or not a cuefinder model."""


class CatalogError(CuefinderError):
    """The catalog database is unusable (wrong schema, locked, corrupt)."""


class QueryError(CuefinderError):
    """A search query could not be parsed; carries the vocabulary for the message."""

    def __init__(self, message: str, vocabulary: list[str] | None = None):
        super().__init__(message)
        self.vocabulary = vocabulary or []


class DatasetError(CuefinderError):
    """A labelled data set could not be built or read."""


class ConfigError(CuefinderError, ValueError):
    """Settings that cannot work (a model's architecture, a recipe, folds, a split); a
    ValueError too, so callers that catch ValueError keep working."""
