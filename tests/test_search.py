"""Query parsing (synonyms, weights, exclusions, errors) and ranking on a real catalog."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cuefinder.catalog import Catalog
from cuefinder.errors import QueryError
from cuefinder.find.grammar import Term, parse
from cuefinder.find.rank import percentiles, search

GENRES = ("Action", "Adventure", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "War")


@pytest.mark.parametrize(
    "text, terms",
    [
        (
            "romance comedy -action horror:0.3",
            [Term("Romance"), Term("Comedy"), Term("Action", 1.0, True), Term("Horror", 0.3)],
        ),
        (
            "romantic, funny and a little scary",
            [Term("Romance"), Term("Comedy"), Term("Horror", 0.3)],
        ),
        ("sci fi war film", [Term("Sci-Fi"), Term("War")]),
        ("Sci-Fi", [Term("Sci-Fi")]),
        ("science fiction without horror", [Term("Sci-Fi"), Term("Horror", 1.0, True)]),
        ("space -war:0.5", [Term("Sci-Fi"), Term("War", 0.5, True)]),
        ("love love", [Term("Romance", 2.0)]),
        ("very sad", [Term("Drama", 2.0)]),
    ],
)
def test_parse(text, terms):
    assert list(parse(text, GENRES).terms) == terms


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty query"),
        ("   ", "empty query"),
        ("romance zombie", "unknown genre 'zombie'"),
        ("western", "unknown genre 'western'"),  # a real genre, but not this model's
        ("horror:x", "weight of 'horror' must be a number"),
        ("horror:0", "must be in"),
        ("horror:11", "must be in"),
        ("horror -scary", "both wanted and excluded"),
        ("the film", "no genre"),
    ],
)
def test_bad_queries_are_refused_with_the_vocabulary(text, message):
    with pytest.raises(QueryError, match=message) as caught:
        parse(text, GENRES)
    if "unknown" in message or "empty" in message:
        assert caught.value.vocabulary == sorted(GENRES)


def test_name_words_are_read_beside_genres():
    query = parse('artist:maxstack romance title:"Living Caves" file:cue_042', GENRES)
    assert query.terms == (Term("Romance"),)
    assert query.names == (("artist", "maxstack"), ("title", "living caves"), ("file", "cue 042"))
    assert str(query) == 'Romance:1 artist:maxstack title:"living caves" file:cue 042'.replace(
        "file:cue 042", 'file:"cue 042"')  # fmt: skip
    # a plain word is a name only when the caller knows a track so named
    known = parse("coherence -action", GENRES, known_name=lambda w: w == "coherence")
    assert known.names == (("name", "coherence"),) and known.terms == (Term("Action", 1, True),)
    with pytest.raises(QueryError, match="unknown genre 'zombie'"):
        parse("zombie", GENRES, known_name=lambda w: w == "coherence")
    with pytest.raises(QueryError, match="unknown genre 'coherence'"):  # an exclusion is not
        parse("-coherence action", GENRES, known_name=lambda w: True)
    with pytest.raises(QueryError, match="artist: needs a word"):
        parse("artist: action", GENRES)


def test_percentiles_rank_within_each_column():
    scores = np.array([[0.1, 0.9], [0.3, 0.8], [0.2, 0.7]])
    assert np.allclose(percentiles(scores), [[1 / 6, 5 / 6], [5 / 6, 3 / 6], [3 / 6, 1 / 6]])


@pytest.fixture(scope="module")
def catalog(game_catalog):
    """scorched3d's loops and funnyboat's track: the run's shared catalog (conftest)."""
    db = Catalog(game_catalog, create=False)
    yield db
    db.close()


def test_results_are_ranked_and_explained(catalog):
    results = search("comedy -war horror:0.3", catalog, limit=10)
    assert len(results) == catalog.count()
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    for r in results:
        assert r.genres.keys() == {"Comedy", "War", "Horror"}
        assert abs(sum(r.genres.values()) - r.score) < 1e-3  # contributions add up
        assert r.genres["War"] <= 0 <= r.genres["Comedy"]
        assert 0 <= r.segment["start"] < r.segment["end"] <= r.duration + 1e-6
        assert r.segment["end"] - r.segment["start"] <= 31


def test_ranking_follows_the_model_scores(catalog):
    table = catalog.score_table(catalog.active_model())
    war = table.model.genres.index("War")
    expected = table.paths[int(np.argmax(table.scores[:, war]))]
    assert search("war", catalog, limit=1)[0].path == expected
    assert (
        search("-war", catalog, limit=1)[0].path
        == table.paths[int(np.argmin(table.scores[:, war]))]
    )


def test_best_segment_is_the_window_that_fits_the_query_best(catalog):
    boat = next(r for r in search("comedy", catalog, limit=10) if r.duration > 120)
    track = catalog.track(boat.path)
    comedy = track.genres.index("Comedy")
    per_segment = track.segment_scores[:, comedy]
    windows = int(round(30 / track.segment_seconds))
    sums = np.convolve(per_segment, np.ones(windows), mode="valid")
    assert boat.segment["start"] == pytest.approx(np.argmax(sums) * track.segment_seconds, abs=0.01)


def test_duration_filters_and_limit(catalog):
    long_only = search("action", catalog, min_duration=120)
    assert long_only and all(r.duration >= 120 for r in long_only)
    short_only = search("action", catalog, max_duration=120)
    assert all(r.duration <= 120 for r in short_only)
    assert len(long_only) + len(short_only) == catalog.count()
    assert len(search("action", catalog, limit=1)) == 1


def test_a_cue_length_gives_each_track_its_best_part_of_exactly_that_length(catalog):
    durations = sorted(t.duration for t in catalog.tracks())
    length = round(durations[len(durations) // 2], 1)  # some tracks are shorter
    results = search("comedy -war", catalog, limit=50, length=length)
    shorter = [t for t in catalog.tracks() if t.duration < length]
    assert shorter, "the catalog should hold tracks shorter than the cue, to be left out"
    assert len(results) == catalog.count() - len(shorter)
    for r in results:
        assert r.duration >= length
        assert r.segment["end"] - r.segment["start"] == pytest.approx(length, abs=0.02)
        assert r.segment["start"] >= 0 and r.segment["end"] <= r.duration + 1e-6
    # the window is the best run of segments that long, as for the default 30 s
    boat = max(results, key=lambda r: r.duration)
    track = catalog.track(boat.path)
    table = catalog.score_table(catalog.active_model())
    col, war = track.genres.index("Comedy"), track.genres.index("War")
    genre = table.scores[:, : len(track.genres)]  # the genres' columns (sound tags follow)
    mean, std = genre.mean(axis=0), np.maximum(genre.std(axis=0), 1e-6)
    z = (track.segment_scores - mean) / std
    windows = int(round(length / track.segment_seconds))
    sums = np.convolve(z[:, col] - z[:, war], np.ones(windows), mode="valid")
    best = np.argmax(sums) * track.segment_seconds
    assert boat.segment["start"] == pytest.approx(min(best, boat.duration - length), abs=0.01)
    with pytest.raises(QueryError, match="length must be a positive number"):
        search("comedy", catalog, length=0)


def test_a_cue_length_near_a_tracks_end_moves_the_window_back():
    from types import SimpleNamespace

    from cuefinder.find.rank import window_bounds

    track = SimpleNamespace(segment_seconds=3.0, duration=60.0)
    assert window_bounds(10, 14, track, None) == (30.0, 60.0)  # the run, cut at the end
    assert window_bounds(10, 14, track, 42.0) == (18.0, 60.0)  # 42 s, ending at the end
    assert window_bounds(2, 14, track, 42.0) == (6.0, 48.0)
    assert window_bounds(0, 20, track, 60.0) == (0.0, 60.0)


def test_words_that_name_no_genre_find_tracks_by_title_artist_album_or_file(catalog):
    from cuefinder.find.rank import parse_in

    def found(text, **options):
        return [Path(r.path).name for r in search(text, catalog, **options)]

    boat = "JDruid-Trip_on_the_Funny_Boat.ogg"  # tagged: title and artist
    query = parse_in(catalog, "jdruid")
    assert query.names == (("name", "jdruid"),) and not query.terms
    assert found("jdruid") == found("artist:jdruid") == found("trip") == [boat]
    assert found("title:jdruid") == []  # JDruid is the artist, not the title
    loops = ["mix3_loop1.ogg", "mix3_loop2.ogg", "mix3_loop3.ogg"]  # untagged: file names
    assert sorted(found("mix3")) == loops
    assert found("file:mix3-loop2") == ["mix3_loop2.ogg"]  # every word, as words compare
    # beside genres: the genre ranks, the name filters
    ranked = search("mix3 comedy", catalog)
    assert sorted(Path(r.path).name for r in ranked) == loops
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    assert set(ranked[0].genres) == {"Comedy"}
    # a word that names neither a genre nor a track is still refused, with a suggestion
    with pytest.raises(QueryError, match="unknown genre 'zombie'"):
        search("zombie", catalog)
    with pytest.raises(QueryError, match="did you mean 'Horror'"):
        search("horor", catalog)
    done = subprocess.run([sys.executable, "-m", "cuefinder", "--catalog", str(catalog.path),
                           "search", "jdruid"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, *rest = done.stdout.splitlines()
    assert first == "reading 'jdruid' as a name (title, artist, album or file name)"
    assert rest[0].endswith(f"/{boat}") and rest[1].endswith("why: its name")


def test_a_model_with_its_own_taxonomy_is_searched_by_its_own_labels():
    own = ("Automotive", "Luxury Brand", "Upbeat Pop")
    query = parse("luxury brand -automotive upbeat-pop:0.5", own)
    assert list(query.terms) == [
        Term("Luxury Brand"),
        Term("Automotive", 1.0, True),
        Term("Upbeat Pop", 0.5),
    ]
    with pytest.raises(QueryError, match="unknown genre 'romance'") as caught:
        parse("romance", own)  # IMDb's words mean nothing to this model
    assert caught.value.vocabulary == sorted(own)


def test_percentiles_average_tied_ranks_like_scipy():
    from scipy.stats import rankdata

    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 500):
        for scores in (rng.integers(0, 4, (n, 3)).astype(np.float32), rng.random((n, 5))):
            expected = (rankdata(scores, axis=0) - 0.5) / n
            assert np.allclose(percentiles(scores), expected)


def test_header_reads_and_genre_search_load_neither_torch_nor_scipy(catalog):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from cuefinder.model import checkpoint\n"
        "info = checkpoint.read_info(checkpoint.default_model_path())\n"
        "from cuefinder.catalog import Catalog\n"
        "from cuefinder.find.rank import search\n"
        f"hits = search('comedy -action', Catalog({str(catalog.path)!r}, create=False))\n"
        "assert hits and info.genres\n"
        "print(sorted(m for m in ('torch', 'scipy') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_each_result_carries_its_calibrated_fit(catalog):
    from cuefinder.find import caveats
    from cuefinder.model import checkpoint

    curves = checkpoint.read_info(checkpoint.DEFAULT_MODEL).calibration
    for hit in search("action adventure", catalog, limit=5):
        p = {g: hit.probabilities[g] for g in ("Action", "Adventure")}
        expected = np.mean([1 / (1 + np.exp(-(a * np.log(p[g] / (1 - p[g])) + b)))
                            for g, (a, b) in ((g, curves[g]) for g in p)])  # fmt: skip
        assert hit.fit == pytest.approx(expected, abs=1e-3)
        assert hit.fit_level == caveats.fit_level(hit.fit)


def test_a_query_nothing_fits_says_so(catalog):
    """Horror on game music of boats, tanks and arcades: the top hit still ranks first
    (score near 1) but its calibrated fit is weak, and the warnings say so."""
    from cuefinder.find.caveats import query_warnings

    hits = search("horror", catalog, limit=3)
    assert hits[0].score > 0.8 and all(h.fit_level == "weak" for h in hits)
    lines = query_warnings(parse("horror", catalog.active_model().genres), catalog,
                           [h.fit for h in hits])  # fmt: skip
    assert lines[-1].startswith("no track fits well: the best calibrated fit is 0.")


def test_fit_levels_and_the_weighted_mean_of_calibrated_probabilities():
    from cuefinder.find.caveats import fit, fit_level

    query = parse("action comedy:0.5 -horror", ("Action", "Comedy", "Horror"))
    identity = {"Action": (1.0, 0.0), "Comedy": (1.0, 0.0), "Horror": (1.0, 0.0)}
    probs = {"Action": 0.8, "Comedy": 0.2, "Horror": 0.9}
    assert fit(probs, query, identity) == pytest.approx((0.8 + 0.5 * 0.2) / 1.5)
    base_rate = {"Action": (0.0, float(np.log(0.1 / 0.9))), "Comedy": (1.0, 0.0)}
    assert fit(probs, query, base_rate) == pytest.approx((0.1 + 0.5 * 0.2) / 1.5)
    assert fit(probs, query, {}) is None and fit_level(None) is None
    assert [fit_level(v) for v in (0.9, 0.5, 0.3, 0.25, 0.1)] == [
        "strong", "strong", "some", "some", "weak"]  # fmt: skip


def test_calibration_lowers_the_error_of_overconfident_scores():
    from cuefinder.evaluate.calibration import calibrate

    rng = np.random.default_rng(0)
    truth = rng.uniform(0.05, 0.6, size=(2000, 1))
    labels = rng.uniform(size=truth.shape) < truth
    raw = 1 / (1 + np.exp(-3 * np.log(truth / (1 - truth))))  # overconfident outputs
    record = calibrate(raw, labels, np.arange(2000) % 4, ["X"])
    assert record["ece"]["X"]["platt"] < record["ece"]["X"]["before"] / 2
    a, b = record["params"]["X"]
    assert 0.2 < a < 0.5  # undoes the factor 3


def test_every_builtin_genre_has_its_words_in_the_one_vocabulary_file():
    from cuefinder.find import genre_words, grammar, text
    from cuefinder.model import checkpoint

    for genre in checkpoint.read_info(checkpoint.DEFAULT_MODEL).genres:
        assert genre_words.SYNONYMS[genre] and genre_words.DESCRIPTIONS[genre], genre
    # the grammar and the free-text reader read the same entries, not copies
    assert grammar.SYNONYMS is genre_words.SYNONYMS
    assert text.DESCRIPTIONS is genre_words.DESCRIPTIONS
    assert set(genre_words.EXAMPLE_WORDS) <= set(genre_words.DESCRIPTIONS)
