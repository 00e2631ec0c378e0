"""Label a folder of film-soundtrack albums with their films' IMDb genres.

An album is a folder of audio files (``Disc 1``/``CD 2`` sub-folders belong to
their parent), named by its tracks' common album tag or else by the folder. The
name is cleaned of soundtrack words (``OST``, ``Original Motion Picture Score``,
``Bande originale``, ``Deluxe Edition``, ``Disc 1``...) and a year in brackets,
then looked up in IMDb's ``title.basics.tsv.gz`` by a normalised title (primary
or original), the year settling remakes. Nothing is guessed: an album that fits
several titles is reported as ambiguous, and a mapping file (``album,film_id``)
settles it. The IMDb file is streamed, never loaded whole.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import unicodedata
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cuefinder.datasets.manifest import Album, csv_reader
from cuefinder.errors import DatasetError

IMDB_HEADER = ("tconst", "titleType", "primaryTitle", "originalTitle", "isAdult",
               "startYear", "endYear", "runtimeMinutes", "genres")  # fmt: skip
KEPT_TYPES = frozenset({"movie", "tvMovie", "video", "tvSpecial", "tvMiniSeries", "tvSeries"})
STATUSES = ("matched", "mapped", "ambiguous", "unmatched")
YEAR_SLACK = 1  # a parsed year matches films released this many years either side
NULL = "\\N"

_ARTICLES = frozenset({"the", "a", "an", "le", "la", "les", "der", "die", "das", "den", "el",
                       "il", "lo", "los", "las", "gli", "un", "une", "uno", "una", "ein",
                       "eine"})  # fmt: skip
_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8",
          "ix": "9", "x": "10"}  # fmt: skip
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'", "\u02bc": "'"})
_YEAR = r"(?:18[89]\d|19\d\d|20\d\d)"
_NOISE_PHRASES = (
    # "Original Motion Picture Soundtrack", "Score", "OST", "O.S.T.", "The Complete Score"
    r"(?:the\s+)?(?:(?:complete|original|official)\s+)*"
    r"(?:(?:motion\s+picture|film|movie|television|tv|series|netflix)\s+)?"
    r"(?:soundtracks?|scores?|ost|o\.s\.t\.?)(?:\s+(?:album|recordings?))?",
    # "Music from the Motion Picture", "Music From and Inspired By", "Songs from the Film"
    r"(?:original\s+)?(?:music|songs)\s+(?:from\s+and\s+inspired\s+by|inspired\s+by|from)"
    r"(?:\s+the)?(?:\s+original)?\s+(?:motion\s+picture|film|movie|series|soundtrack)"
    r"(?:\s+(?:soundtrack|score))?",
    r"(?:original\s+)?(?:music|songs)\s+(?:from\s+and\s+inspired\s+by|inspired\s+by)",
    r"original\s+(?:motion\s+picture\s+|film\s+)?music|(?:motion\s+picture|film)\s+music",
    r"colonna\s+sonora(?:\s+originale)?(?:\s+(?:del|dal)\s+film)?",
    r"banda\s+sonora(?:\s+original)?(?:\s+de\s+la\s+pel[ií]cula)?",
    r"trilha\s+sonora(?:\s+original)?",
    r"(?:la\s+)?bande\s+originale(?:\s+du\s+film)?",
    r"musique\s+(?:originale\s+)?d[ue]\s+film|b\.o\.f\.?|bof",
    r"(?:original\s+)?filmmusik|(?:original\s+)?soundtrack\s+zum\s+film",
    r"(?:\d+(?:st|nd|rd|th)\s+)?(?:(?:anniversary|deluxe|expanded|special|limited|collector'?s"
    r"|remastered|definitive|extended|complete|super)\s+)+(?:edition|version|release|set)",
    r"deluxe|expanded|remaster(?:ed)?(?:\s+" + _YEAR + r")?|" + _YEAR + r"\s+remaster(?:ed)?",
    r"(?:dis[ck]|cd)\s*(?:\d+|one|two|three|four)(?:\s*(?:of|/)\s*\d+)?|\d+cds?|\d+\s+cds",
)
_NOISE = r"(?<!\w)(?:" + "|".join(_NOISE_PHRASES) + r")(?!\w)"
_SEP = r"\s*[:\-\u2013\u2014,/|~]\s*"
_TRAILING_NOISE = re.compile(rf"(?:^|{_SEP}|\s+){_NOISE}[\s:\-\u2013\u2014,/|~.]*$", re.I)
_LEADING_NOISE = re.compile(rf"^\s*{_NOISE}(?:{_SEP}|\s+)", re.I)
_TRAILING_YEAR = re.compile(rf"(?:\s+[\-\u2013\u2014/|~]|,)\s*({_YEAR})\s*$")
_LEADING_YEAR = re.compile(rf"^\s*({_YEAR})\s+[\-\u2013\u2014|~]\s+")
_BRACKETS = re.compile(r"[(\[{]([^()\[\]{}]*)[)\]}]")
_BRACKET_YEAR = re.compile(rf"\s*({_YEAR})(?:\s+(?:film|movie))?\s*", re.I)
_BRACKET_NOISE = re.compile(
    r"(?<!\w)(?:soundtracks?|scores?|ost|o\.s\.t|original|music|musique|musik|filmmusik"
    r"|editions?|remaster(?:ed)?|deluxe|expanded|bande|colonna|banda|trilha|b\.o\.f|bof"
    r"|version|anniversary|motion\s+picture|complete|(?:dis[ck]|cd)\s*\d+|\d+\s*cds?)(?!\w)",
    re.I,
)
_SEGMENTS = re.compile(r"\s*:\s*|\s+[\-\u2013\u2014]\s+")
_TT = re.compile(r"tt\d+")


@dataclass(frozen=True)
class Film:
    """One title of IMDb's title.basics file."""

    film_id: str
    title: str
    original_title: str
    year: int | None
    title_type: str
    genres: tuple[str, ...]


@dataclass(frozen=True)
class AlbumName:
    """A film title (and year, when the name gives one) parsed from an album's name."""

    title: str
    year: int | None


@dataclass(frozen=True)
class Match:
    """An album's film; candidates are the fitting titles (for unmatched: suggestions)."""

    album: Album
    film: Film | None
    candidates: tuple[Film, ...]
    status: str  # "matched" | "mapped" | "ambiguous" | "unmatched"
    note: str = ""  # where the album tag and the folder's name disagree, what was done


def normalise_title(text: str) -> str:
    """A title reduced for comparison: ``"Le Destin d'Amélie II"`` -> ``"destin damelie 2"``."""
    return _normalise(text, drop_article=True)


def _normalise(text: str, *, drop_article: bool) -> str:
    """Casefold, strip accents and punctuation, roman numerals to digits, maybe drop an article."""
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("&", " and ")
    if drop_article:
        text = re.sub(r"^\W*l'(?=\w)", "", text)
    text = re.sub(r"(?<=\b\w)\.(?=\w\b)", "", text.replace("'", ""))  # E.T. -> ET
    words = [_ROMAN.get(w, w) for w in re.sub(r"[\W_]+", " ", text).split()]
    if drop_article and len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    return " ".join(words)


def parse_album_name(text: str) -> AlbumName:
    """Film title and year from an album name: ``"Jaws (1975) [OST]"`` -> ``("Jaws", 1975)``."""
    year, original = None, text
    text = " ".join(text.replace("_", " ").split())
    for _ in range(3):  # brackets inside brackets: innermost first
        text, found = _drop_brackets(text)
        year = year or found
    text, found = _strip_ends(" ".join(text.split()))
    title = text.strip(" -\u2013\u2014:,/|~") or original.strip()
    return AlbumName(title, year or found)


def _drop_brackets(text: str) -> tuple[str, int | None]:
    """Remove bracketed years and soundtrack words; keep other bracketed text, unbracketed."""
    years: list[int] = []

    def replace(found: re.Match) -> str:
        inner = found.group(1)
        if year := _BRACKET_YEAR.fullmatch(inner):
            years.append(int(year.group(1)))
            return " "
        return " " if _BRACKET_NOISE.search(inner) or not inner.strip() else f" {inner} "

    return _BRACKETS.sub(replace, text), (years[0] if years else None)


def _strip_ends(text: str) -> tuple[str, int | None]:
    """Strip soundtrack words and a separated year from both ends while a title remains."""
    year = None
    while True:
        for pattern in (_TRAILING_YEAR, _TRAILING_NOISE, _LEADING_YEAR, _LEADING_NOISE):
            found = pattern.search(text)
            rest = text[: found.start()] + text[found.end() :] if found else ""
            if found and _is_title(rest):
                if pattern in (_TRAILING_YEAR, _LEADING_YEAR):
                    year = year or int(found.group(1))
                text = rest.strip()
                break
        else:
            return text, year


def _is_title(text: str) -> bool:
    """True when text still holds a title (not only punctuation or an article)."""
    words = _normalise(text, drop_article=False)
    return bool(words) and words not in _ARTICLES


def read_films(imdb_path: Path, wanted: set[str]) -> dict[str, list[Film]]:
    """Films of the kept title types whose normalised primary or original title is wanted."""
    return _scan(Path(imdb_path), wanted, set())[0]


def _scan(
    path: Path, wanted: set[str], ids: set[str]
) -> tuple[dict[str, list[Film]], dict[str, Film]]:
    """One streaming pass: films by wanted normalised title, and films by wanted id (any type)."""
    by_title: dict[str, list[Film]] = defaultdict(list)
    by_id: dict[str, Film] = {}
    for row in _rows(path):
        if row[0] in ids:
            by_id[row[0]] = _film(row)
        if row[1] not in KEPT_TYPES:
            continue
        keys = {normalise_title(row[2])}
        if row[3] != row[2]:
            keys.add(normalise_title(row[3]))
        keys &= wanted
        if keys:
            film = _film(row)
            for key in keys:
                by_title[key].append(film)
    return dict(by_title), by_id


def _rows(path: Path) -> Iterator[list[str]]:
    """The data rows of a title.basics file (gzipped or not), skipping rows of the wrong width."""
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, None)
            if header is None or tuple(header) != IMDB_HEADER:
                raise DatasetError(f"{path}: not an IMDb title.basics file (header {header!r})")
            yield from (row for row in reader if len(row) == len(IMDB_HEADER))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, zlib.error) as err:
        raise DatasetError(f"{path}: cannot read the IMDb file ({err})") from err


def _open_text(path: Path) -> io.TextIOBase:
    """A text stream of the file, unzipped on the fly when it is gzip."""
    with open(path, "rb") as handle:
        zipped = handle.read(2) == b"\x1f\x8b"
    if zipped:
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _film(row: list[str]) -> Film:
    """A Film from a title.basics row (``\\N`` genres give an empty tuple)."""
    year = int(row[5]) if row[5].isdigit() else None
    genres = () if row[8] == NULL else tuple(g for g in row[8].split(",") if g)
    return Film(row[0], row[2], row[3], year, row[1], genres)


def match_albums(
    albums: Sequence[Album], imdb_path: Path, mapping: Mapping[str, str] | None = None
) -> list[Match]:
    """Each album's film: from the mapping when it names the album, else by title and year."""
    mapping = mapping or {}
    names = {a.key: parse_album_name(a.name) for a in albums}
    folders = {a.key: parse_album_name(f) for a in albums if (f := _other_folder_name(a))}
    wanted = {key for name in [*names.values(), *folders.values()]
              for key, _ in _lookups(name) + _suggestions(name)}  # fmt: skip
    by_title, by_id = _scan(Path(imdb_path), wanted, set(mapping.values()))
    if missing := sorted(set(mapping.values()) - set(by_id)):
        raise DatasetError(f"{imdb_path}: mapped film ids not in the file: {', '.join(missing)}")
    matches = []
    for album in albums:
        found = _match(album, names[album.key], by_title, by_id, mapping)
        if album.key in folders and found.status != "mapped":
            found = _with_folder(found, _match(album, folders[album.key], by_title, by_id, {}))
        matches.append(found)
    return matches


def _other_folder_name(album: Album) -> str | None:
    """The album's folder name when its album tag named it otherwise (else None)."""
    folder = Path(album.key.split("::")[0]).name
    return folder if folder and folder != album.name else None


def _with_folder(by_tag: Match, by_folder: Match) -> Match:
    """The album tag's match, the folder's where the tag found no film; a disagreement
    between two matches is kept (the tag's) and reported."""
    folder = Path(by_tag.album.key.split("::")[0]).name
    if by_tag.status != "matched" and by_folder.status == "matched":
        note = (f"matched by its folder {folder!r}; its album tag {by_tag.album.name!r} "
                f"was {by_tag.status}")  # fmt: skip
        return Match(by_tag.album, by_folder.film, by_folder.candidates, "matched", note)
    if by_tag.status == by_folder.status == "matched" and by_tag.film != by_folder.film:
        note = (f"its album tag names {_describe(by_tag.film)}, its folder {folder!r} names "
                f"{_describe(by_folder.film)}; the tag's was used")  # fmt: skip
        return Match(by_tag.album, by_tag.film, by_tag.candidates, "matched", note)
    return by_tag


def _match(
    album: Album,
    name: AlbumName,
    by_title: Mapping[str, list[Film]],
    by_id: Mapping[str, Film],
    mapping: Mapping[str, str],
) -> Match:
    """One album's Match; the mapping wins, then the first lookup that finds candidates."""
    film_id = mapping.get(album.key) or mapping.get(album.name)
    if film_id:
        film = by_id[film_id]
        if not film.genres:
            raise DatasetError(f"{album.name!r} is mapped to {film_id}, which has no genres")
        return Match(album, film, (film,), "mapped")
    for key, year in _lookups(name):
        found = _candidates(by_title.get(key, []), year)
        if found:
            best = _narrow(found, name.title)
            if len(best) == 1:
                return Match(album, best[0], found, "matched")
            return Match(album, None, found, "ambiguous")
    hints = [
        f for key, year in _suggestions(name) for f in _candidates(by_title.get(key, []), year)
    ]
    return Match(album, None, _unique(hints), "unmatched")


def _lookups(name: AlbumName) -> list[tuple[str, int | None]]:
    """Title keys to try in turn: the title, then (``"Dune 2021"``) the title less a bare year."""
    keys = [(normalise_title(name.title), name.year)]
    bare = re.fullmatch(rf"(.*\w)[\s.]+({_YEAR})", name.title)
    if name.year is None and bare:
        keys.append((normalise_title(bare.group(1)), int(bare.group(2))))
    return [k for k in keys if k[0]]


def _suggestions(name: AlbumName) -> list[tuple[str, int | None]]:
    """Keys of the parts of a title (``"Star Wars: Episode IV - A New Hope"``), for hints only."""
    parts = [p for p in _SEGMENTS.split(name.title) if p.strip()]
    keys = [(normalise_title(p), name.year) for p in parts] if len(parts) > 1 else []
    return [k for k in keys if k[0]]


def _candidates(films: Sequence[Film], year: int | None) -> tuple[Film, ...]:
    """Usable films (with genres) within the year slack, sorted by year and id."""
    fit = [f for f in films if f.genres]
    if year is not None:
        fit = [f for f in fit if f.year is not None and abs(f.year - year) <= YEAR_SLACK]
    return _unique(sorted(fit, key=lambda f: (f.year or 0, f.film_id)))


def _unique(films: Sequence[Film]) -> tuple[Film, ...]:
    """Films without repeats, first occurrence kept."""
    seen: dict[str, Film] = {}
    for film in films:
        seen.setdefault(film.film_id, film)
    return tuple(seen.values())


def _narrow(films: Sequence[Film], title: str) -> list[Film]:
    """Prefer titles equal even with their article kept, then feature films (``movie``)."""
    loose = _normalise(title, drop_article=False)
    exact = [f for f in films if loose in _loose_titles(f)]
    films = exact or list(films)
    movies = [f for f in films if f.title_type == "movie"]
    return movies or films


def _loose_titles(film: Film) -> set[str]:
    """A film's titles normalised with their leading article kept."""
    return {_normalise(t, drop_article=False) for t in (film.title, film.original_title)}


def read_mapping(path: Path) -> dict[str, str]:
    """Album key or name -> film id from a CSV with header ``album,film_id``."""
    path = Path(path)
    reader = csv_reader(path, "mapping")
    header = [h.strip().casefold() for h in next(reader, [])]
    if header != ["album", "film_id"]:
        raise DatasetError(f"{path}:1: expected header album,film_id")
    mapping: dict[str, str] = {}
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        album, film_id = _mapping_row(path, reader.line_num, row)
        if mapping.get(album, film_id) != film_id:
            raise DatasetError(f"{path}:{reader.line_num}: {album!r} is mapped twice")
        mapping[album] = film_id
    return mapping


def _mapping_row(path: Path, line: int, row: list[str]) -> tuple[str, str]:
    """One mapping row checked: two fields, an album and an id like ``tt0073195``."""
    if len(row) != 2:
        raise DatasetError(f"{path}:{line}: expected 2 fields (album,film_id), got {len(row)}")
    album, film_id = row[0].strip(), row[1].strip()
    if not album or not _TT.fullmatch(film_id):
        raise DatasetError(f"{path}:{line}: need an album and an IMDb id like tt0073195")
    return album, film_id


def summarise(matches: Sequence[Match]) -> str:
    """A report: counts per status, then the ambiguous and unmatched albums and what to do."""
    counts = Counter(m.status for m in matches)
    albums = f"{len(matches)} album{'' if len(matches) == 1 else 's'}"
    lines = [f"{albums}: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES)]
    for status, heading in (
        ("ambiguous", "Ambiguous (several IMDb titles fit, none was guessed):"),
        ("unmatched", "Unmatched (no IMDb title fits):"),
    ):
        todo = [m for m in matches if m.status == status]
        if todo:
            lines += ["", heading] + [line for m in todo for line in _report(m)]
    noted = [m for m in matches if m.note]
    if noted:
        lines += ["", "Album tag and folder name disagree:"]
        lines += [f'  "{m.album.key}": {m.note}' for m in noted]
    if counts["ambiguous"] or counts["unmatched"]:
        lines += ["", "To label these albums, add rows to a mapping file (CSV with the header",
                  "album,film_id) naming each album as quoted above and its IMDb id, for example",
                  "\"Dune OST\",tt1160419 -- and pass the file with --mapping."]  # fmt: skip
    return "\n".join(lines)


def _report(match: Match) -> list[str]:
    """Lines for one album: its key, name and its candidates (suggestions when unmatched)."""
    head = f'  "{match.album.key}"'
    if match.album.name != Path(match.album.key).name:
        head += f"  (album {match.album.name!r})"
    prefix = "maybe " if match.status == "unmatched" else ""
    return [head] + [f"      {prefix}{_describe(f)}" for f in match.candidates]


def _describe(film: Film) -> str:
    """``tt1160419  Dune: Part One / Dune (2021, movie)``."""
    title = film.title
    if film.original_title != film.title:
        title += f" / {film.original_title}"
    return f"{film.film_id}  {title} ({film.year or '?'}, {film.title_type})"
