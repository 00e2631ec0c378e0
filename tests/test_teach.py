"""Teaching a catalog its own tags and corrections, on real game music and the real model."""

from __future__ import annotations

import csv
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cuefinder.catalog import Catalog
from cuefinder.catalog.schema import SCHEMA_VERSION, genre_view
from cuefinder.errors import QueryError
from cuefinder.features import FeatureConfig
from cuefinder.find import taught, teach
from cuefinder.find.rank import refine, search
from cuefinder.find.similar import similar
from cuefinder.model import checkpoint
from cuefinder.model.cnn import GenreCNN
from cuefinder.model.config import ModelConfig
from cuefinder.pipeline.local import index

GAMES = ("xblast-tnt-musics", "scorched3d-data", "abe-data", "funnyboat", "chromium-bsu-data")


@pytest.fixture(scope="module")
def made(tmp_path_factory, music_root) -> Path:
    """A catalog of five games' real tracks (14), indexed once with the built-in model."""
    folder = tmp_path_factory.mktemp("teach")
    library = folder / "library"
    for game in GAMES:
        shutil.copytree(music_root / game, library / game)
    with Catalog(folder / "made.db") as catalog:
        index([library], catalog, progress=False)
        catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return folder


@pytest.fixture
def catalog(made, tmp_path):
    """A fresh copy of the made catalog for each test (the library files are shared)."""
    shutil.copy(made / "made.db", tmp_path / "c.db")
    with Catalog(tmp_path / "c.db") as db:
        yield db


def _game(catalog, game):
    return sorted((t for t in catalog.tracks() if f"/{game}/" in t.path), key=lambda t: t.path)


def _auc(ranked_ids, wanted: set[int], among: set[int]) -> float:
    """ROC-AUC of a ranking: share of (wanted, other) pairs with the wanted one first."""
    order = [i for i in ranked_ids if i in among]
    pos = [order.index(i) for i in wanted]
    neg = [order.index(i) for i in among - wanted]
    return float(np.mean([p < n for p in pos for n in neg]))


def test_a_tag_taught_with_three_tracks_of_a_game_ranks_its_other_tracks_first(catalog):
    bomber = _game(catalog, "xblast-tnt-musics")
    assert len(bomber) == 6
    info = teach.teach("arcade bomber", catalog, add=[t.id for t in bomber[:3]])
    assert (info.kind, info.positives, info.negatives, info.absent) == ("tag", 3, 0, 0)
    assert info.method == "prototype" and info.calibrated and info.self_check is not None
    results = search("#arcade-bomber", catalog, limit=20)
    assert len(results) == catalog.count()
    unseen = {t.id for t in bomber[3:]}
    rest = {r.id for r in results} - {t.id for t in bomber[:3]}
    assert _auc([r.id for r in results], unseen, rest) >= 0.75
    top = results[0]  # why it matched and its best segment work as for genres
    assert set(top.genres) == {"arcade bomber"} and 0 < top.probabilities["arcade bomber"] < 1
    assert 0 <= top.segment["start"] < top.segment["end"] <= top.duration + 1e-6
    # bare words and other spellings name it too, beside genres and exclusions
    mixed = search("arcade bomber -comedy", catalog, limit=3)
    assert set(mixed[0].genres) == {"arcade bomber", "Comedy"}
    assert mixed[0].genres["Comedy"] <= 0


def test_a_logistic_tag_on_request_scores_with_one_product():
    rng = np.random.default_rng(0)
    centre = rng.normal(size=32)
    pos = centre + rng.normal(size=(6, 32))
    neg = -centre + rng.normal(size=(6, 32))
    background = rng.normal(size=(200, 32))
    assert taught.learn(pos, neg, background).method == "prototype"  # what auto picks
    scorer = taught.learn(pos, neg, background, method="logistic")
    assert scorer.method == "logistic" and scorer.calibration is not None
    assert scorer.self_check > 0.9
    probe = np.vstack([centre + rng.normal(size=(20, 32)), -centre + rng.normal(size=(20, 32))])
    p = scorer.probability(probe)
    assert p[:20].mean() > 0.5 > p[20:].mean()
    stored = taught.Scorer.from_stored(scorer.weights, scorer.meta())
    assert np.allclose(stored.probability(probe), p)


def test_a_correction_moves_a_track_down_and_survives_a_new_model(catalog, made, tmp_path):
    before = search("comedy", catalog, limit=catalog.count())
    top = before[0]
    teach.teach("comedy", catalog, not_=[top.id])  # the genre's name: a correction
    after = search("comedy", catalog, limit=catalog.count())
    moved = next(r for r in after if r.id == top.id)
    assert [r.id for r in after].index(top.id) >= len(after) - 2
    assert moved.probabilities["Comedy"] < top.probabilities["Comedy"]
    assert moved.extra["corrected"]["Comedy"] < 0  # shown in why it matched
    assert [t.kind for t in teach.taught_tags(catalog)] == ["correction"]
    # another model with the same genres: the correction holds on its scores too
    torch.manual_seed(5)
    other = tmp_path / "other.safetensors"
    genres = catalog.active_model().genres
    net = GenreCNN(ModelConfig(genres=genres, channels=(8, 8, 16, 16), embedding_dim=16))
    checkpoint.save(other, net, FeatureConfig())
    index([made / "library"], catalog, model=other, jobs=1, progress=False)
    assert catalog.active_model().model_id != top.id and catalog.active_model().embedding_dim == 16
    again = search("comedy", catalog, limit=catalog.count())
    moved = next(r for r in again if r.id == top.id)
    assert moved.probabilities["Comedy"] <= taught.CORRECTED + 1e-3
    assert moved.extra["corrected"]["Comedy"] < 0


def test_examples_follow_a_moved_file(catalog, made, tmp_path):
    library = tmp_path / "library"
    shutil.copytree(made / "library" / "xblast-tnt-musics", library / "bomber")
    shutil.copytree(made / "library" / "abe-data", library / "abe")
    index([library], catalog, progress=False, jobs=1)
    mine = sorted(library.glob("bomber/*.wav"))
    teach.teach("bomber", catalog, add=[str(p) for p in mine[:2]])
    moved = library / "elsewhere" / "renamed.wav"
    moved.parent.mkdir()
    mine[0].rename(moved)
    index([library], catalog, progress=False, jobs=1)  # the old path is missing, the new one in
    [info] = teach.taught_tags(catalog)
    assert (info.positives, info.absent) == (2, 0)  # found by content at its new path
    hits = search("#bomber", catalog, limit=catalog.count())
    assert str(moved) in [h.path for h in hits]
    assert str(mine[0]) not in [h.path for h in hits]


def test_bad_teaching_is_refused_with_the_item_named_and_nothing_stored(catalog):
    track = next(catalog.tracks())
    cases = {
        "no track 'nothing-like-this.ogg'": dict(add=["nothing-like-this.ogg"]),
        "needs at least one track that is it": dict(not_=[track.id]),
        "both 'mood' and not 'mood'": dict(add=[track.id], not_=[track.id]),
        "nothing to teach": dict(),
    }
    for message, kw in cases.items():
        with pytest.raises(QueryError, match=message):
            teach.teach("mood", catalog, **kw)
    with pytest.raises(QueryError, match="already means Horror"):
        teach.teach("scary", catalog, add=[track.id])  # a synonym of a genre
    with pytest.raises(QueryError, match="query language"):
        teach.teach("without", catalog, add=[track.id])
    with pytest.raises(QueryError, match="tag name"):
        teach.teach("a/b;c", catalog, add=[track.id])
    with pytest.raises(QueryError, match="past the end"):
        teach.teach("mood", catalog, add=[track.id], start=track.duration + 5)
    assert teach.taught_tags(catalog) == []
    assert catalog.db.execute("SELECT count(*) FROM examples").fetchone()[0] == 0
    teach.teach("mood", catalog, add=[track.id])
    with pytest.raises(QueryError, match="already taught as 'mood'"):
        teach.teach("mood", catalog, not_=[track.id])
    with pytest.raises(QueryError, match="no tag 'nope'"):
        teach.forget("nope", catalog)


def test_parts_removal_and_sharing_as_csv(catalog, tmp_path):
    bomber = _game(catalog, "xblast-tnt-musics")
    teach.teach("Intro Stab", catalog, add=[bomber[0].id], start=0, stop=10)
    info = teach.teach("intro-stab", catalog, add=[bomber[1].id], not_=[bomber[2].id])
    assert (info.name, info.positives, info.negatives) == ("Intro Stab", 2, 1)  # one tag
    part = [e for e in teach.store.examples(catalog, "Intro Stab") if e.start == 0 and e.stop]
    assert len(part) == 1 and part[0].stop == 10
    shared = tmp_path / "tags.csv"
    assert teach.export_csv(shared, catalog) == 3
    with open(shared, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["tag"] for r in rows} == {"Intro Stab"}
    assert {r["positive"] for r in rows} == {"0", "1"}
    info = teach.teach("intro stab", catalog, remove=[bomber[2].id])
    assert (info.positives, info.negatives) == (2, 0)
    teach.forget("#Intro Stab", catalog)
    assert teach.taught_tags(catalog) == []
    assert teach.import_csv(shared, catalog) == {"Intro Stab": 3}
    assert teach.import_csv(shared, catalog) == {"Intro Stab": 0}  # idempotent
    [info] = teach.taught_tags(catalog)
    assert (info.positives, info.negatives) == (2, 1)
    broken = tmp_path / "broken.csv"
    broken.write_text("tag,positive\nx,1\n")
    with pytest.raises(QueryError, match="not a cuefinder tags file"):
        teach.import_csv(broken, catalog)


def test_refine_and_similar_from_several_tracks(catalog):
    bomber = _game(catalog, "xblast-tnt-musics")
    scorched = _game(catalog, "scorched3d-data")
    results = refine(catalog, kept=[bomber[0].id, bomber[1].id],
                     rejected=[scorched[0].id], limit=catalog.count())  # fmt: skip
    ids = [r.id for r in results]
    assert scorched[0].id not in ids and len(ids) == catalog.count() - 1
    others = {t.id for t in bomber[2:]}
    assert _auc(ids, others, set(ids) - {bomber[0].id, bomber[1].id}) >= 0.75
    assert set(results[0].genres) == {teach.KEPT}
    with_query = refine(catalog, kept=[bomber[0].id], query="action", limit=3)
    assert set(with_query[0].genres) == {"Action", teach.KEPT}
    with pytest.raises(QueryError, match="at least one kept"):
        refine(catalog, rejected=[bomber[0].id])
    near = similar([bomber[0].id, bomber[1].id], catalog, not_=[scorched[0].id], limit=20)
    near_ids = [r.id for r in near]
    assert not {bomber[0].id, bomber[1].id, scorched[0].id} & set(near_ids)
    assert _auc(near_ids, others, set(near_ids)) >= 0.6  # chance: 0.5
    with pytest.raises(QueryError, match="one track"):
        similar([bomber[0].id, bomber[1].id], catalog, start=0, end=5)


def test_a_version_3_catalog_migrates_and_keeps_its_tracks(catalog, tmp_path):
    path = catalog.path
    count = catalog.count()
    model_id, genres = catalog.active_model().model_id, catalog.active_model().genres
    catalog.close()
    db = sqlite3.connect(path)
    for table in ("scorers", "examples", "taught", "brief_entries", "briefs"):
        db.execute(f"DROP TABLE {table}")
    db.execute("DROP VIEW track_genres")
    for column in (
        "tempo",
        "key",
        "key_strength",
        "loudness",  # schema 5's
        "tempo_confidence",
        "energy",
        "energy_curve",
        "sounds",
        "waveform",  # schema 7's
        "sound_embedding",  # schema 8's
    ):
        db.execute(f"ALTER TABLE tracks DROP COLUMN {column}")
    view = genre_view(model_id, genres).replace(
        ", tempo, tempo_confidence, key, loudness, energy", ""
    )
    assert "tempo" not in view.split("FROM")[0]
    db.execute(view)
    db.execute("PRAGMA user_version=3")
    db.commit()
    db.close()
    with Catalog(path) as again:
        assert again.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
        assert again.count() == count
        rows = again.db.execute("SELECT path, tempo, energy, Horror FROM track_genres").fetchall()
        assert len(rows) == count and all(r[1] is r[2] is None for r in rows)  # until re-indexed
        track = next(again.tracks())
        assert teach.teach("migrated", again, add=[track.id]).positives == 1


def test_cli_tag_tags_and_search(catalog, tmp_path):
    bomber = _game(catalog, "xblast-tnt-musics")
    catalog.close()
    run = [sys.executable, "-m", "cuefinder", "--catalog", str(catalog.path)]

    def cli(*args, code=0):
        done = subprocess.run([*run, *args], capture_output=True, text=True)
        assert done.returncode == code, done.stderr
        return done

    out = cli("tag", "chip tune", "--add", bomber[0].path, bomber[1].path, "--not", "1").stdout
    assert out.startswith("#chip tune: 2 examples, 1 counter-examples")
    listed = cli("tags").stdout
    assert "#chip tune" in listed
    hits = cli("search", "#chip-tune", "-n", "3").stdout
    assert "why: chip tune +" in hits
    error = cli("tag", "tension", "--add", "2", code=2).stderr
    assert error.strip() == (
        "cuefinder: error: tag name 'tension' already means Thriller in "
        "queries; to correct Thriller on a track, teach 'Thriller'"
    )
    cli("tags", "export", str(tmp_path / "t.csv"))
    cli("tags", "delete", "chip tune")
    assert "no tags yet" in cli("tags").stdout
    assert "chip tune: 3 new examples" in cli("tags", "import", str(tmp_path / "t.csv")).stdout
    cli("search", "#nothing-taught", code=2)


def test_examples_that_do_not_separate_are_never_calibrated_backwards():
    """Positives in two opposite clusters: each held out, the others point away from it, so
    cross-validated scores fall with the label; a falling curve would reverse the ranking."""
    rng = np.random.default_rng(1)
    centre = rng.normal(size=16) * 3
    pos = np.vstack([centre + rng.normal(size=(2, 16)), -centre + rng.normal(size=(2, 16))])
    scorer = taught.learn(pos, np.zeros((0, 16)), rng.normal(size=(50, 16)))
    assert scorer.self_check < 0.5
    assert scorer.calibration is None  # ranks only, in the learned direction
    raw = scorer.raw(pos)
    assert np.array_equal(np.argsort(scorer.probability(pos)), np.argsort(raw))
