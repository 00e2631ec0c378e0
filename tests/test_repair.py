"""Damaged derived files and rows are found, rebuilt or removed; a damaged catalog is one line."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import copy_catalog

from cuefinder.catalog import Catalog, health
from cuefinder.catalog.vectors import VectorIndex, dimensions, index_path, new_index
from cuefinder.pipeline.local import index

pytestmark = pytest.mark.slow  # not in `make test-fast`


@pytest.fixture
def catalog(five_tracks, tmp_path):
    """A copy of the run's shared catalog of five tracks (conftest), this test's to damage."""
    with Catalog(copy_catalog(five_tracks, tmp_path / "c.db")) as db:
        yield db


def _cli(catalog, *args):
    return subprocess.run([sys.executable, "-m", "cuefinder", "--catalog", str(catalog.path),
                           *args], capture_output=True, text=True)  # fmt: skip


def test_a_garbled_vector_index_is_detected_and_rebuilt(catalog):
    model = catalog.active_model()
    path = index_path(catalog, model)
    assert path.exists() and health.check(catalog) == []
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = bytes(2000)  # zeros over vectors and links
    path.write_bytes(bytes(data))
    assert any("not the vector index the catalog saved" in p for p in health.check(catalog))
    done = _cli(catalog, "catalog", "check")
    assert done.returncode == 1 and "catalog repair" in done.stdout
    vectors = VectorIndex(catalog, model, exact_below=0)  # the HNSW index, not exact search
    ids, embeddings = vectors.vectors()
    found, similarity = vectors.search(embeddings[0], 3)
    assert found[0] == ids[0] and similarity[0] > 0.99  # rebuilt from the catalog, not trusted
    assert health.check(catalog) == []


def test_damaged_rows_are_listed_then_removed_after_a_backup(catalog):
    victim = next(catalog.tracks())
    with catalog.transaction() as db:
        db.execute("UPDATE tracks SET segment_scores = ? WHERE id = ?", (b"\x00\x01\x02",
                   victim.id))  # fmt: skip
    count = catalog.count()
    problems = health.check(catalog)
    assert problems == [f"track {victim.id} ({victim.path}): its segment arrays are cut short"]
    backup, done = health.repair(catalog)
    assert done[0] == f"backed up to {backup}" and "removed 1 damaged rows" in done[1]
    with Catalog(backup, create=False) as copy:
        assert copy.count() == count  # the backup holds what was there, damage included
    assert catalog.count() == count - 1 and health.check(catalog) == []
    assert dict(catalog.failures())[victim.path].startswith("damaged row removed")
    report = index([victim.path], catalog, progress=False)  # the next run tags it again
    assert report.indexed == 1 and catalog.count() == count


def test_a_damaged_catalog_file_is_one_line_naming_it(catalog):
    path = catalog.path
    catalog.close()
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)  # the schema page intact, every table garbled
    path.write_bytes(bytes(data))
    for args in (["search", "action"], ["export"]):  # 'catalog check': the test below
        done = subprocess.run([sys.executable, "-m", "cuefinder", "--catalog", str(path), *args],
                              capture_output=True, text=True)  # fmt: skip
        lines = done.stderr.strip().splitlines()
        assert done.returncode in (1, 2) and "Traceback" not in done.stderr, done.stderr
        assert len(lines) == 1 and str(path) in lines[0] and "catalog check" in lines[0], lines
    with pytest.raises(Exception, match="damaged|not a usable catalog|malformed"):  # noqa: SIM117
        with Catalog(path, create=False) as again:  # opening may already refuse it
            health.repair(again)


@pytest.mark.parametrize("damage", ["garbled header", "cut short", "tables garbled"])
def test_check_of_a_catalog_sqlite_cannot_open_is_the_health_line(catalog, damage):
    path = catalog.path
    catalog.close()
    data = path.read_bytes()
    if damage == "garbled header":
        data = b"not SQLite, sorry" + data[17:]
    elif damage == "cut short":
        data = data[: len(data) // 3]
    else:
        data = data[:4096] + b"\xff" * (len(data) - 4096)  # the schema page intact
    path.write_bytes(data)
    done = _cli(catalog, "catalog", "check")  # no advice to run itself again
    assert done.returncode == 1 and done.stderr == "", done.stderr
    why = "file is not a database" if damage == "garbled header" else "database disk image is"
    assert done.stdout.startswith(f"the database itself is damaged ({why}"), done.stdout
    assert done.stdout.endswith("): restore a backup\n") and done.stdout.count("\n") == 1


def test_two_saves_at_once_never_share_a_temporary_file(catalog):
    vectors = VectorIndex(catalog, catalog.active_model())
    built = new_index(dimensions(catalog.active_model()))
    ids, embeddings = vectors.vectors()
    built.add(ids, embeddings)
    errors = []

    def save():
        try:
            vectors._save(built)
        except Exception as err:  # the old FileNotFoundError race
            errors.append(err)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not list(vectors.path.parent.glob("*.tmp"))
    loaded = new_index(catalog.active_model().embedding_dim)
    loaded.load(str(vectors.path))
    assert len(loaded) == len(ids)
    assert np.array_equal(np.sort(np.asarray(loaded.keys)), np.sort(ids))
