"""The HTTP API, against a real ``cuefinder serve`` over a real catalog of game music."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from serve_helpers import build_library, cuefinder, raw_get, served

from cuefinder.model import checkpoint
from cuefinder.serve.schemas import (
    ErrorBody,
    SearchResponse,
    SimilarResponse,
    Status,
    TextSearchResponse,
    TrackDetail,
    Vocabulary,
)

pytestmark = pytest.mark.slow  # not in `make test-fast`

CONTENT_TYPES = {
    ".ogg": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".opus": "audio/ogg; codecs=opus",
}


@pytest.fixture(scope="module")
def library(tmp_path_factory, music_root, transcoded) -> Path:
    """Real tracks in six formats, a broken file, and three files to tamper with later."""
    root = tmp_path_factory.mktemp("http")
    scorched = sorted((music_root / "scorched3d-data").glob("*.ogg"))
    folder = build_library(
        root / "library",
        [
            next((music_root / "funnyboat").glob("*.ogg")),
            *scorched,
            *sorted((music_root / "chromium-bsu-data").glob("*.wav")),
            *transcoded.values(),
        ],
    )
    (folder / "broken.mp3").write_bytes(b"not audio at all" * 100)
    shutil.copy2(scorched[0], folder / "escape.ogg")
    shutil.copy2(scorched[1], folder / "gone.ogg")
    (folder / "sub").mkdir()
    shutil.copy2(scorched[2], folder / "sub" / "inner.ogg")
    return folder


@pytest.fixture(scope="module")
def catalog(library) -> Path:
    db = library.parent / "catalog.db"
    done = cuefinder("--catalog", db, "index", "-q", library)
    assert "failed 1" in done.stdout, done.stdout
    tamper(library)
    add_damaged_row(db)
    return db


def tamper(library: Path) -> None:
    """After indexing: a symlink out of the library, a deleted file, a folder swapped for a
    symlink to one outside."""
    outside = library.parent / "outside"
    outside.mkdir()
    (outside / "secret.ogg").write_bytes(b"outside the library")
    (library / "escape.ogg").unlink()
    (library / "escape.ogg").symlink_to(outside / "secret.ogg")
    (library / "gone.ogg").unlink()
    shutil.move(library / "sub", outside / "sub")
    (library / "sub").symlink_to(outside / "sub")


def add_damaged_row(db: Path) -> None:
    """A catalog row whose segment scores are cut short (as a failing disk might leave it)."""
    with sqlite3.connect(db) as con:
        con.execute(
            "INSERT INTO models(id, name, genres, embedding_dim, config, added_at)"
            " VALUES ('damaged', 'damaged', '[\"A\", \"B\"]', 2, '{}', 0)"
        )
        con.execute(
            "INSERT INTO tracks(path, content_hash, size, mtime, duration, model_id,"
            " segment_seconds, track_scores, segment_scores, embedding, indexed_at, missing)"
            " VALUES ('/nowhere/damaged.ogg', 'x', 1, 0, 10, 'damaged', 3.072, ?, ?, ?, 0, 1)",
            (np.zeros(2, np.float32).tobytes(), b"\x00\x01\x02", np.zeros(2, np.float32).tobytes()),
        )


@pytest.fixture(scope="module")
def server(catalog) -> str:
    with served(catalog, log=catalog.parent / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def ids(catalog) -> dict[str, int]:
    """File name -> track id."""
    with sqlite3.connect(catalog) as con:
        return {Path(p).name: i for i, p in con.execute("SELECT id, path FROM tracks")}


def error_of(response: httpx.Response, status: int, field: str | None = None) -> dict:
    """The error body, checked for the one shape; no traceback ever."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text and 'File "' not in response.text
    error = ErrorBody.model_validate(response.json()).error
    assert error.status == status and error.message
    assert error.field == field, error
    return response.json()["error"]


# -- search -------------------------------------------------------------------


def test_search_results_are_the_command_lines_plus_links(http, catalog):
    query = "romance comedy -action horror:0.3"
    body = http.get("/api/search", params={"q": query, "limit": 5}).json()
    SearchResponse.model_validate(body)
    cli = json.loads(cuefinder("--catalog", catalog, "search", query, "--json", "-n", "5").stdout)
    assert cli == [
        {k: v for k, v in r.items() if k not in ("url", "audio_url")} for r in body["results"]
    ]
    for r in body["results"]:
        assert r["url"] == f"/api/tracks/{r['id']}" and r["audio_url"] == r["url"] + "/audio"
    assert body["query"]["canonical"] == "Romance:1 Comedy:1 -Action:1 Horror:0.3"
    assert body["query"]["terms"][2] == {"genre": "Action", "weight": 1.0, "exclude": True}
    # Romance rests on two games: flagged, as is any genre of the query that ranks near
    # chance on unseen games, in the query's order, as the command line prints them
    weak = checkpoint.read_info(checkpoint.DEFAULT_MODEL).weak_genres
    flagged = [g for g in ("Romance", "Comedy", "Horror") if g in weak]
    assert flagged[0] == "Romance"
    assert [w.split(":")[0] for w in body["warnings"]][: len(flagged)] == flagged
    best = max(r["fit"] for r in body["results"])
    assert (best < 0.25) == body["warnings"][-1].startswith("no track fits well")
    assert all(r["fit_level"] in ("strong", "some", "weak") for r in body["results"])
    assert "taught by 2 games" in body["warnings"][0]
    done = cuefinder("--catalog", catalog, "search", query, "-n", "1")
    assert done.stderr.splitlines() == [f"warning: {w}" for w in body["warnings"]]
    assert http.get("/api/search", params={"q": "adventure"}).json()["warnings"] == []


def test_search_limit_and_duration_filters(http):
    results = http.get("/api/search", params={"q": "action", "limit": 3}).json()["results"]
    assert len(results) == 3 and results[0]["score"] >= results[-1]["score"]
    params = {"q": "action", "limit": 50, "min_duration": 60, "max_duration": 200}
    results = http.get("/api/search", params=params).json()["results"]
    assert results and all(60 <= r["duration"] <= 200 for r in results)


def test_a_cue_length_fits_every_window_and_leaves_shorter_tracks_out(http, ids):
    params = {"q": "action", "limit": 50, "length": 42}
    results = http.get("/api/search", params=params).json()["results"]
    assert results and all(r["duration"] >= 42 for r in results)
    assert all(r["segment"]["end"] - r["segment"]["start"] == pytest.approx(42, abs=0.02)
               for r in results)  # fmt: skip
    everything = http.get("/api/search", params={"q": "action", "limit": 50}).json()["results"]
    assert len(results) == sum(r["duration"] >= 42 for r in everything) < len(everything)
    boat = ids["JDruid-Trip_on_the_Funny_Boat.ogg"]
    like = http.get(f"/api/tracks/{boat}/similar", params={"length": 20, "limit": 3}).json()
    assert all(r["segment"]["end"] - r["segment"]["start"] == pytest.approx(20, abs=0.02)
               for r in like["results"])  # fmt: skip
    error_of(http.get("/api/search", params={"q": "action", "length": 0}), 422, "length")
    error_of(http.get("/api/search", params={"q": "action", "length": "soon"}), 422, "length")


def test_names_beside_genres_and_each_its_own_cached_answer(http):
    def names(q):
        body = http.get("/api/search", params={"q": q, "limit": 50}).json()
        return body["query"], sorted(Path(r["path"]).name for r in body["results"])

    query, found = names("jdruid")
    assert query["names"] == [{"field": "name", "words": "jdruid"}] and query["terms"] == []
    assert query["canonical"] == "name:jdruid" and found == ["JDruid-Trip_on_the_Funny_Boat.ogg"]
    query, found = names("file:excerpt action")  # the same terms as "file:mix3 action"
    assert [t["genre"] for t in query["terms"]] == ["Action"]
    assert found and all(name.startswith("excerpt.") for name in found)
    query, found = names("file:mix3 action")
    assert found and all(name.startswith("mix3_") for name in found)
    error = error_of(http.get("/api/search", params={"q": "zombie"}), 422, "q")
    assert "unknown genre 'zombie'" in error["message"]


@pytest.mark.parametrize("query", ["zombie romance", "", "   "])
def test_a_query_naming_no_genre_is_422_with_the_vocabulary(http, query):
    error = error_of(http.get("/api/search", params={"q": query}), 422, "q")
    assert "Romance" in error["vocabulary"] and "Action" in error["vocabulary"]


def test_a_bad_weight_is_422_naming_the_query(http):
    error = error_of(http.get("/api/search", params={"q": "horror:abc"}), 422, "q")
    assert "weight of 'horror' must be a number" in error["message"]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({}, "q", "q: required"),
        ({"q": "action", "limit": 0}, "limit", "greater than or equal to 1"),
        ({"q": "action", "limit": "ten"}, "limit", "valid integer"),
        ({"q": "action", "min_duration": -5}, "min_duration", "greater than or equal to 0"),
        ({"q": "action", "min_duration": 100, "max_duration": 50}, "max_duration", "below"),
        ({"q": "x" * 501}, "q", "at most 500 characters"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(http, params, field, words):
    assert words in error_of(http.get("/api/search", params=params), 422, field)["message"]


def test_unknown_routes_and_methods_have_the_error_shape(http):
    assert "no such endpoint" in error_of(http.get("/api/nothing-here"), 404)["message"]
    assert "not allowed" in error_of(http.post("/api/search"), 405)["message"]


# -- tracks, status, vocabulary, schema ----------------------------------------


def test_track_detail_has_tags_profile_and_timeline(http, ids):
    boat = ids["JDruid-Trip_on_the_Funny_Boat.ogg"]
    detail = TrackDetail.model_validate(http.get(f"/api/tracks/{boat}").json())
    assert detail.title == "Trip on the Funny Boat" and detail.artist == "JDruid"
    assert set(detail.genres) == set(detail.timeline.genres) and "Romance" in detail.genres
    rows = detail.timeline.scores
    assert len(rows) == pytest.approx(detail.duration / detail.timeline.segment_seconds, abs=1)
    assert all(len(r) == len(detail.timeline.genres) and 0 <= min(r) <= max(r) <= 1 for r in rows)
    assert detail.audio_url == f"/api/tracks/{boat}/audio"
    # the waveform drawn under the timeline, the energy curve, descriptors and sounds
    peaks = detail.waveform.peaks
    assert 100 <= len(peaks) <= 400 and min(peaks) >= 0 and 0.1 < max(peaks) <= 1
    assert detail.waveform.seconds * len(peaks) == pytest.approx(detail.duration, rel=0.01)
    curve = detail.energy_curve
    assert len(curve.values) == pytest.approx(detail.duration / curve.seconds, abs=1)
    assert {"tempo", "tempo_confidence", "key", "loudness", "energy"} <= set(detail.descriptors)
    assert len(detail.sounds) == 50 and all(0 <= p <= 1 for p in detail.sounds.values())


def test_unknown_and_malformed_track_ids(http):
    assert "no track 99999" in error_of(http.get("/api/tracks/99999"), 404, "track_id")["message"]
    error_of(http.get("/api/tracks/0"), 422, "track_id")
    error_of(http.get("/api/tracks/abc"), 422, "track_id")
    error_of(http.get("/api/tracks/99999/audio"), 404, "track_id")


def test_a_damaged_row_is_a_503_naming_it_without_a_traceback(http, ids):
    error = error_of(http.get(f"/api/tracks/{ids['damaged.ogg']}"), 503)
    assert "is damaged" in error["message"] and "catalog check" in error["message"]


def test_status_counts_model_and_failures(http, ids):
    status = Status.model_validate(http.get("/api/status").json())
    assert status.tracks == len(ids) - 1 and status.missing == 1  # the damaged row is "missing"
    assert status.model and "Horror" in status.model.genres
    assert status.failures == 1 and status.failed[0].path.endswith("broken.mp3")
    assert "not decodable audio" in status.failed[0].reason
    assert status.indexing.state == "idle" and status.indexing.roots == []


def test_vocabulary_lists_genres_synonyms_and_modifiers(http):
    vocabulary = Vocabulary.model_validate(http.get("/api/genres").json())
    romance = next(g for g in vocabulary.genres if g.genre == "Romance")
    assert "romantic" in romance.synonyms and vocabulary.softeners["little"] == 0.3
    assert "no" in vocabulary.negators
    assert vocabulary.tags == []  # the catalog was taught no tag of its own


def test_openapi_schema_and_docs_describe_every_endpoint(http):
    paths = http.get("/api/openapi.json").json()["paths"]
    assert {
        "/api/search", "/api/search/text", "/api/tracks/{track_id}", "/api/tracks/{track_id}/audio",
        "/api/tracks/{track_id}/similar", "/api/similar/upload", "/api/status", "/api/index",
        "/api/genres", "/api/tags", "/api/tags/{name}", "/api/refine",
    } <= set(paths)  # fmt: skip
    assert set(paths["/api/tags/{name}"]) == {"post", "delete"}
    body = paths["/api/tags/{name}"]["post"]["requestBody"]["content"]["application/json"]
    taught = http.get("/api/openapi.json").json()["components"]["schemas"]["TagRequest"]
    assert body["schema"]["$ref"].endswith("/TagRequest")
    assert {"add", "not", "remove", "start", "end"} == set(taught["properties"])
    assert "multipart/form-data" in paths["/api/similar/upload"]["post"]["requestBody"]["content"]
    docs = http.get("/api/docs")
    assert docs.status_code == 200 and "/api/docs/assets/swagger-ui-bundle.js" in docs.text
    assert "http://" not in docs.text and "https://" not in docs.text  # nothing from outside
    script = http.get("/api/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    page = http.get("/")
    assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text


# -- audio streaming ------------------------------------------------------------


@pytest.mark.parametrize("suffix", sorted(CONTENT_TYPES))
def test_audio_is_served_whole_with_its_content_type(http, ids, library, suffix):
    name = "JDruid-Trip_on_the_Funny_Boat.ogg" if suffix == ".ogg" else f"excerpt{suffix}"
    response = http.get(f"/api/tracks/{ids[name]}/audio")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPES[suffix]
    assert response.headers["accept-ranges"] == "bytes"
    assert response.content == (library / name).read_bytes()


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=100-199", 100, 200),
        ("bytes=0-0", 0, 1),
        ("bytes=-500", -500, None),  # suffix: the last 500 bytes
        ("bytes=1000-", 1000, None),  # open-ended
        ("bytes=5000-999999999", 5000, None),  # past the end: clipped
        ("bytes=-999999999", 0, None),  # suffix longer than the file: all of it
        ("BYTES = 10-19", 10, 20),
    ],
)
def test_range_requests_get_exactly_those_bytes(http, ids, library, header, start, stop):
    data = (library / "excerpt.mp3").read_bytes()
    response = http.get(f"/api/tracks/{ids['excerpt.mp3']}/audio", headers={"Range": header})
    assert response.status_code == 206, response.text
    expected = data[start:stop]
    first = len(data) + start if start < 0 else start
    assert response.content == expected
    assert response.headers["content-range"] == (
        f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    )
    assert int(response.headers["content-length"]) == len(expected)
    assert response.headers["content-type"] == "audio/mpeg"


@pytest.mark.parametrize("header", ["bytes=999999999-", "bytes=-0", "bytes=999999999-999999999"])
def test_unsatisfiable_ranges_are_416(http, ids, library, header):
    size = (library / "excerpt.mp3").stat().st_size
    response = http.get(f"/api/tracks/{ids['excerpt.mp3']}/audio", headers={"Range": header})
    error_of(response, 416, "range")
    assert response.headers["content-range"] == f"bytes */{size}"


@pytest.mark.parametrize(
    "header", ["bytes=abc", "bytes=5-2", "items=0-10", "bytes=", "bytes=--5", "bytes=0-1,4-5"]
)
def test_malformed_or_multiple_ranges_get_the_whole_file(http, ids, library, header):
    """RFC 9110: an invalid Range header may be ignored; so may several ranges."""
    response = http.get(f"/api/tracks/{ids['excerpt.mp3']}/audio", headers={"Range": header})
    assert response.status_code == 200
    assert response.content == (library / "excerpt.mp3").read_bytes()


def test_head_and_if_range(http, ids, library):
    url = f"/api/tracks/{ids['excerpt.flac']}/audio"
    size = (library / "excerpt.flac").stat().st_size
    head = http.head(url, headers={"Range": "bytes=10-19"})
    assert head.status_code == 206 and head.content == b""
    assert head.headers["content-length"] == "10"
    etag = http.head(url).headers["etag"]
    fresh = http.get(url, headers={"Range": "bytes=10-19", "If-Range": etag})
    assert fresh.status_code == 206 and len(fresh.content) == 10
    stale = http.get(url, headers={"Range": "bytes=10-19", "If-Range": '"old"'})
    assert stale.status_code == 200 and len(stale.content) == size


# -- what must never be served ---------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/api/tracks/../../../../etc/passwd",
        "/api/tracks/1/../../../../etc/passwd",
        "/api/tracks/%2e%2e%2f%2e%2e%2fetc%2fpasswd/audio",
        "/api/tracks/1%2f..%2f..%2fetc%2fpasswd/audio",
        "/api/tracks/%252e%252e%252f%252e%252e%252fetc%252fpasswd/audio",
        "/api/tracks//etc/passwd/audio",
        "/api/tracks/%2Fetc%2Fpasswd/audio",
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/static/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
        "/static//etc/passwd",
        "/static/../serve/app.py",
        "/static/%2e%2e/app.py",
        "//etc/passwd",
    ],
)
def test_path_traversal_is_refused_with_the_error_shape(server, target):
    status, headers, body = raw_get(server, target)
    assert status in (404, 422), (status, body[:200])
    assert headers["content-type"].startswith("application/json")
    assert b"root:" not in body and b"import" not in body
    assert json.loads(body)["error"]["status"] == status


def test_a_symlink_pointing_out_of_the_library_is_refused(http, ids):
    error = error_of(http.get(f"/api/tracks/{ids['escape.ogg']}/audio"), 403, "track_id")
    assert "symbolic link" in error["message"]
    assert "outside" not in error["message"]  # the link's target is never named
    error = error_of(http.get(f"/api/tracks/{ids['inner.ogg']}/audio"), 403, "track_id")
    assert "only the catalogued file itself is served" in error["message"]
    assert "outside" not in error["message"]


def test_a_catalogued_file_that_is_gone_is_404(http, ids):
    error = error_of(http.get(f"/api/tracks/{ids['gone.ogg']}/audio"), 404, "track_id")
    assert "is gone" in error["message"]


def test_a_file_replaced_since_indexing_is_not_served(tmp_path, music_root):
    """Another file under the catalogued name (another size or time) is refused: 409."""
    from serve_helpers import served_in_thread

    from cuefinder.serve import create_app

    songs = sorted((music_root / "scorched3d-data").glob("*.ogg"))
    library = build_library(tmp_path / "lib", songs[:1])
    db = tmp_path / "c.db"
    cuefinder("--catalog", db, "index", "-q", library)
    with served_in_thread(create_app(db)) as url:
        [track] = httpx.get(f"{url}/api/search", params={"q": "action"}).json()["results"]
        audio = f"{url}/api/tracks/{track['id']}/audio"
        assert httpx.get(audio).status_code == 200
        (library / songs[0].name).write_bytes(songs[1].read_bytes())  # swapped under the name
        refused = httpx.get(audio)
    assert refused.status_code == 409
    assert "changed since it was indexed" in refused.json()["error"]["message"]


def test_a_request_for_another_host_name_is_refused(server, http):
    """DNS rebinding: a page elsewhere reaching this loopback server through its own name."""
    evil = httpx.get(f"{server}/api/status", headers={"host": "attacker.example"})
    assert evil.status_code == 400 and evil.json()["error"]["field"] == "host"
    assert "attacker.example" in evil.json()["error"]["message"]
    port = server.rsplit(":", 1)[1]
    for name in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        assert httpx.get(f"{server}/api/status", headers={"host": name}).status_code == 200
    from cuefinder.serve.app import host_names

    assert host_names("0.0.0.0") == ("*",)  # reachable from elsewhere: names not known
    assert host_names("0.0.0.0", ["cues.example"]) == ("cues.example",)
    assert "localhost" in host_names("127.0.0.1")


def test_cors_is_off_by_default(http):
    response = http.get("/api/genres", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in response.headers


# -- similar, uploads, free text --------------------------------------------------


def test_similar_to_a_catalog_track(http, ids):
    boat = ids["JDruid-Trip_on_the_Funny_Boat.ogg"]
    body = SimilarResponse.model_validate(
        http.get(f"/api/tracks/{boat}/similar", params={"limit": 4}).json()
    )
    assert body.reference.id == boat and len(body.results) == 4
    assert boat not in [r.id for r in body.results]
    assert [r.score for r in body.results] == sorted((r.score for r in body.results), reverse=True)
    # the excerpts were cut from this track: the nearest ones
    assert Path(body.results[0].path).name.startswith("excerpt.")
    part = http.get(f"/api/tracks/{boat}/similar", params={"start": 20, "end": 40, "limit": 2})
    assert {"start": 20.0, "end": 40.0}.items() <= part.json()["reference"].items()


def test_similar_rejects_bad_parts_and_unknown_tracks(http, ids):
    boat = ids["JDruid-Trip_on_the_Funny_Boat.ogg"]
    url = f"/api/tracks/{boat}/similar"
    error_of(http.get(url, params={"start": 40, "end": 20}), 422, "end")
    assert "past the end" in error_of(http.get(url, params={"start": 999}), 422, "start")["message"]
    error_of(http.get("/api/tracks/99999/similar"), 404, "track_id")


def test_similar_to_an_uploaded_clip(http, transcoded, library):
    with open(transcoded["mp3"], "rb") as clip:
        response = http.post(
            "/api/similar/upload",
            files={"file": ("my clip.mp3", clip, "audio/mpeg")},
            params={"limit": 3},
        )
    body = SimilarResponse.model_validate(response.json())
    assert body.reference.file == "my clip.mp3"
    # the same 20 s of music, in other formats, come first
    assert Path(body.results[0].path).name.startswith("excerpt.")
    assert body.results[0].score > 0.95


@pytest.mark.parametrize(
    ("name", "kind", "status"),
    [("notes.txt", "text/plain", 415), ("clip.mp3", "image/png", 415), ("clip", "audio/mpeg", 415)],
)
def test_uploads_that_are_not_audio_are_415(http, transcoded, name, kind, status):
    data = transcoded["mp3"].read_bytes()
    response = http.post("/api/similar/upload", files={"file": (name, data, kind)})
    error_of(response, status, "file")


def test_undecodable_and_missing_uploads_are_422(http):
    garbage = http.post("/api/similar/upload", files={"file": ("x.ogg", b"no" * 500, "audio/ogg")})
    assert "not decodable audio" in error_of(garbage, 422, "file")["message"]
    empty = http.post("/api/similar/upload", files={"file": ("x.ogg", b"", "audio/ogg")})
    assert "empty" in error_of(empty, 422, "file")["message"]
    error_of(http.post("/api/similar/upload", data={"other": "1"}), 422, "file")


def test_an_upload_over_50_mb_is_413(server, http):
    # declared too large: refused before a byte of the body is read
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(
            b"POST /api/similar/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
        )
        reply = b""
        while chunk := raw.recv(65536):
            reply += chunk
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413") and '"field":"file"' in reply
    assert "larger than 50 MB" in reply

    # streamed without a length (chunked): refused once 50 MB have arrived
    def chunks():
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
        for _ in range(60):
            yield bytes(1 << 20)

    headers = {"content-type": "multipart/form-data; boundary=b"}
    try:
        response = http.post("/api/similar/upload", content=chunks(), headers=headers)
    except httpx.TransportError:  # the server may close before the client has sent it all
        return
    assert "larger than 50 MB" in error_of(response, 413, "file")["message"]


def test_free_text_search_returns_its_reading_and_results(http):
    body = http.get("/api/search/text", params={"q": "a tense night chase", "limit": 3}).json()
    body = TextSearchResponse.model_validate(body)
    assert {"Action", "Thriller"} & set(body.interpretation.weights)
    assert body.query.terms and len(body.results) == 3
    hints = checkpoint.read_info(checkpoint.DEFAULT_MODEL).weak_genres
    weak = [t.genre for t in body.query.terms if t.genre in hints]
    named = [w.split(":")[0] for w in body.warnings if not w.startswith("no track fits")]
    assert named == weak
    error = error_of(http.get("/api/search/text", params={"q": "qwzx vbnm"}), 422, "q")
    assert "no genre matched" in error["message"]


# -- indexing from the web ----------------------------------------------------------


def test_indexing_is_off_without_index_roots(http):
    response = http.post("/api/index", json={"path": "/tmp"})
    assert "--index-root" in error_of(response, 403)["message"]


def test_index_a_folder_from_the_web_and_poll_its_progress(tmp_path, short_tracks, copy_of):
    root = tmp_path / "root"
    copy_of(root / "new", *short_tracks[:2])
    secret = tmp_path / "private"  # outside the index root, reached through a link inside it
    copy_of(secret, short_tracks[2])
    (root / "new" / "linked.ogg").symlink_to(secret / short_tracks[2].name)
    db = tmp_path / "fresh.db"
    options = ("--index-root", str(root), "--cors-origin", "http://app.example")
    with (
        served(db, *options, log=tmp_path / "server.log") as url,
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        assert (
            "is empty" in error_of(http.get("/api/search", params={"q": "action"}), 503)["message"]
        )
        assert http.get("/api/tags").json() == []
        assert "is empty" in error_of(http.post("/api/tags/x", json={"add": [1]}), 503)["message"]
        assert "is empty" in error_of(http.post("/api/refine", json={"kept": [1]}), 503)["message"]
        error_of(http.post("/api/index", json={"path": str(tmp_path)}), 403, "path")
        error_of(http.post("/api/index", json={"path": "relative/folder"}), 422, "path")
        error_of(http.post("/api/index", json={"path": str(root / "nope")}), 422, "path")
        error_of(http.post("/api/index", json={"wrong": 1}), 422, "path")
        error_of(http.post("/api/index", content=b"{" * 70_000), 413)
        started = http.post("/api/index", json={"path": str(root / "new")})
        assert started.status_code == 202 and started.json()["state"] == "running"
        assert (
            "already indexing"
            in error_of(http.post("/api/index", json={"path": str(root)}), 409)["message"]
        )
        deadline = time.monotonic() + 60
        while (job := http.get("/api/status").json()["indexing"])["state"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert job["state"] == "finished" and job["indexed"] == 2 == job["to_analyse"]
        assert job["processed"] == 2
        assert job["failed"] == [{"path": str(root / "new" / "linked.ogg"), "reason":
                                  "leads outside the index roots through a symbolic link; "
                                  "not indexed"}]  # the link's target is not named  # fmt: skip
        assert http.get("/api/status").json()["tracks"] == 2
        assert len(http.get("/api/search", params={"q": "action"}).json()["results"]) == 2
        allowed = http.get("/api/genres", headers={"Origin": "http://app.example"})
        assert allowed.headers["access-control-allow-origin"] == "http://app.example"
        other = http.get("/api/genres", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        asked = {"Origin": "http://app.example", "Access-Control-Request-Method": "DELETE"}
        preflight = http.options("/api/tags/x", headers=asked)
        assert preflight.status_code == 200
        assert "DELETE" in preflight.headers["access-control-allow-methods"]
        asked["Access-Control-Request-Method"] = "PATCH"  # renaming or reordering a brief
        preflight = http.options("/api/briefs/1", headers=asked)
        assert preflight.status_code == 200
        assert "PATCH" in preflight.headers["access-control-allow-methods"]


def test_serve_without_a_catalog_is_a_clear_error(tmp_path):
    done = cuefinder("--catalog", tmp_path / "none.db", "serve", check=False)
    assert done.returncode == 1 and "no catalog at" in done.stderr
    assert os.path.exists(tmp_path / "none.db") is False


def test_search_filters_on_tempo_and_key(http):
    every = http.get("/api/search", params={"q": "action", "limit": 100}).json()["results"]
    tempos = sorted(r["tempo"] for r in every if r["tempo"] is not None)
    assert tempos and all("key" in r and "loudness" in r for r in every)
    low, high = tempos[0], tempos[len(tempos) // 2]
    # JSON rounds tempo to 0.1 BPM: the bounds leave the stored value room
    params = {"q": "action", "limit": 100, "min_tempo": low - 0.06, "max_tempo": high + 0.06}
    some = http.get("/api/search", params=params).json()["results"]
    inside = {r["id"] for r in every if r["tempo"] is not None and low <= r["tempo"] <= high}
    assert {r["id"] for r in some} == inside, (some, every)
    keyed = next((r for r in every if r["key"]), None)
    if keyed is not None:
        short = keyed["key"].replace(" minor", "m").replace(" major", "")
        hits = http.get("/api/search", params={"q": "action", "key": short}).json()["results"]
        assert hits and all(r["key"] == keyed["key"] for r in hits)
    assert error_of(http.get("/api/search", params={"q": "action", "key": "H"}), 422, "key")
    swapped = {"q": "action", "min_tempo": 150, "max_tempo": 90}
    assert error_of(http.get("/api/search", params=swapped), 422, "min_tempo")
