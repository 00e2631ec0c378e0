"""The Python API: the same capabilities as the CLI, importable from the package; and the
JSON API's teaching (tags, corrections, refine) over a real server and catalog."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from conftest import encode
from serve_helpers import build_library, served_in_thread
from serve_helpers import cuefinder as cli

import cuefinder
from cuefinder.serve import create_app
from cuefinder.serve.schemas import (
    ErrorBody,
    SearchResponse,
    SimilarResponse,
    TagInfo,
    TextSearchResponse,
    Vocabulary,
)

pytestmark = pytest.mark.slow  # not in `make test-fast`


def test_api_indexes_and_searches(tmp_path, short_tracks, copy_of):
    folder = tmp_path / "music"
    copy_of(folder, *short_tracks)
    catalog = cuefinder.Catalog(tmp_path / "api.db")
    report = cuefinder.index([folder], catalog, jobs=1, progress=False)
    assert report.indexed == len(short_tracks) and report.ok
    hits = cuefinder.search("action -comedy", catalog, limit=2)
    assert len(hits) == 2 and hits[0].score >= hits[1].score
    assert str(cuefinder.parse_query("scary love", catalog.active_model().genres)) == (
        "Horror:1 Romance:1"
    )


def test_import_and_help_stay_light():
    code = "import sys, cuefinder.cli; print('torch' in sys.modules, 'sqlite3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_index_expands_a_home_folder_path(music_root, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "Music").mkdir(parents=True)
    song = next((music_root / "funnyboat").rglob("*.ogg"))
    (home / "Music" / song.name).write_bytes(song.read_bytes())
    monkeypatch.setenv("HOME", str(home))
    catalog = cuefinder.Catalog(tmp_path / "c.db")
    report = cuefinder.index(["~/Music"], catalog, progress=False, jobs=1)
    assert report.indexed == 1 and not report.failed
    assert [t.path for t in catalog.tracks()] == [str(home / "Music" / song.name)]


def test_a_script_without_a_main_guard_indexes_in_parallel(tmp_path, short_tracks, copy_of):
    """The README's snippet saved as a script: worker processes must not re-run it."""
    folder = tmp_path / "music"
    copy_of(folder, *short_tracks[:2])
    script = tmp_path / "snippet.py"
    script.write_text(
        "import cuefinder\n"
        f"catalog = cuefinder.Catalog({str(tmp_path / 'c.db')!r})\n"
        f"report = cuefinder.index([{str(folder)!r}], catalog, jobs=2, progress=False)\n"
        "print('indexed', report.indexed)\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300, check=True)  # fmt: skip
    assert out.stdout.split() == ["indexed", "2"]


def test_the_readme_python_example_runs_as_written(tmp_path, short_tracks, funnyboat, copy_of):
    """The README's code block, unchanged, as a script (no main guard) on real audio: its
    library in ~/Music/library, its temp track in the working folder."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    code = re.search(r"## Python API\n\n```python\n(.*?)```", readme, re.S).group(1)
    copy_of(tmp_path / "home" / "Music" / "library", *short_tracks[:3])
    with av.open(str(funnyboat)) as container:  # 80 s of a real track as an mp3
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=44100)
        blocks = [out.to_ndarray().reshape(-1, 2) for frame in container.decode(audio=0)
                  for out in resampler.resample(frame)]  # fmt: skip
    encode(np.concatenate(blocks)[: 80 * 44100], 44100, tmp_path / "temp-track.mp3",
           "libmp3lame", "mp3")  # fmt: skip
    (tmp_path / "example.py").write_text(code + "print('found', len(like), len(hits))\n")
    env = os.environ | {"HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, timeout=600,
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert len(lines) == 4  # three hits (the library holds three tracks), then the summary
    assert lines[-1].startswith("found 3 ")
    assert all(str(tmp_path / "home" / "Music" / "library") in line for line in lines[:3])


# -- the JSON API's teaching endpoints ---------------------------------------------------


@pytest.fixture(scope="module")
def taught_catalog(tmp_path_factory, music_root) -> Path:
    """Three games' music: funnyboat (one track), scorched3d (three), abe (two), and two
    short chromium-bsu loops."""
    folder = build_library(
        tmp_path_factory.mktemp("teach") / "library",
        [
            next((music_root / "funnyboat").glob("*.ogg")),
            *sorted((music_root / "scorched3d-data").glob("*.ogg")),
            *sorted((music_root / "abe-data").glob("*.ogg")),
            *sorted((music_root / "chromium-bsu-data").glob("*.wav")),
        ],
    )
    db = folder.parent / "catalog.db"
    cli("--catalog", db, "index", "-q", folder)
    return db


@pytest.fixture(scope="module")
def web(taught_catalog):
    with (
        served_in_thread(create_app(taught_catalog)) as url,
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def track(taught_catalog) -> dict[str, int]:
    """File name -> track id."""
    with sqlite3.connect(taught_catalog) as con:
        return {Path(p).name: i for i, p in con.execute("SELECT id, path FROM tracks")}


@pytest.fixture
def untaught(web):
    """Each test starts and ends with a catalog taught nothing."""
    assert web.get("/api/tags").json() == []
    yield
    for tag in web.get("/api/tags").json():
        assert web.delete(f"/api/tags/{tag['name']}").status_code == 204


SCORCHED = ("mix3_loop1.ogg", "mix3_loop2.ogg", "mix3_loop3.ogg")
FUNNYBOAT = "JDruid-Trip_on_the_Funny_Boat.ogg"


def problem(response: httpx.Response, status: int, field: str | None = None) -> str:
    """The message of an error answer in the API's one shape."""
    assert response.status_code == status, response.text
    error = ErrorBody.model_validate(response.json()).error
    assert error.status == status and error.field == field, error
    assert "Traceback" not in response.text and "\n" not in error.message
    return error.message


def ranked_ids(web, query: str, **params) -> list[int]:
    body = web.get("/api/search", params={"q": query, **params}).json()
    return [r.id for r in SearchResponse.model_validate(body).results]


def test_a_tag_taught_through_the_api_is_searched_like_a_genre(
    web, track, taught_catalog, untaught
):
    assert problem(web.get("/api/search?q=%23loops"), 422, "q") == "unknown genre '#loops'"
    examples = {"add": [track[n] for n in SCORCHED[:2]], "not": [track[FUNNYBOAT]]}
    response = web.post("/api/tags/loops", json=examples)
    assert response.status_code == 200, response.text
    info = TagInfo.model_validate(response.json())
    assert (info.name, info.kind, info.positives, info.negatives, info.absent) == (
        "loops",
        "tag",
        2,
        1,
        0,
    )
    assert [TagInfo.model_validate(t) for t in web.get("/api/tags").json()] == [info]
    assert Vocabulary.model_validate(web.get("/api/genres").json()).tags == ["loops"]

    body = web.get("/api/search?q=%23loops&limit=20").json()
    SearchResponse.model_validate(body)
    assert body["query"]["terms"] == [{"genre": "loops", "weight": 1.0, "exclude": False}]
    found = [r["id"] for r in body["results"]]
    assert len(found) == len(track)
    assert set(found[:3]) == {track[n] for n in SCORCHED}  # its game first, untaught one too
    assert found[-1] == track[FUNNYBOAT]  # the track taught as not it: last
    assert all(list(r["genres"]) == ["loops"] for r in body["results"])
    # the server answers as the command line does on the same catalog
    done = cli("--catalog", taught_catalog, "search", "#loops", "--json", "-n", "20")
    assert [r["id"] for r in json.loads(done.stdout)] == found
    # a plain word and free text read the catalog's own tag too
    assert ranked_ids(web, "loops", limit=20) == found
    text = web.get("/api/search/text", params={"q": "loops", "limit": 20}).json()
    assert TextSearchResponse.model_validate(text).interpretation.tags == {"loops": 1.0}
    assert [r["id"] for r in text["results"]] == found
    # a refine beside it parses the catalog's tags too
    refined = web.post("/api/refine", json={"kept": [track["game.ogg"]], "q": "#loops -action"})
    assert [t["genre"] for t in refined.json()["query"]["terms"]] == ["loops", "Action", "(kept)"]


def test_teaching_again_forgetting_and_the_servers_caches(web, track, untaught):
    """The server keeps its score table and recent results while the catalog is unchanged:
    every change taught through the API is searched at once."""
    abe = {track["game.ogg"], track["intro.ogg"]}
    web.post("/api/tags/loops", json={"add": [track[n] for n in SCORCHED[:2]]})
    first = ranked_ids(web, "#loops")
    assert ranked_ids(web, "#loops") == first  # (from the cache)
    assert web.delete("/api/tags/%23LOOPS").status_code == 204  # as queries compare names
    assert problem(web.get("/api/search?q=%23loops"), 422, "q") == "unknown genre '#loops'"
    assert web.get("/api/tags").json() == [] and web.get("/api/genres").json()["tags"] == []
    response = web.post("/api/tags/loops", json={"add": sorted(abe)})  # the name again, anew
    assert response.json()["positives"] == 2 and response.json()["negatives"] == 0
    again = ranked_ids(web, "#loops")
    assert set(again[:2]) == abe and set(first[:2]) != abe  # not the old tag's cached answer
    # more examples of the same tag: the new ones count at once
    response = web.post("/api/tags/loops", json={"not": [track["game.ogg"]],
                                                 "remove": [track["game.ogg"]]})  # fmt: skip
    assert (response.json()["positives"], response.json()["negatives"]) == (1, 1)
    flipped = ranked_ids(web, "#loops", limit=20)
    assert flipped[0] == track["intro.ogg"]  # the one left that is it
    assert flipped.index(track["game.ogg"]) > again.index(track["game.ogg"])


def test_a_genres_name_corrects_it_and_cached_results_follow(web, track, untaught):
    before = web.get("/api/search", params={"q": "action", "limit": 20}).json()["results"]
    top = before[0]
    assert "corrected" not in top
    response = web.post("/api/tags/action", json={"not": [top["id"]]})
    assert response.status_code == 200, response.text
    info = response.json()
    assert (info["name"], info["kind"], info["negatives"]) == ("Action", "correction", 1)
    after = web.get("/api/search", params={"q": "action", "limit": 20}).json()
    SearchResponse.model_validate(after)
    moved = next(r for r in after["results"] if r["id"] == top["id"])
    assert moved["corrected"]["Action"] < -0.3  # its probability pushed down...
    assert moved["probabilities"]["Action"] < top["probabilities"]["Action"] - 0.3
    assert after["results"][0]["id"] != top["id"]  # ...and off the top
    assert problem(web.post("/api/tags/scary", json={"add": [top["id"]]}), 422) == (
        "tag name 'scary' already means Horror in queries; to correct Horror on a track, "
        "teach 'Horror'"
    )
    assert web.delete("/api/tags/Action").status_code == 204
    restored = web.get("/api/search", params={"q": "action", "limit": 20}).json()["results"]
    assert restored == before


def test_bad_teaching_is_422_with_the_reason_and_stores_nothing(web, track, untaught):
    a, b = track["mix3_loop1.ogg"], track["game.ogg"]
    cases = [
        ("loops", {"add": [a, 99999]}, "add", "add: no track 99999 in the catalog"),
        ("loops", {"add": [a], "not": [0]}, "not.0", "not.0: Input should be greater than"),
        ("loops", {"remove": [123456]}, "remove", "remove: no track 123456 in the catalog"),
        ("loops", {}, "add", "nothing to teach 'loops': give track ids in add, not or remove"),
        ("loops", {"adds": [a]}, "adds", "adds: Extra inputs are not permitted"),
        ("loops", {"add": ["x"]}, "add.0", None),
        ("loops", {"add": [a], "start": 20, "end": 10}, "end", "end (10 s) must be after start"),
        ("loops", {"not": [b]}, None, "tag 'loops' needs at least one track that is it (add)"),
        ("loops", {"add": [a], "not": [a]}, None, "given as both 'loops' and not 'loops'"),
        ("scary", {"add": [a]}, None, "tag name 'scary' already means Horror in queries"),
        ("not", {"add": [a]}, None, "tag name 'not' is a word of the query language"),
        ("(kept)", {"add": [a]}, None, "tag name '(kept)': use letters, digits"),
    ]
    for name, body, field, words in cases:
        message = problem(web.post(f"/api/tags/{name}", json=body), 422, field)
        assert words is None or words in message, (name, body, message)
        assert web.get("/api/tags").json() == []
    # a track already taught one way is not silently flipped
    web.post("/api/tags/loops", json={"add": [a]})
    message = problem(web.post("/api/tags/loops", json={"not": [a]}), 422)
    assert message.endswith(": already taught as 'loops'; remove it first (remove) to change "
                            "its example")  # fmt: skip
    assert [(t["positives"], t["negatives"]) for t in web.get("/api/tags").json()] == [(1, 0)]


def test_forgetting_an_unknown_tag_is_404(web, untaught):
    assert (
        problem(web.delete("/api/tags/nothing"), 404, "name") == "no tag 'nothing' in the catalog"
    )


def test_refine_reranks_from_kept_and_rejected_tracks(web, track, untaught):
    kept = [track["music_game.wav"], track["music_menu.wav"]]  # one game's, not adventurous
    before = ranked_ids(web, "adventure", limit=20)
    body = {"kept": kept, "rejected": [track[FUNNYBOAT]], "q": "adventure", "limit": 20}
    response = web.post("/api/refine", json=body)
    assert response.status_code == 200, response.text
    refined = SearchResponse.model_validate(response.json())
    ids = [r.id for r in refined.results]
    assert track[FUNNYBOAT] not in ids and len(ids) == len(track) - 1
    # up from the bottom half into the top half: the learned part lifts them
    assert all(before.index(k) >= len(before) // 2 > ids.index(k) for k in kept)
    assert refined.query.canonical == "Adventure:1 (kept):1"
    assert all(set(r.genres) == {"Adventure", "(kept)"} for r in refined.results)
    assert all(abs(sum(r.genres.values()) - r.score) < 2e-3 for r in refined.results)
    alone = web.post("/api/refine", json={"kept": kept, "limit": 3}).json()
    assert [t["genre"] for t in alone["query"]["terms"]] == ["(kept)"]
    assert len(alone["results"]) == 3 and {r["id"] for r in alone["results"][:2]} == set(kept)
    assert web.get("/api/tags").json() == []  # a refine stores nothing


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "kept", "kept: refine needs at least one kept track"),
        ({"kept": [], "rejected": [1]}, "kept", "kept: refine needs at least one kept track"),
        ({"kept": [99999]}, "kept", "kept: no track 99999 in the catalog"),
        ({"kept": [1], "rejected": [88888]}, "rejected", "rejected: no track 88888 in the catalog"),
        ({"kept": [1, 2], "rejected": [2]}, "rejected", "rejected: track 2 is kept too"),
        ({"kept": [1], "q": "zombie"}, "q", "unknown genre 'zombie'"),
        ({"kept": [1], "limit": 0}, "limit", "limit: Input should be greater than or equal to 1"),
        ({"kept": [1], "min_duration": 60, "max_duration": 10}, "max_duration", None),
    ],
)  # fmt: skip
def test_refine_rejects_bad_input(web, body, field, message):
    said = problem(web.post("/api/refine", json=body), 422, field)
    assert message is None or said.startswith(message)


def test_similar_to_several_tracks_and_away_from_others(web, track, taught_catalog):
    first, second, away = track["mix3_loop1.ogg"], track["mix3_loop2.ogg"], track[FUNNYBOAT]
    response = web.get(f"/api/tracks/{first}/similar?also={second}&not={away}&limit=20")
    assert response.status_code == 200, response.text
    body = SimilarResponse.model_validate(response.json())
    assert body.reference.also == [second] and body.reference.not_ == [away]
    ids = [r.id for r in body.results]
    assert not {first, second, away} & set(ids) and len(ids) == len(track) - 3
    assert ids[0] == track["mix3_loop3.ogg"]  # the same game's third track
    like = cuefinder.similar([first, second], cuefinder.Catalog(taught_catalog, create=False),
                             not_=[away], limit=20)  # fmt: skip
    assert [r.id for r in like] == ids
    assert problem(web.get(f"/api/tracks/{first}/similar?also=99999"), 422, "also") == (
        "also: no track 99999 in the catalog"
    )
    assert problem(web.get(f"/api/tracks/{first}/similar?also={second}&start=5"), 422, "also")
