"""Genre queries: parse ``romance comedy -action horror:0.3`` and rank catalog tracks by it.

Vocabulary follows the model: each of its genres is a term under its own name,
plus the everyday words in ``SYNONYMS`` that point to it. A query is a list of
terms; ``-term`` excludes, ``term:0.3`` weights, and words such as "a little"
or "no" do the same in plain English.

Ranking. Raw probabilities are not comparable across genres (a common genre
scores high everywhere), so each genre's track score is turned into its
percentile within the catalog: "more romantic than 92% of your tracks". A
track's score is the weighted sum of its wanted genres' percentiles minus its
excluded ones', divided by the sum of wanted weights, so 1.0 means "top of the
catalog on every wanted genre and bottom on every excluded one". Each genre's
signed share of that sum is its contribution: why the track matched.
The best-fitting segment is the window (30 s by default) whose segments score
highest on the same query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from cuefinder.catalog import Catalog, ScoreTable, StoredModel
from cuefinder.errors import QueryError

SYNONYMS: dict[str, tuple[str, ...]] = {
    "Action": ("fight", "fighting", "chase", "battle", "combat", "explosive", "energetic"),
    "Adventure": ("adventurous", "quest", "journey", "exploration", "expedition", "epic"),
    "Animation": ("animated", "cartoon", "anime"),
    "Biography": ("biopic", "biographical"),
    "Comedy": (
        "comic",
        "comedic",
        "funny",
        "humor",
        "humour",
        "humorous",
        "silly",
        "quirky",
        "lighthearted",
        "light hearted",
        "playful",
        "goofy",
    ),
    "Crime": ("heist", "gangster", "gangsters", "mafia", "detective", "criminal", "noir"),
    "Documentary": ("doc", "nonfiction"),
    "Drama": (
        "dramatic",
        "sad",
        "emotional",
        "melancholy",
        "melancholic",
        "tragic",
        "tragedy",
        "moving",
        "sombre",
        "somber",
    ),
    "Family": ("kids", "children", "childrens", "child", "wholesome", "family friendly"),
    "Fantasy": (
        "magic",
        "magical",
        "fairy tale",
        "fairytale",
        "medieval",
        "enchanted",
        "mythic",
        "sword and sorcery",
    ),
    "History": ("historical", "period", "period piece"),
    "Horror": (
        "scary",
        "creepy",
        "spooky",
        "frightening",
        "terror",
        "terrifying",
        "eerie",
        "haunted",
        "slasher",
        "ghost",
        "ghosts",
        "sinister",
    ),
    "Music": ("musician",),
    "Musical": ("song and dance",),
    "Mystery": ("mysterious", "whodunit", "whodunnit", "enigmatic", "puzzle", "intrigue"),
    "Romance": ("romantic", "love", "love story", "tender", "passion", "passionate", "romcom"),
    "Sci-Fi": (
        "scifi",
        "science fiction",
        "space",
        "futuristic",
        "future",
        "cyberpunk",
        "alien",
        "aliens",
        "robot",
        "robots",
        "outer space",
    ),
    "Sport": ("sports", "sporting"),
    "Thriller": ("suspense", "suspenseful", "tense", "tension", "thrilling", "nervous"),
    "War": ("war film", "war movie", "military", "battlefield", "soldiers", "army", "wartime"),
    "Western": ("cowboy", "cowboys", "wild west"),
}

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
WINDOW_SECONDS = 30.0
_WEIGHTED = re.compile(r"^(?P<word>.*?):(?P<weight>[^:]*)$")


@dataclass(frozen=True)
class Term:
    genre: str
    weight: float = 1.0
    exclude: bool = False


@dataclass(frozen=True)
class GenreQuery:
    terms: tuple[Term, ...]

    @property
    def wanted(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.exclude)

    def __str__(self) -> str:
        return " ".join(f"{'-' if t.exclude else ''}{t.genre}:{t.weight:g}" for t in self.terms)


@dataclass
class Result:
    """One ranked track."""

    id: int
    path: str
    score: float
    genres: dict[str, float]  # each query genre's signed contribution to score
    probabilities: dict[str, float]  # the model's track-level probability per query genre
    segment: dict[str, float]  # best-fitting window: start, end (seconds)
    duration: float
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        out.update(self.extra)
        return out


def normalise(text: str) -> str:
    """Lower case, hyphens and underscores as spaces, single spaces."""
    return " ".join(re.sub(r"[-_/]", " ", text.lower()).split())


def vocabulary(genres: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Every term the model's genres answer to -> its genre."""
    words: dict[str, str] = {}
    for genre in genres:
        words[normalise(genre)] = genre
        words[normalise(genre).replace(" ", "")] = genre
        for synonym in SYNONYMS.get(genre, ()):
            words.setdefault(normalise(synonym), genre)
    return words


def parse(text: str, genres: tuple[str, ...] | list[str]) -> GenreQuery:
    """Parse a query against the model's genres; QueryError names the problem."""
    words = vocabulary(genres)
    vocab = sorted(genres)
    tokens = _tokens(text)
    if not tokens:
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
        span, genre, explicit = _match(tokens, i, words)
        if genre is None:
            if bare in FILLER:
                i += 1
                continue
            raise QueryError(f"unknown genre '{_strip_weight(bare)}'", vocab)
        terms.append(Term(genre, weight * (explicit or 1.0), exclude or sign))
        i, weight, exclude = i + span, 1.0, False
    if not terms:
        raise QueryError(f"no genre in query '{text}'", vocab)
    return GenreQuery(_merge(terms))


def _tokens(text: str) -> list[str]:
    text = re.sub(r"[,;+&]", " ", text or "")
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


def _match(tokens: list[str], start: int, words: dict[str, str]):
    """Longest phrase (up to 3 tokens) at ``start``: (tokens used, genre, weight or None)."""
    for span in (3, 2, 1):
        if start + span > len(tokens):
            continue
        parts = tokens[start : start + span]
        parts = [parts[0].lstrip("-"), *parts[1:]]
        last = _WEIGHTED.match(parts[-1])
        weight = None
        if last:
            parts[-1] = last["word"]
            weight = _weight(last["weight"], " ".join(parts))
        phrase = " ".join(parts)
        genre = words.get(phrase) or words.get(phrase.replace(" ", ""))
        if genre:
            return span, genre, weight
    return 1, None, None


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


# -- ranking ------------------------------------------------------------------


def percentiles(scores: np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each value within its column: (n, g) -> (n, g) in (0, 1)."""
    from scipy.stats import rankdata

    if len(scores) == 0:
        return scores.copy()
    return (rankdata(scores, axis=0) - 0.5) / len(scores)


def rank(
    table: ScoreTable,
    query: GenreQuery,
    *,
    limit: int = 10,
    min_duration: float | None = None,
    max_duration: float | None = None,
) -> list[tuple[int, float, dict[str, float]]]:
    """Top ``limit`` rows of ``table``: (row, score, contribution per query genre)."""
    columns = [table.model.genres.index(t.genre) for t in query.terms]
    signs = np.array([-t.weight if t.exclude else t.weight for t in query.terms])
    scale = sum(t.weight for t in query.wanted) or sum(t.weight for t in query.terms)
    shares = percentiles(table.scores[:, columns]) * signs / scale  # (n, terms)
    if not query.wanted:
        shares = shares + np.array([t.weight for t in query.terms]) / scale  # 1 - pct
    total = shares.sum(axis=1)
    keep = np.ones(len(total), bool)
    if min_duration is not None:
        keep &= table.durations >= min_duration
    if max_duration is not None:
        keep &= table.durations <= max_duration
    order = [int(i) for i in np.argsort(-total, kind="stable") if keep[i]][:limit]
    return [
        (i, float(total[i]), {t.genre: float(shares[i, k]) for k, t in enumerate(query.terms)})
        for i in order
    ]


def best_window(
    segment_scores: np.ndarray,
    table_scores: np.ndarray,
    columns: list[int],
    signs: np.ndarray,
    windows: int,
) -> int:
    """Index of the first segment of the best ``windows``-segment run for the query."""
    if len(segment_scores) <= windows:
        return 0
    sorted_cols = np.sort(table_scores[:, columns], axis=0)  # (tracks, terms)
    pct = np.column_stack(
        [
            np.searchsorted(sorted_cols[:, k], segment_scores[:, c]) / max(len(sorted_cols), 1)
            for k, c in enumerate(columns)
        ]
    )
    per_segment = pct @ signs  # (segments,)
    run = np.convolve(per_segment, np.ones(windows), mode="valid")
    return int(np.argmax(run))


def search(
    query: str | GenreQuery,
    catalog: Catalog | None = None,
    *,
    limit: int = 10,
    min_duration: float | None = None,
    max_duration: float | None = None,
    window_seconds: float = WINDOW_SECONDS,
) -> list[Result]:
    """Rank the catalog's tracks for a genre query."""
    if limit < 1:
        raise QueryError(f"limit must be at least 1, got {limit}")
    catalog = catalog or Catalog(create=False)
    model = _model(catalog)
    if isinstance(query, str):
        query = parse(query, model.genres)
    table = catalog.score_table(model)
    hits = rank(table, query, limit=limit, min_duration=min_duration, max_duration=max_duration)
    columns = [model.genres.index(t.genre) for t in query.terms]
    signs = np.array([-t.weight if t.exclude else t.weight for t in query.terms])
    return [
        _result(catalog, table, row, score, shares, columns, signs, window_seconds)
        for row, score, shares in hits
    ]


def _model(catalog: Catalog) -> StoredModel:
    model = catalog.active_model()
    if model is None:
        raise QueryError(f"catalog {catalog.path} is empty: run 'cuefinder index FOLDER' first")
    return model


def _result(catalog, table, row, score, shares, columns, signs, window_seconds) -> Result:
    track = catalog.track(int(table.ids[row]))
    windows = max(1, int(round(window_seconds / track.segment_seconds)))
    first = best_window(track.segment_scores, table.scores, columns, signs, windows)
    start = first * track.segment_seconds
    end = min(track.duration, (first + windows) * track.segment_seconds)
    return Result(
        id=track.id,
        path=track.path,
        score=round(score, 4),
        genres={g: round(v, 4) for g, v in shares.items()},
        probabilities={track.genres[c]: round(float(track.track_scores[c]), 4) for c in columns},
        segment={"start": round(start, 2), "end": round(end, 2)},
        duration=round(track.duration, 2),
        title=track.title,
        artist=track.artist,
        album=track.album,
    )
