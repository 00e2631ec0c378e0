"""The genre vocabulary, from ``genres.toml`` beside this file: one source for the query
grammar's synonyms, the free-text reader's descriptions and the suggested words."""

from __future__ import annotations

import tomllib
from importlib import resources

_DATA = tomllib.loads(resources.files("cuefinder.find").joinpath("genres.toml").read_text())
_GENRES = {name: entry for name, entry in _DATA.items() if isinstance(entry, dict)}

# genre -> the words and phrases a query may use for it (besides its name)
SYNONYMS: dict[str, tuple[str, ...]] = {
    g: tuple(e["synonyms"]) for g, e in _GENRES.items() if e["synonyms"]
}
# genre -> phrases free text is compared with by meaning
DESCRIPTIONS: dict[str, tuple[str, ...]] = {g: tuple(e["descriptions"]) for g, e in _GENRES.items()}
# genre -> the word suggested when a query matched nothing, in the order suggested
EXAMPLE_WORDS: dict[str, str] = {g: _GENRES[g]["example"] for g in _DATA["suggest"]}
