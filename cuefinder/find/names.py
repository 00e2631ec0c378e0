"""Names: find tracks by title, artist, album and file name, beside genres.

A query's name words (``artist:maxstack``, ``title:"living caves"``, ``file:cue-042``,
``name:rain`` for any of the four, or a plain word that names no genre but some track:
``find.grammar``) keep only the tracks whose field holds every word, compared as the
grammar compares words (lower case, hyphens and underscores as spaces). The file name
is the last part of the path, without its folders.
"""

from __future__ import annotations

import numpy as np

from cuefinder.catalog import ScoreTable
from cuefinder.find.grammar import normalise

FIELDS = ("title", "artist", "album", "file")


def fields(table: ScoreTable) -> dict[str, np.ndarray]:
    """Each field's normalised text per track, (n,) strings (made once per table, then kept
    in its cache)."""
    if "names" not in table.cache:
        names = table.names or [(None, None, None)] * len(table.ids)
        columns = {f: [normalise(n[i] or "") for n in names] for i, f in enumerate(FIELDS[:3])}
        columns["file"] = [normalise(p.rsplit("/", 1)[-1]) for p in table.paths]
        table.cache["names"] = {f: np.array(c, dtype=np.str_) for f, c in columns.items()}
    return table.cache["names"]


def known(table: ScoreTable):
    """``known_name`` for ``grammar.parse``: does some track's name hold this word?"""
    columns = fields(table)

    def has(word: str) -> bool:
        word = normalise(word)
        return bool(word) and any(np.any(np.strings.find(c, word) >= 0) for c in columns.values())

    return has


def mask(table: ScoreTable, names) -> np.ndarray:
    """(n,) bool: tracks whose fields hold every (field, words) of ``names``."""
    columns = fields(table)
    keep = np.ones(len(table.ids), bool)
    for field, words in names:
        chosen = FIELDS if field == "name" else (field,)
        for word in words.split():
            keep &= np.logical_or.reduce([np.strings.find(columns[f], word) >= 0 for f in chosen])
    return keep
