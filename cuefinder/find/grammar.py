"""Genre queries: parse ``romance comedy -action horror:0.3`` against a model's genres.

``bpm:90-110`` (or ``bpm:120``, within 5%), ``key:Am`` (``key:F#``, ``key:A-minor``) and
``energy:high`` (``low``, ``medium``: a third of the catalog each) keep only tracks whose
descriptors match; ``title:``, ``artist:``, ``album:``, ``file:``
(``artist:maxstack``, ``title:"living caves"``) and ``name:`` (any of the four) only
tracks so named (``find.names``), and so does a plain word that names no genre when the
caller says it names a track (``known_name``).

Vocabulary follows the model: each of its genres is a term under its own name,
plus the everyday words in ``SYNONYMS`` that point to it (for IMDb's genres; a
model with its own taxonomy is searched by its own label names), then a transfer
model's pretrained tags (``mellow``, ``guitar``, ``#sad``). A query is a
list of terms; ``-term`` excludes, ``term:0.3`` weights, and words such as
"a little" or "no" do the same in plain English.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cuefinder.errors import QueryError
from cuefinder.find.genre_words import SYNONYMS
from cuefinder.model.musicnn_tags import TAG_SYNONYMS

FILLER = frozenset(  # words a query may carry that name no genre
    ("a", "an", "the", "and", "or", "with", "of", "some", "for", "in", "to", "film", "films",
     "movie", "movies", "music", "score", "scores", "soundtrack", "soundtracks", "cue", "cues",
     "track", "tracks", "scene", "scenes", "but", "touch", "hint")
)  # fmt: skip
SOFTENERS = {
    "little": 0.3,
    "bit": 0.3,
    "slightly": 0.3,
    "somewhat": 0.5,
    "mildly": 0.5,
    "very": 2.0,
    "really": 2.0,
    "extremely": 3.0,
    "lots": 2.0,
    "mostly": 1.5,
}
NEGATORS = frozenset({"no", "not", "without", "except", "never"})
MAX_WEIGHT = 10.0
_WEIGHTED = re.compile(r"^(?P<word>.*?):(?P<weight>[^:]*)$")


@dataclass(frozen=True)
class Term:
    genre: str
    weight: float = 1.0
    exclude: bool = False


@dataclass(frozen=True)
class GenreQuery:
    terms: tuple[Term, ...]
    tempo: tuple[float | None, float | None] | None = None  # bpm:90-110 (BPM, low and high)
    key: str | None = None  # key:Am, as descriptors.parse_key spells it
    names: tuple[tuple[str, str], ...] = ()  # (field, words): title:"living caves"
    energy: str | None = None  # energy:high, "low", "medium" or "high" (ENERGY_LEVELS)

    @property
    def wanted(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.exclude)

    def __str__(self) -> str:
        words = [f"{'-' if t.exclude else ''}{t.genre}:{t.weight:g}" for t in self.terms]
        if self.tempo:
            words.append(f"bpm:{self.tempo[0]:g}-{self.tempo[1]:g}")
        if self.key:
            words.append(f"key:{self.key.replace(' ', '-')}")
        if self.energy:
            words.append(f"energy:{self.energy}")
        for name, value in self.names:
            words.append(f'{name}:"{value}"' if " " in value else f"{name}:{value}")
        return " ".join(words)


def normalise(text: str) -> str:
    """Lower case, hyphens and underscores as spaces, single spaces."""
    return " ".join(re.sub(r"[-_/]", " ", text.lower()).split())


def vocabulary(genres: Sequence[str], tags: Sequence[str] = ()) -> dict[str, str]:
    """Every term the model's genres (then its pretrained tags) answer to -> its label.

    A tag whose name a genre or synonym already uses (``sad`` means Drama) is
    still reachable as ``#sad``. A fresh dict: callers may change it.
    """
    return dict(_vocabulary(tuple(genres), tuple(tags)))


@functools.lru_cache(maxsize=16)
def _vocabulary(genres: tuple[str, ...], tags: tuple[str, ...]) -> dict[str, str]:
    words: dict[str, str] = {}
    for genre in genres:
        words[normalise(genre)] = genre
        words[normalise(genre).replace(" ", "")] = genre
        for synonym in SYNONYMS.get(genre, ()):
            words.setdefault(normalise(synonym), genre)
    for tag in tags:
        words["#" + normalise(tag)] = tag
        words["#" + normalise(tag).replace(" ", "")] = tag
        words.setdefault(normalise(tag), tag)
        words.setdefault(normalise(tag).replace(" ", ""), tag)
    for tag in tags:  # then everyday words for them (``instrumental``: no vocals)
        for synonym in TAG_SYNONYMS.get(tag, ()):
            words.setdefault(normalise(synonym), tag)
    return words


def parse(
    text: str,
    genres: Sequence[str],
    tags: Sequence[str] = (),
    known_name: Callable[[str], bool] | None = None,
) -> GenreQuery:
    """Parse a query against the model's genres and pretrained tags; QueryError names the
    problem. A word that names no genre is a name (title, artist, album or file name) when
    ``known_name(word)`` says some track has it; otherwise it is an error."""
    words = _vocabulary(tuple(genres), tuple(tags))
    vocab = sorted(genres)
    text, tempo, key, names, energy = _filters(text or "")
    tokens = _tokens(text)
    if not tokens and not names and not energy:
        raise QueryError("empty query: name at least one genre", vocab)
    terms, i, weight, exclude = [], 0, 1.0, False
    while i < len(tokens):
        token = tokens[i]
        sign = token.startswith("-") and len(token) > 1
        bare = token.lstrip("-") if sign else token
        if bare in NEGATORS:
            exclude, i = True, i + 1
            continue
        if bare in SOFTENERS:
            weight, i = weight * SOFTENERS[bare], i + 1
            continue
        span, genre, explicit = match_phrase(tokens, i, words)
        if genre is None:
            if bare in FILLER:
                i += 1
                continue
            word = _strip_weight(bare)
            if not sign and word == bare and known_name is not None and known_name(word):
                names.append(("name", word))
                i += 1
                continue
            raise QueryError(f"unknown genre '{word}'{_did_you_mean(word, words)}", vocab)
        terms.append(Term(genre, weight * (explicit or 1.0), exclude or sign))
        i, weight, exclude = i + span, 1.0, False
    if not terms and not names and not energy:
        raise QueryError(f"no genre in query '{text}'", vocab)
    return GenreQuery(_merge(terms), tempo, key, tuple(names), energy)


_TEMPO = re.compile(r"(?<!\S)(?:bpm|tempo):(\S*)", re.IGNORECASE)
_KEY = re.compile(r"(?<!\S)key:(\S*)(?:\s+(major|minor|maj|min)\b)?", re.IGNORECASE)


ENERGY_LEVELS = {"low": (0.0, 1 / 3), "medium": (1 / 3, 2 / 3), "high": (2 / 3, 1.0)}
_ENERGY = re.compile(r"(?<!\S)energy:(\S*)", re.IGNORECASE)


def energy_level(text: str) -> str:
    """``high``, ``medium`` or ``low`` as typed (any case); QueryError otherwise."""
    level = text.strip().lower()
    if level not in ENERGY_LEVELS:
        raise QueryError(f"energy:{text} is not an energy level (energy:low, medium or high)")
    return level


_NAME = re.compile(r'(?<!\S)(title|artist|album|file|name):(?:"([^"]*)"|(\S*))', re.IGNORECASE)
NAME_FIELDS = ("title", "artist", "album", "file", "name")


def _filters(text: str):
    """(the text without them, tempo range, key, names) of ``bpm:90-110``, ``key:Am`` and
    ``artist:maxstack`` words."""
    names = []
    for found in reversed(list(_NAME.finditer(text))):
        value = normalise(found[2] if found[2] is not None else found[3])
        if not value:
            raise QueryError(f"{found[1].lower()}: needs a word, e.g. {found[1].lower()}:rain")
        names.insert(0, (found[1].lower(), value))
        text = text[: found.start()] + " " + text[found.end() :]
    tempo = key = None
    found = _TEMPO.search(text)
    if found:
        tempo = _tempo_range(found[1])
        text = text[: found.start()] + " " + text[found.end() :]
    found = _KEY.search(text)
    if found:
        from cuefinder.descriptors import parse_key

        written = found[1].replace("-", " ") + (" " + found[2] if found[2] else "")
        try:
            key = parse_key(written)
        except ValueError as err:
            raise QueryError(str(err)) from None
        text = text[: found.start()] + " " + text[found.end() :]
    energy = None
    found = _ENERGY.search(text)
    if found:
        energy = energy_level(found[1])
        text = text[: found.start()] + " " + text[found.end() :]
    return text, tempo, key, names, energy


def _tempo_range(value: str) -> tuple[float, float]:
    """bpm:90-110 -> (90, 110); bpm:120 -> within 5%."""
    try:
        parts = [float(p) for p in value.split("-")]
    except ValueError:
        parts = []
    if len(parts) == 1 and 0 < parts[0] <= 1000:
        return parts[0] * 0.95, parts[0] * 1.05
    if len(parts) == 2 and 0 < parts[0] <= parts[1] <= 1000:
        return parts[0], parts[1]
    raise QueryError(f"bpm:{value} is not a tempo range (e.g. bpm:90-110, or bpm:120)")


MINUS = "\u2212"  # a typographic minus excludes as "-" does (the CLI passes "-word" so)


def _tokens(text: str) -> list[str]:
    text = re.sub(r"[,;+&]", " ", (text or "").replace(MINUS, "-"))
    return [
        t
        for t in (
            normalise(w) if not w.startswith("-") else "-" + normalise(w[1:]) for w in text.split()
        )
        if t and t != "-"
    ]


def _strip_weight(token: str) -> str:
    found = _WEIGHTED.match(token)
    return found["word"] if found else token


def match_phrase(tokens: list[str], start: int, words: dict[str, str]):
    """Longest phrase (up to 3 tokens) at ``start``: (tokens used, genre, weight or None).

    A ``word:0.3`` weight must be in (0, MAX_WEIGHT] (QueryError otherwise); the free-text
    reader uses this too, so both read a weighted word the same way.
    """
    for span in (3, 2, 1):
        if start + span > len(tokens):
            continue
        parts = tokens[start : start + span]
        parts = [parts[0].lstrip("-"), *parts[1:]]
        last = _WEIGHTED.match(parts[-1])
        if last:
            parts[-1] = last["word"]
        phrase = " ".join(parts)
        genre = words.get(phrase) or words.get(phrase.replace(" ", ""))
        if genre:  # the weight is read (and checked) for the phrase that names a genre
            return span, genre, _weight(last["weight"], phrase) if last else None
    return 1, None, None


def _did_you_mean(word: str, words: dict[str, str]) -> str:
    """ "; did you mean 'Horror'?" for a near miss of a genre, synonym or tag, else ""."""
    import difflib

    close = difflib.get_close_matches(word, list(words), n=1, cutoff=0.75)
    return f"; did you mean '{words[close[0]]}'?" if close else ""


def _weight(text: str, word: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise QueryError(f"weight of '{word}' must be a number, got '{text}'") from None
    if not 0 < value <= MAX_WEIGHT:
        raise QueryError(f"weight of '{word}' must be in (0, {MAX_WEIGHT:g}], got {text}")
    return value


def _merge(terms: list[Term]) -> tuple[Term, ...]:
    merged: dict[str, Term] = {}
    for term in terms:
        prior = merged.get(term.genre)
        if prior and prior.exclude != term.exclude:
            raise QueryError(f"'{term.genre}' is both wanted and excluded")
        weight = term.weight + (prior.weight if prior else 0.0)
        merged[term.genre] = Term(term.genre, min(weight, MAX_WEIGHT), term.exclude)
    return tuple(merged.values())
