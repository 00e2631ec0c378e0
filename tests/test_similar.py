"""Sounds-like search on real game music: self-retrieval, clips, segments, the ANN index."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import httpx
import numpy as np
import pytest
from conftest import encode

from cuefinder import audio, descriptors
from cuefinder.catalog import Catalog
from cuefinder.catalog.schema import SCHEMA_VERSION
from cuefinder.catalog.vectors import VectorIndex, dimensions, index_path, joined, likeness_of
from cuefinder.descriptors import SOUND_DIM
from cuefinder.errors import QueryError
from cuefinder.find.similar import similar
from cuefinder.pipeline.local import index

pytestmark = pytest.mark.slow  # not in `make test-fast`

GAMES = ("funnyboat", "scorched3d-data", "xblast-tnt-musics", "abe-data")


@pytest.fixture(scope="module")
def catalog(music_root, tmp_path_factory) -> Catalog:
    path = tmp_path_factory.mktemp("similar") / "c.db"
    catalog = Catalog(path)
    report = index([music_root / g for g in GAMES], catalog, progress=False)
    assert report.indexed >= 12 and not report.failed
    assert report.vectors.added == report.indexed and report.vectors.size == report.indexed
    return catalog


def test_every_tracks_nearest_neighbour_is_itself(catalog):
    for track in catalog.tracks():
        hits = similar(track.id, catalog, limit=3, exclude_self=False)
        assert hits[0].id == track.id and hits[0].score == pytest.approx(1.0, abs=1e-3)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        others = similar(track.path, catalog, limit=3)
        assert track.id not in [h.id for h in others]


def test_results_rank_by_the_model_and_what_musicnn_hears_together(catalog):
    tracks = list(catalog.tracks())
    assert all(t.sound_embedding.shape == (SOUND_DIM,) for t in tracks)
    assert all(np.isfinite(t.sound_embedding).all() and t.sound_embedding.any() for t in tracks)
    projection = likeness_of(catalog, catalog.active_model())  # the built-in model's
    assert projection is not None
    embeddings = np.stack([t.embedding for t in tracks])
    space = joined(embeddings, np.stack([t.sound_embedding for t in tracks]), projection)
    assert space.shape == (len(tracks), dimensions(catalog.active_model()))
    model_only = np.stack([t.embedding for t in tracks])
    differs = 0
    for n, track in enumerate(tracks):
        hits = similar(track.id, catalog, limit=len(tracks) - 1)
        expected = [tracks[i].id for i in np.argsort(-(space @ space[n]), kind="stable")[1:]]
        assert [h.id for h in hits] == expected
        np.testing.assert_allclose(
            [h.score for h in hits], np.sort(space @ space[n])[::-1][1:], atol=1e-3
        )
        by_model = [tracks[i].id for i in np.argsort(-(model_only @ model_only[n]))[1:]]
        differs += by_model != expected
    assert differs > 0  # the sound embedding takes part in the ranking


def test_a_part_of_a_track_is_compared_on_its_segments_and_what_musicnn_hears_there(catalog):
    """The model's segments in the part, and musicnn's tagger on 4 excerpts of 3 s spread
    over the part as decoded again: not the stored sound embedding of the whole track."""
    track = max(catalog.tracks(), key=lambda t: t.duration)
    start, end = 40, 70
    hits = similar(track.id, catalog, start=start, end=end, limit=5, exclude_self=False)
    first, last = int(start // track.segment_seconds), int(np.ceil(end / track.segment_seconds))
    part = track.segment_embeddings[first:last].mean(axis=0)
    part /= np.linalg.norm(part)
    samples = audio.load(track.path, sample_rate=16000)[start * 16000 : end * 16000]
    excerpts = [samples[s : s + 48000] for s in np.linspace(0, len(samples) - 48000, 4).astype(int)]
    _, heard = descriptors.sound_tags(excerpts, 16000)
    assert not np.allclose(heard, track.sound_embedding, atol=1e-3)  # the part's own
    projection = likeness_of(catalog, catalog.active_model())
    query = joined(part, heard, projection)
    for hit in hits:
        other = catalog.track(hit.id)
        expected = float(joined(other.embedding, other.sound_embedding, projection) @ query)
        assert hit.score == pytest.approx(expected, abs=1e-3)


def test_a_part_of_a_track_whose_file_is_gone_is_compared_on_the_models_half(
    music_root, tmp_path, copy_of
):
    [path] = copy_of(tmp_path / "music", next((music_root / "funnyboat").rglob("*.ogg")))
    with Catalog(tmp_path / "c.db") as own:
        index([path.parent], own, progress=False)
        [track] = list(own.tracks())
        path.unlink()
        [hit] = similar(track.id, own, start=0, end=30, limit=1, exclude_self=False)
        part = track.segment_embeddings[: int(np.ceil(30 / track.segment_seconds))].mean(axis=0)
        projection = likeness_of(own, own.active_model())
        whole = joined(track.embedding, track.sound_embedding, projection)
        expected = float(whole @ joined(part / np.linalg.norm(part), None, projection))
    assert hit.id == track.id and hit.score == pytest.approx(expected, abs=1e-3)


def test_tracks_indexed_before_the_sound_embedding_get_it_at_the_next_run(
    music_root, tmp_path, copy_of
):
    copy_of(tmp_path / "lib", *sorted((music_root / "scorched3d-data").glob("*.ogg")))
    catalog = Catalog(tmp_path / "c.db")
    index([tmp_path / "lib"], catalog, progress=False)
    model = catalog.active_model()
    with catalog.transaction() as db:  # as schema 7 left them, with the index of then
        db.execute("UPDATE tracks SET sound_embedding = NULL")
        db.execute("INSERT INTO meta(key, value) VALUES (?, '{}')", (f"vectors:{model.model_id}",))
    older = tmp_path / f"c.db.{model.model_id}.usearch"
    older.write_bytes(b"an index of the model's embedding alone")
    hits = similar(next(catalog.tracks()).id, catalog, limit=2)
    assert len(hits) == 2  # searchable meanwhile, on the model's block
    again = index([tmp_path / "lib"], catalog, progress=False)
    assert again.indexed == 3 and again.vectors.added == 3
    assert all(t.sound_embedding is not None for t in catalog.tracks())
    assert not older.exists() and index_path(catalog, model).exists()
    assert (
        catalog.db.execute(
            "SELECT count(*) FROM meta WHERE key = ?", (f"vectors:{model.model_id}",)
        ).fetchone()[0]
        == 0
    )
    assert index([tmp_path / "lib"], catalog, progress=False).indexed == 0


def _decoded(path: str) -> np.ndarray:
    import av

    with av.open(path) as container:
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=44100)
        blocks = [
            out.to_ndarray().reshape(-1, 2)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
    return np.concatenate(blocks)


def test_a_clip_cut_from_a_catalog_track_finds_that_track_first(catalog, tmp_path):
    track = max(catalog.tracks(), key=lambda t: t.duration)
    assert track.duration > 90
    start = 60.0
    samples = _decoded(track.path)[int(start * 44100) : int((start + 25) * 44100)]
    clip = encode(samples, 44100, tmp_path / "temp-track.mp3", "libmp3lame", "mp3")
    hits = similar(clip, catalog, limit=5)
    assert hits[0].path == track.path
    # the best-matching window of that track covers the part the clip was cut from
    assert hits[0].segment["start"] <= start + 25 and hits[0].segment["end"] >= start


@pytest.mark.parametrize("seed", [0, 1])
def test_20_s_clips_cut_anywhere_find_their_track_first(catalog, tmp_path, seed):
    """Clips off the patch grid (a patch is 3.072 s): offsets drawn at random per track."""
    rng = np.random.default_rng(seed)
    long_enough = [t for t in catalog.tracks() if t.duration >= 30]
    assert len(long_enough) >= 6
    for track in rng.choice(long_enough, size=6, replace=False):
        start = float(rng.uniform(0, track.duration - 21)) + 0.37
        samples = _decoded(track.path)[int(start * 44100) : int((start + 20) * 44100)]
        clip = encode(samples, 44100, tmp_path / f"clip-{track.id}.mp3", "libmp3lame", "mp3")
        hits = similar(clip, catalog, limit=3)
        assert hits[0].path == track.path, (track.path, start, [h.path for h in hits])


def test_a_part_of_the_reference_is_its_own_query(catalog):
    track = max(catalog.tracks(), key=lambda t: t.duration)
    whole = similar(track.id, catalog, limit=5)
    part = similar(track.id, catalog, limit=5, start=30, end=45)
    assert (
        len(part) == 5
        and [h.id for h in part] != [h.id for h in whole]
        or [h.score for h in part] != [h.score for h in whole]
    )
    itself = similar(track.id, catalog, limit=1, start=30, end=45, exclude_self=False)
    assert itself[0].id == track.id


def test_the_best_window_of_a_medley_is_in_the_part_like_the_query(catalog, tmp_path):
    """A 2-minute medley: a minute of one game's track, then a minute of another's. A part
    of the second minute as the query: its best window lies in the second minute (game
    music repeats itself, so a part of one track may rightly match elsewhere in it; across
    two games' music it may not)."""
    first = next(t for t in catalog.tracks() if "funnyboat" in t.path and t.duration > 70)
    second = next(t for t in catalog.tracks() if "scorched3d" in t.path and t.duration > 70)
    medley = np.concatenate(
        [_decoded(first.path)[: 60 * 44100], _decoded(second.path)[: 60 * 44100]]
    )
    path = encode(medley, 44100, tmp_path / "medley.mp3", "libmp3lame", "mp3")
    with Catalog(tmp_path / "medley.db") as own:
        index([path], own, progress=False)
        hits = similar(path, own, limit=1, start=75, end=95, exclude_self=False)
    assert hits[0].segment["start"] >= 50, hits[0].segment


@pytest.mark.parametrize(
    "start,end,message",
    [(50, 20, "must be after --from"), (-5, None, "at least 0"), (1e6, None, "past the end")],
)
def test_bad_parts_are_refused_with_the_option_named(catalog, start, end, message):
    track = next(catalog.tracks())
    with pytest.raises(QueryError, match=message):
        similar(track.id, catalog, start=start, end=end)


def test_unknown_references_are_refused(catalog, tmp_path):
    with pytest.raises(QueryError, match="no track with id 99999"):
        similar(99999, catalog)
    with pytest.raises(QueryError, match="neither a track in the catalog nor an audio file"):
        similar(tmp_path / "nothing.ogg", catalog)
    (tmp_path / "fake.mp3").write_bytes(b"\xff\xd8\xff\xe0" + b"JFIF" * 100)
    with pytest.raises(Exception, match="fake.mp3"):
        similar(tmp_path / "fake.mp3", catalog)


def test_an_outside_reference_longer_than_the_bound_is_refused_while_decoding(
    catalog, music_root, tmp_path, monkeypatch
):
    """A small file can decode to hours: a reference clip is cut off at its bound, through
    the API too, which names the upload as it was sent."""
    from serve_helpers import served_in_thread

    from cuefinder.find import similar as module
    from cuefinder.serve import create_app

    track = next((music_root / "funnyboat").glob("*.ogg"))  # 3:05
    clip = tmp_path / "reference.ogg"
    clip.write_bytes(track.read_bytes())
    monkeypatch.setattr(module, "REFERENCE_MAX_SECONDS", 60.0)
    with pytest.raises(QueryError, match=r"reference.ogg: longer than 1 min, the most"):
        similar(clip, catalog)
    with served_in_thread(create_app(catalog.path)) as url:
        upload = {"file": ("temp track.ogg", clip.read_bytes(), "audio/ogg")}
        sent = httpx.post(f"{url}/api/similar/upload", files=upload, timeout=120)
    error = sent.json()["error"]
    assert sent.status_code == 422 and error["field"] == "file"
    assert error["message"].startswith("file: 'temp track.ogg': longer than 1 min")
    assert "cuefinder-upload" not in error["message"]  # no temporary path shown


def test_duration_filters_and_limit(catalog):
    hits = similar(next(catalog.tracks()).id, catalog, limit=4, min_duration=60)
    assert 0 < len(hits) <= 4 and all(h.duration >= 60 for h in hits)


def test_the_ann_index_agrees_with_exact_search(catalog):
    vectors = VectorIndex(catalog, catalog.active_model(), exact_below=0)
    ids, embeddings = vectors.vectors()
    recall = []
    for query in embeddings:
        exact_ids, exact_scores = vectors.search(query, 10, exact=True)
        ann_ids, ann_scores = vectors.search(query, 10, exact=False)
        recall.append(len(set(exact_ids) & set(ann_ids)) / len(exact_ids))
        np.testing.assert_allclose(ann_scores[0], exact_scores[0], atol=2e-3)  # float16 storage
    assert np.mean(recall) >= 0.95


def test_index_keeps_the_ann_index_in_step(music_root, tmp_path, copy_of):
    copy_of(tmp_path / "lib", *sorted((music_root / "scorched3d-data").glob("*.ogg")))
    catalog = Catalog(tmp_path / "c.db")
    first = index([tmp_path / "lib"], catalog, progress=False)
    assert (first.vectors.added, first.vectors.removed, first.vectors.size) == (3, 0, 3)
    file = index_path(catalog, catalog.active_model())
    assert file.exists()
    again = index([tmp_path / "lib"], catalog, progress=False)
    assert (again.vectors.added, again.vectors.removed, again.vectors.rebuilt) == (0, 0, False)
    gone = sorted((tmp_path / "lib").glob("*.ogg"))[0]
    gone.unlink()
    after = index([tmp_path / "lib"], catalog, progress=False)
    assert (after.vectors.removed, after.vectors.size) == (1, 2)
    # a damaged index file is rebuilt from the catalog, which is the source of truth
    file.write_bytes(b"garbage" * 10)
    repaired = VectorIndex(catalog, catalog.active_model()).sync()
    assert repaired.rebuilt and repaired.size == 2
    hits = similar(sorted((tmp_path / "lib").glob("*.ogg"))[0], catalog, limit=5)
    assert str(gone) not in [h.path for h in hits] and len(hits) == 1


def test_a_version_1_catalog_is_migrated_and_still_searchable(music_root, tmp_path, copy_of):
    copy_of(tmp_path / "lib", *sorted((music_root / "scorched3d-data").glob("*.ogg"))[:2])
    path = tmp_path / "old.db"
    with Catalog(path) as catalog:
        index([tmp_path / "lib"], catalog, progress=False)
    db = sqlite3.connect(path)  # make it what cuefinder 0.1 wrote
    db.execute("DROP VIEW track_genres")
    for table in ("scorers", "examples", "taught", "brief_entries", "briefs"):  # 4's, 6's
        db.execute(f"DROP TABLE {table}")
    for table, column in [
        ("tracks", "segment_embeddings"),
        ("tracks", "tag_scores"),
        ("models", "tags"),
        ("tracks", "genre_scores"),
        ("tracks", "tempo"),
        ("tracks", "key"),
        ("tracks", "key_strength"),
        ("tracks", "loudness"),
        ("tracks", "tempo_confidence"),
        ("tracks", "energy"),
        ("tracks", "energy_curve"),
        ("tracks", "sounds"),
        ("tracks", "waveform"),
        ("tracks", "sound_embedding"),
    ]:
        db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    with Catalog(path) as catalog:
        assert catalog.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        # the per-genre view is there, filled from the stored scores
        rows = catalog.db.execute("SELECT path, Horror FROM track_genres").fetchall()
        stored = {t.path: t.genre_scores()["Horror"] for t in catalog.tracks()}
        assert len(rows) == 2 and all(abs(h - stored[p]) <= 5e-5 for p, h in rows)
        track = next(catalog.tracks())
        assert track.segment_embeddings.shape == (0, len(track.embedding))  # not stored then
        hits = similar(track.id, catalog, exclude_self=False, start=0, end=10)
        assert hits[0].id == track.id  # re-tagged from the file to get its segments
        report = index([tmp_path / "lib"], catalog, progress=False)  # the next run fills them
        assert report.indexed == 2
        assert all(len(t.segment_embeddings) == len(t.segment_scores) for t in catalog.tracks())
        assert index([tmp_path / "lib"], catalog, progress=False).indexed == 0  # and once only


def test_cli_similar_json_contract_and_errors(catalog, tmp_path):
    track = next(catalog.tracks())
    run = [sys.executable, "-m", "cuefinder", "--catalog", str(catalog.path), "similar"]
    done = subprocess.run([*run, track.path, "--json", "-n", "3"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) == 3 and track.path not in [r["path"] for r in results]
    for r in results:
        assert {"path", "score", "genres", "segment"} <= set(r)
        assert 0 <= r["segment"]["start"] < r["segment"]["end"] <= r["duration"] + 1e-6
        assert -1 <= r["score"] <= 1
    text = subprocess.run(
        [*run, track.path, "--from", "0:10", "--to", "0:40"], capture_output=True, text=True
    )
    assert text.returncode == 0 and "closest" in text.stdout and "shares:" in text.stdout
    bad = subprocess.run(
        [*run, track.path, "--from", "1:00", "--to", "0:30"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "--to (30 s) must be after --from (60 s)" in bad.stderr
    bad = subprocess.run([*run, track.path, "--from", "soon"], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a time: 'soon'" in bad.stderr
    bad = subprocess.run([*run, str(tmp_path / "nope.wav")], capture_output=True, text=True)
    assert bad.returncode == 2 and "nope.wav: neither a track" in bad.stderr
