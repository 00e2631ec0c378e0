"""Tracks as Parquet: export for other tools, import into a catalog (idempotent)."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import numpy as np
import pytest

from cuefinder.catalog import Catalog
from cuefinder.find.rank import search
from cuefinder.find.similar import similar
from cuefinder.pipeline import shards


@pytest.fixture(scope="module")
def source(five_tracks):
    """The run's shared catalog of five tracks (conftest), read only."""
    catalog = Catalog(five_tracks, create=False)
    yield catalog
    catalog.close()


def test_export_then_import_gives_the_same_catalog_and_search(source, tmp_path):
    written = shards.write(source, tmp_path / "out" / "tracks.parquet")
    assert written == source.count() == 5
    with Catalog(tmp_path / "copy.db") as copy:
        report = shards.read_into(copy, [tmp_path / "out"])
        assert (report.added, report.unchanged, report.files, report.failed) == (5, 0, 1, [])
        assert copy.active_model() == source.active_model()
        for a, b in zip(source.tracks(), copy.tracks(), strict=True):
            assert (a.path, a.duration, a.title) == (b.path, b.duration, b.title)
            assert (a.tempo, a.key, a.loudness) == (b.tempo, b.key, b.loudness)
            assert a.loudness is not None
            assert np.array_equal(a.track_scores, b.track_scores)
            assert np.array_equal(a.embedding, b.embedding)
            assert a.sound_embedding is not None
            assert np.array_equal(a.sound_embedding, b.sound_embedding)
            assert np.allclose(a.segment_scores, b.segment_scores, atol=1e-3)
            assert np.allclose(a.segment_embeddings, b.segment_embeddings, atol=1e-3)
        query = "comedy -war horror:0.3"
        assert [r.path for r in search(query, copy)] == [r.path for r in search(query, source)]
        first = next(copy.tracks()).id
        assert [r.path for r in similar(first, copy)]  # the vector index was built
        again = shards.read_into(copy, [tmp_path / "out" / "tracks.parquet"])
        assert (again.added, again.unchanged) == (0, 5)  # importing twice changes nothing
        assert copy.count(include_missing=True) == 5


def test_other_tools_read_the_export(source, tmp_path):
    shards.write(source, tmp_path / "t.parquet")
    rows = duckdb.sql(
        f"SELECT path, scores.Horror, len(embedding) FROM '{tmp_path / 't.parquet'}' "
        "ORDER BY scores.Horror DESC"
    ).fetchall()
    stored = {t.path: t.genre_scores()["Horror"] for t in source.tracks()}
    assert len(rows) == 5 and rows[0][0] == max(stored, key=stored.get)
    assert all(abs(h - stored[p]) < 1e-4 for p, h, _ in rows)
    assert {n for _, _, n in rows} == {source.active_model().embedding_dim}


def test_a_bad_file_is_named_and_the_rest_imported(source, tmp_path):
    shards.write(source, tmp_path / "in" / "a.parquet")
    (tmp_path / "in" / "b.parquet").write_bytes(b"not parquet at all")
    run = [sys.executable, "-m", "cuefinder", "--catalog", str(tmp_path / "c.db")]
    done = subprocess.run([*run, "catalog", "import", str(tmp_path / "in")],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1
    assert done.stdout.strip() == "imported 5 tracks, 0 already there, from 1 files"
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"cuefinder: error: {tmp_path / 'in' / 'b.parquet'}: not a cuefinder")
    done = subprocess.run([*run, "export", "--format", "parquet"], capture_output=True, text=True)
    assert done.returncode == 2 and "needs a file" in done.stderr
