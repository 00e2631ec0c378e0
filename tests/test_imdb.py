"""IMDb labels for soundtrack albums: names parsed, titles matched on a real title.basics excerpt.

``data/imdb/title.basics.excerpt.tsv.gz`` holds real rows of IMDb's title.basics file in its
exact format (``data/imdb/title.basics.excerpt.tsv`` is the same text, unzipped, to read).
Album folders are made of copies of a real Ogg Vorbis track.
"""

from __future__ import annotations

import gzip
import shutil
import time
import tracemalloc
from pathlib import Path

import mutagen
import pytest

from cuefinder.datasets.albums import Album, build_manifest, find_albums
from cuefinder.datasets.imdb import (
    AlbumName,
    Film,
    Match,
    match_albums,
    normalise_title,
    parse_album_name,
    read_films,
    read_mapping,
    summarise,
)
from cuefinder.datasets.manifest import read_manifest, write_manifest
from cuefinder.errors import DatasetError

DATA = Path(__file__).parent / "data" / "imdb"
EXCERPT = DATA / "title.basics.excerpt.tsv.gz"
HEADER = "tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\truntimeMinutes\tgenres"  # noqa: E501
JAWS, JAWS_2, DARK_KNIGHT, AMELIE = "tt0073195", "tt0077766", "tt0468569", "tt0211915"
DUNE_1984, DUNE_2021, ROCKY_2, STAR_WARS = "tt0087182", "tt1160419", "tt0079817", "tt0076759"


def match(name: str, mapping: dict[str, str] | None = None, imdb: Path = EXCERPT) -> Match:
    """The match of one track-less album named ``name`` (its key is the name too)."""
    return match_albums([Album(name, name, ())], imdb, mapping)[0]


def ids(films: tuple[Film, ...]) -> list[str]:
    return [f.film_id for f in films]


def write_gz(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


# --- album names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, title, year",
    [
        ("Jaws (1975) [Original Motion Picture Soundtrack]", "Jaws", 1975),
        ("The Dark Knight OST", "The Dark Knight", None),
        ("The Dark Knight O.S.T.", "The Dark Knight", None),
        ("Amélie - Bande originale", "Amélie", None),
        ("Amélie (Bande Originale du Film)", "Amélie", None),
        ("Amélie - B.O.F.", "Amélie", None),
        ("Blade Runner 2049 - Original Motion Picture Soundtrack", "Blade Runner 2049", None),
        ("Dune 2021", "Dune 2021", None),  # a bare number stays in the title
        ("1917 (Original Motion Picture Soundtrack)", "1917", None),
        ("Dune (2021) [Deluxe Edition]", "Dune", 2021),
        ("Psycho [1998]", "Psycho", 1998),
        ("The Thing (1982 Film)", "The Thing", 1982),
        ("Jaws - 1975", "Jaws", 1975),
        ("1975 - Jaws", "Jaws", 1975),
        ("Jaws_(1975)_OST", "Jaws", 1975),
        (
            "Star Wars: Episode IV - A New Hope (Original Soundtrack)",
            "Star Wars: Episode IV - A New Hope",
            None,
        ),
        ("Music from the Motion Picture Gladiator", "Gladiator", None),
        ("Gladiator: Music From The Motion Picture", "Gladiator", None),
        ("Spider-Man: Music From and Inspired By", "Spider-Man", None),
        ("Gladiator (Music From The Motion Picture) [Deluxe Edition] (Disc 2)", "Gladiator", None),
        ("Star Wars (Remastered 2004)", "Star Wars", None),  # a remaster's year is not the film's
        ("Jaws [Original Motion Picture Soundtrack (Deluxe)]", "Jaws", None),
        ("Jaws (The Complete Score)", "Jaws", None),
        ("Jaws Original Score", "Jaws", None),
        ("Jaws Soundtrack", "Jaws", None),
        ("Jaws: 25th Anniversary Edition", "Jaws", None),
        ("Jaws (Expanded)", "Jaws", None),
        ("Jaws Disc 1", "Jaws", None),
        ("Jaws CD2", "Jaws", None),
        ("Jaws (2CD)", "Jaws", None),
        ("Nuovo Cinema Paradiso - Colonna sonora originale", "Nuovo Cinema Paradiso", None),
        ("El laberinto del fauno (Banda sonora original)", "El laberinto del fauno", None),
        ("Das Boot Filmmusik", "Das Boot", None),
        ("Rocky II - Original Motion Picture Score", "Rocky II", None),
        ("The Score (Original Soundtrack)", "The Score", None),  # the film's title stays
        ("The Sound of Music", "The Sound of Music", None),
        ("Soundtrack", "Soundtrack", None),  # nothing but a soundtrack word: kept
        (
            "Birdman or (The Unexpected Virtue of Ignorance) (Original Motion Picture Soundtrack)",
            "Birdman or The Unexpected Virtue of Ignorance",
            None,
        ),
    ],
)
def test_parse_album_name(text, title, year):
    assert parse_album_name(text) == AlbumName(title, year)


@pytest.mark.parametrize(
    "a, b",
    [
        ("Rocky II", "Rocky 2"),
        ("Star Wars: Episode IV - A New Hope", "star wars episode 4 a new hope"),
        ("Amélie", "AMELIE"),
        ("Les Misérables", "Miserables"),
        ("Le fabuleux destin d'Amélie Poulain", "Fabuleux Destin d’Amelie Poulain"),
        ("L'Avventura", "Avventura"),
        ("The Dark Knight", "Dark Knight"),
        ("La dolce vita", "Dolce Vita"),
        ("Das Boot", "Boot"),
        ("Fast & Furious", "Fast and Furious"),
        ("E.T. the Extra-Terrestrial", "ET The Extra Terrestrial"),
        ("Schindler's List", "Schindlers List"),
        ("2001: A Space Odyssey", "2001 - a space odyssey"),
    ],
)
def test_normalise_title_equates(a, b):
    assert normalise_title(a) == normalise_title(b)


def test_normalise_title_form():
    assert normalise_title("Le Fabuleux Destin d'Amélie Poulain") == (
        "fabuleux destin damelie poulain"
    )
    assert normalise_title("Rocky II") == "rocky 2"
    assert normalise_title("  The   Thing!! ") == "thing"
    assert normalise_title("The") == "the"  # an article alone is the title
    assert normalise_title("Jaws 2") != normalise_title("Jaws")
    assert normalise_title("The Dark Knight Rises") != normalise_title("The Dark Knight")


# --- the IMDb file ------------------------------------------------------------------------


def test_excerpt_is_the_readable_tsv_zipped():
    with gzip.open(EXCERPT, "rt", encoding="utf-8", newline="") as handle:
        text = handle.read()
    assert text == (DATA / "title.basics.excerpt.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines()]
    assert "\t".join(rows[0]) == HEADER
    assert all(len(row) == 9 for row in rows)


def test_read_films_indexes_primary_and_original_titles():
    wanted = {"dune", "amelie", "fabuleux destin damelie poulain", "pilot", "nothing like it"}
    films = read_films(EXCERPT, wanted)
    amelie = Film(
        AMELIE,
        "Amélie",
        "Le fabuleux destin d'Amélie Poulain",
        2001,
        "movie",
        ("Comedy", "Romance"),
    )
    assert films["amelie"] == [amelie]
    assert films["fabuleux destin damelie poulain"] == [amelie]
    assert ids(tuple(films["dune"])) == [DUNE_1984, DUNE_2021]  # 2021's original title is Dune
    assert "pilot" not in films  # a tvEpisode
    assert set(films) == {"dune", "amelie", "fabuleux destin damelie poulain"}


def test_read_films_reads_an_unzipped_file_too():
    films = read_films(DATA / "title.basics.excerpt.tsv", {"jaws"})
    assert ids(tuple(films["jaws"])) == [JAWS]


def test_read_films_keeps_titles_without_genres_as_empty():
    films = read_films(EXCERPT, {"bohemios"})
    assert films["bohemios"][0].genres == ()


def test_read_films_rejects_a_bad_header(tmp_path):
    bad = write_gz(tmp_path / "names.tsv.gz", ["nconst\tprimaryName", "nm0000001\tFred Astaire"])
    with pytest.raises(DatasetError, match="names.tsv.gz"):
        read_films(bad, {"jaws"})


@pytest.mark.parametrize("content", [b"\x1f\x8b\x08\x00garbage" * 10, b"", b"\xff\xfe\x00bin"])
def test_read_films_rejects_an_unreadable_file(tmp_path, content):
    bad = tmp_path / "title.basics.tsv.gz"
    bad.write_bytes(content)
    with pytest.raises(DatasetError, match="title.basics.tsv.gz"):
        read_films(bad, {"jaws"})


def test_read_films_rejects_a_truncated_gzip(tmp_path):
    whole = EXCERPT.read_bytes()
    cut = tmp_path / "cut.tsv.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError, match="cut.tsv.gz"):
        read_films(cut, {"jaws"})


def test_read_films_rejects_a_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="absent.tsv.gz"):
        read_films(tmp_path / "absent.tsv.gz", {"jaws"})


def test_read_films_streams_a_large_file(tmp_path):
    """200k rows (mostly episodes, like the real file): small memory, the wanted rows found."""
    lines = [HEADER]
    for i in range(200_000):
        kind = "movie" if i % 5 == 0 else "tvEpisode"
        lines.append(
            f"tt{i + 20000000}\t{kind}\tFilm number {i}\tFilm number {i}\t0\t2000\t\\N\t90\tDrama"
        )
    lines.append('tt30000001\tmovie\t"Quoted" Title\t"Quoted" Title\t0\t2015\t\\N\t90\tDrama')
    lines += gzip.decompress(EXCERPT.read_bytes()).decode().splitlines()[1:]
    big = write_gz(tmp_path / "big.tsv.gz", lines)
    del lines
    tracemalloc.start()
    try:
        start = time.perf_counter()
        films = read_films(big, {"jaws", "quoted title", "film number 199995"})
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert ids(tuple(films["jaws"])) == [JAWS]
    assert films["quoted title"][0].title == '"Quoted" Title'
    assert films["film number 199995"][0].film_id == "tt20199995"
    assert elapsed < 30


# --- matching -----------------------------------------------------------------------------


def test_year_picks_the_remake():
    dune = match("Dune (2021) [Original Motion Picture Soundtrack]")
    assert (dune.status, dune.film.film_id) == ("matched", DUNE_2021)
    assert match("Dune (1984)").film.film_id == DUNE_1984
    assert match("The Thing (1982)").film.film_id == "tt0084787"
    assert match("The Thing [2011] Original Score").film.film_id == "tt0905372"
    assert match("Psycho - 1960").film.film_id == "tt0054215"
    assert match("Total Recall (2012)").film.film_id == "tt1386703"
    assert match("Dune (2020)").film.film_id == DUNE_2021  # one year either side
    assert match("Dune (1990)").status == "unmatched"


def test_no_year_leaves_remakes_ambiguous():
    dune = match("Dune OST")
    assert (dune.status, dune.film) == ("ambiguous", None)
    assert ids(dune.candidates) == [DUNE_1984, DUNE_2021]  # not Dune: Part Two
    assert match("Psycho").status == "ambiguous"
    assert ids(match("Total Recall Soundtrack").candidates) == ["tt0100802", "tt1386703"]


def test_sequels_are_not_confused():
    assert match("Jaws 2 OST").film.film_id == JAWS_2
    assert match("Jaws (1975)").film.film_id == JAWS
    assert match("Jaws").film.film_id == JAWS
    assert match("Jaws: The Revenge (Original Soundtrack)").film.film_id == "tt0093300"
    assert match("Rocky II - Original Motion Picture Score").film.film_id == ROCKY_2
    assert match("Rocky 2").film.film_id == ROCKY_2
    assert match("The Dark Knight OST").film.film_id == DARK_KNIGHT
    assert match("The Dark Knight Rises").film.film_id == "tt1345836"


def test_original_titles_match():
    for name in (
        "Le Fabuleux Destin d'Amélie Poulain - Bande originale",
        "Amélie (Bande Originale du Film)",
        "Amelie OST",
    ):
        found = match(name)
        assert (found.status, found.film.film_id) == ("matched", AMELIE), name
    assert match("La vita è bella - Colonna sonora originale").film.film_id == "tt0118799"
    assert match("Sen to Chihiro no Kamikakushi").film.film_id == "tt0245429"
    assert match("Dolce Vita OST").film.film_id == "tt0053779"


def test_numbers_in_titles():
    assert match("Blade Runner 2049 - Original Motion Picture Soundtrack").film.film_id == (
        "tt1856101"
    )
    assert match("Blade Runner").film.film_id == "tt0083658"
    assert match("1917 (Original Motion Picture Soundtrack)").film.film_id == "tt8579674"
    assert match("2001: A Space Odyssey").film.film_id == "tt0062622"
    assert match("Dune 2021").film.film_id == DUNE_2021  # a bare trailing year, tried last


def test_title_types():
    assert match("Breaking Bad Soundtrack").film.title_type == "tvSeries"
    assert match("Chernobyl (Music from the HBO Miniseries)").film.film_id == "tt7366338"
    assert match("Duel").film.title_type == "tvMovie"
    assert match("Ozymandias").status == "unmatched"  # a tvEpisode
    assert match("Carmencita").status == "unmatched"  # a short
    assert match("Bohemios").status == "unmatched"  # \N genres: unusable


def test_unmatched_album_suggests_films_of_its_title_parts():
    found = match("Star Wars: Episode IV - A New Hope (Original Soundtrack)")
    assert (found.status, found.film) == ("unmatched", None)
    assert ids(found.candidates) == [STAR_WARS]
    nothing = match("Unknown Band - Demo Tape")
    assert (nothing.status, nothing.candidates) == ("unmatched", ())


def test_narrowing_prefers_the_exact_title_then_movies(tmp_path):
    """Made-up rows (ids tt9...) for cases the excerpt lacks."""
    imdb = write_gz(
        tmp_path / "t.tsv.gz",
        [
            HEADER,
            "tt9000001\tmovie\tDie Hard\tDie Hard\t0\t1988\t\\N\t132\tAction,Thriller",
            "tt9000002\tmovie\tHard\tHard\t0\t1998\t\\N\t90\tDrama",
            "tt9000003\tvideo\tGlory\tGlory\t0\t2005\t\\N\t10\tDocumentary",
            "tt9000004\tmovie\tGlory\tGlory\t0\t1989\t\\N\t122\tDrama,History,War",
            "tt9000005\tvideo\tSpark\tSpark\t0\t2005\t\\N\t10\tDocumentary",
            "tt9000006\ttvSeries\tSpark\tSpark\t0\t2007\t\\N\t30\tDrama",
        ],
    )
    die_hard = match("Die Hard OST", imdb=imdb)
    assert (die_hard.status, die_hard.film.film_id) == ("matched", "tt9000001")
    assert ids(die_hard.candidates) == ["tt9000001", "tt9000002"]
    assert match("Glory", imdb=imdb).film.film_id == "tt9000004"
    assert match("Spark", imdb=imdb).status == "ambiguous"  # no movie among them


def test_mapping_overrides_matching():
    by_name = match("Dune OST", {"Dune OST": DUNE_1984})
    assert (by_name.status, by_name.film.film_id, ids(by_name.candidates)) == (
        "mapped",
        DUNE_1984,
        [DUNE_1984],
    )
    album = Album("Soundtracks/Dune", "Dune (2021)", ())
    by_key = match_albums([album], EXCERPT, {"Soundtracks/Dune": DUNE_1984})[0]
    assert (by_key.status, by_key.film.film_id) == ("mapped", DUNE_1984)
    assert match("Pilot", {"Pilot": "tt0959621"}).film.title == "Pilot"  # any title type


def test_mapping_to_an_unknown_id_raises():
    with pytest.raises(DatasetError, match="tt0000000"):
        match("Dune OST", {"Dune OST": "tt0000000"})


def test_mapping_to_a_title_without_genres_raises():
    with pytest.raises(DatasetError, match="no genres"):
        match("Bohemios", {"Bohemios": "tt0000502"})


# --- mapping files ------------------------------------------------------------------------


def test_read_mapping(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text(
        '\ufeffalbum,film_id\n"Dune OST",tt1160419\n\n'
        'Psycho, tt0054215 \n"Jaws, Disc 1",tt0073195\n',
        encoding="utf-8",
    )
    assert read_mapping(path) == {
        "Dune OST": DUNE_2021,
        "Psycho": "tt0054215",
        "Jaws, Disc 1": JAWS,
    }


@pytest.mark.parametrize(
    "text, where",
    [
        ("name,id\nDune,tt1160419\n", ":1:"),
        ("album,film_id\nDune,tt1160419\nPsycho,0054215\n", ":3:"),
        ("album,film_id\nDune,tt1160419,extra\n", ":2:"),
        ("album,film_id\n,tt1160419\n", ":2:"),
        ("album,film_id\nDune,tt1160419\nDune,tt0087182\n", ":3:"),
    ],
)
def test_read_mapping_rejects_bad_rows(tmp_path, text, where):
    path = tmp_path / "map.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError, match=f"map.csv{where}"):
        read_mapping(path)


def test_read_mapping_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="gone.csv"):
        read_mapping(tmp_path / "gone.csv")


# --- real folders -------------------------------------------------------------------------


def put(source: Path, dest: Path, album: str | None = None, title: str | None = None) -> Path:
    """Copy a real track to dest, setting its album and title tags when given."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    if album or title:
        meta = mutagen.File(dest, easy=True)
        if album:
            meta["album"] = album
        if title:
            meta["title"] = title
        meta.save()
    return dest


@pytest.fixture(scope="session")
def soundtracks(funnyboat, tmp_path_factory) -> Path:
    """A folder of albums made of copies of one real Ogg Vorbis track."""
    root = tmp_path_factory.mktemp("soundtracks")
    jaws = root / "Jaws (1975) [Original Motion Picture Soundtrack]"
    put(funnyboat, jaws / "01 Main Title.ogg")
    put(funnyboat, jaws / "02 Out to Sea.ogg", title="Out to Sea")
    (jaws / "._01 Main Title.ogg").write_bytes(b"\x00\x05\x16\x07")  # macOS metadata, not audio
    (jaws / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    put(funnyboat, root / "Dune OST" / "Disc 1" / "01.ogg")
    put(funnyboat, root / "Dune OST" / "CD 2" / "01.ogg")
    amelie = root / "Yann Tiersen" / "2001 - misc"
    put(funnyboat, amelie / "01.ogg", album="Le Fabuleux Destin d'Amélie Poulain (Disc 1)")
    put(funnyboat, amelie / "02.ogg", album="Le Fabuleux Destin d'Amélie Poulain (Disc 2)")
    mixed = root / "Mixed"
    put(funnyboat, mixed / "a.ogg", album="Jaws 2 OST")
    put(funnyboat, mixed / "b.ogg", album="Rocky II - Original Motion Picture Score")
    put(funnyboat, mixed / "c.ogg")
    put(funnyboat, root / "Unknown Band - Demo Tape" / "song.ogg")
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("no audio here")
    return root


def test_find_albums(soundtracks):
    albums = find_albums(soundtracks)
    found = {
        a.key: (a.name, [t.relative_to(soundtracks).as_posix() for t in a.tracks]) for a in albums
    }
    assert found == {
        "Dune OST": ("Dune OST", ["Dune OST/CD 2/01.ogg", "Dune OST/Disc 1/01.ogg"]),
        "Jaws (1975) [Original Motion Picture Soundtrack]": (
            "Jaws (1975) [Original Motion Picture Soundtrack]",
            [
                "Jaws (1975) [Original Motion Picture Soundtrack]/01 Main Title.ogg",
                "Jaws (1975) [Original Motion Picture Soundtrack]/02 Out to Sea.ogg",
            ],
        ),
        "Mixed": ("Mixed", ["Mixed/c.ogg"]),
        "Mixed::Jaws 2 OST": ("Jaws 2 OST", ["Mixed/a.ogg"]),
        "Mixed::Rocky II - Original Motion Picture Score": (
            "Rocky II - Original Motion Picture Score",
            ["Mixed/b.ogg"],
        ),
        "Unknown Band - Demo Tape": (
            "Unknown Band - Demo Tape",
            ["Unknown Band - Demo Tape/song.ogg"],
        ),
        "Yann Tiersen/2001 - misc": (
            "Le Fabuleux Destin d'Amélie Poulain (Disc 1)",  # the tag names it, not the folder
            ["Yann Tiersen/2001 - misc/01.ogg", "Yann Tiersen/2001 - misc/02.ogg"],
        ),
    }
    assert [a.key for a in albums] == sorted(found)


def test_find_albums_needs_a_folder(tmp_path):
    with pytest.raises(DatasetError, match="missing"):
        find_albums(tmp_path / "missing")
    assert find_albums(tmp_path) == []


def test_build_manifest_end_to_end(soundtracks, tmp_path):
    tracks, matches = build_manifest(soundtracks, EXCERPT)
    status = {m.album.key: m.status for m in matches}
    assert status == {
        "Dune OST": "ambiguous",
        "Jaws (1975) [Original Motion Picture Soundtrack]": "matched",
        "Mixed": "unmatched",
        "Mixed::Jaws 2 OST": "matched",
        "Mixed::Rocky II - Original Motion Picture Score": "matched",
        "Unknown Band - Demo Tape": "unmatched",
        "Yann Tiersen/2001 - misc": "matched",
    }
    out = tmp_path / "out" / "manifest.csv"
    write_manifest(tracks, out)
    rows = read_manifest(out)
    assert [(r.path.name, r.group, r.genres) for r in rows] == [
        ("01 Main Title.ogg", JAWS, ("Adventure", "Thriller")),
        ("02 Out to Sea.ogg", JAWS, ("Adventure", "Thriller")),
        ("a.ogg", JAWS_2, ("Adventure", "Horror", "Thriller")),
        ("b.ogg", ROCKY_2, ("Drama", "Sport")),
        ("01.ogg", AMELIE, ("Comedy", "Romance")),
        ("02.ogg", AMELIE, ("Comedy", "Romance")),
    ]
    assert all(r.path.is_absolute() and r.path.is_file() for r in rows)
    assert rows[0].title == "Trip on the Funny Boat"  # the real track's own title tag
    assert rows[1].title == "Out to Sea"
    assert rows[4].extra == {"film_id": AMELIE, "film_title": "Amélie", "year": "2001"}


def test_build_manifest_with_a_mapping(soundtracks, tmp_path):
    mapping = tmp_path / "map.csv"
    mapping.write_text(f"album,film_id\nDune OST,{DUNE_2021}\nMixed,{DARK_KNIGHT}\n")
    tracks, matches = build_manifest(soundtracks, EXCERPT, mapping)
    assert sum(m.status == "mapped" for m in matches) == 2
    groups = {t.path.relative_to(soundtracks).as_posix(): t.group for t in tracks}
    assert groups["Dune OST/Disc 1/01.ogg"] == groups["Dune OST/CD 2/01.ogg"] == DUNE_2021
    assert groups["Mixed/c.ogg"] == DARK_KNIGHT
    assert len(tracks) == 9


def test_build_manifest_without_audio_raises(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no audio"):
        build_manifest(tmp_path / "empty", EXCERPT)


def test_summarise_lists_what_needs_a_mapping(soundtracks):
    _, matches = build_manifest(soundtracks, EXCERPT)
    report = summarise(matches)
    lines = report.splitlines()
    assert lines[0] == "7 albums: 4 matched, 0 mapped, 1 ambiguous, 2 unmatched"
    assert '  "Dune OST"' in lines
    assert "      tt0087182  Dune (1984, movie)" in lines
    assert "      tt1160419  Dune: Part One / Dune (2021, movie)" in lines
    assert '  "Unknown Band - Demo Tape"' in lines
    assert "album,film_id" in report and "--mapping" in report
    assert report.index("Ambiguous") < report.index("Dune OST") < report.index("Unmatched")


def test_summarise_all_matched_has_no_advice():
    report = summarise([match("Jaws (1975)")])
    assert report == "1 album: 1 matched, 0 mapped, 0 ambiguous, 0 unmatched"


def test_a_folder_match_is_not_lost_to_a_foreign_album_tag(funnyboat, tmp_path):
    """Files copied into "Alien (1979)" that still carry another album's tag: the folder's
    name finds the film; a tag and a folder naming two films are reported, tag kept."""
    root = tmp_path / "lib"
    put(funnyboat, root / "Alien (1979)" / "01.ogg", album="Game Music Vol. 3")
    put(funnyboat, root / "Jaws 2" / "01.ogg", album="Rocky II - Original Motion Picture Score")
    matches = {m.album.key: m for m in match_albums(find_albums(root), EXCERPT)}
    alien = matches["Alien (1979)"]
    assert (alien.status, alien.film.film_id) == ("matched", "tt0078748")
    assert "matched by its folder 'Alien (1979)'" in alien.note
    rocky = matches["Jaws 2"]
    assert (rocky.status, rocky.film.film_id) == ("matched", ROCKY_2)
    assert "its folder 'Jaws 2' names tt0077766" in rocky.note
    report = summarise(list(matches.values()))
    assert "Album tag and folder name disagree:" in report and '"Alien (1979)": matched' in report
