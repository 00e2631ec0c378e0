"""The Ray runner on a local Ray: the local runner's results, shards, resumption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from cuefinder.catalog import Catalog
from cuefinder.errors import ModelFileError
from cuefinder.model import checkpoint
from cuefinder.pipeline import ray_runner, shards, stages
from cuefinder.pipeline.local import index

pytestmark = pytest.mark.slow  # not in `make test-fast`


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def library(tmp_path, short_tracks, funnyboat, copy_of):
    folder = tmp_path / "library"
    copy_of(folder, *short_tracks, funnyboat)
    (folder / "broken.mp3").write_bytes(b"ID3" + bytes(300))  # a failure, as locally
    return folder


def test_ray_run_stores_what_the_local_runner_stores_and_writes_shards(
    local_ray, library, tmp_path
):
    with Catalog(tmp_path / "local.db") as here:
        index([library], here, jobs=1, progress=False)
        expected = {t.path: t for t in here.tracks()}
        expected_failures = here.failures()
    with Catalog(tmp_path / "ray.db") as there:
        report = ray_runner.index([library], there, shard_dir=tmp_path / "shards", progress=False)
        assert (report.indexed, report.unchanged, len(report.failed)) == (5, 0, 1)
        assert there.failures() == expected_failures  # the same one-line reasons
        for track in there.tracks():
            local = expected[track.path]
            assert np.allclose(track.track_scores, local.track_scores, atol=1e-5)
            assert np.allclose(track.embedding, local.embedding, atol=1e-5)
            assert np.allclose(track.sound_embedding, local.sound_embedding, atol=1e-5)
            assert track.segment_scores.shape == local.segment_scores.shape
        again = ray_runner.index([library], there, progress=False)
        assert (again.indexed, again.unchanged) == (0, 5)  # unchanged files skipped as locally
    files = sorted((tmp_path / "shards").glob("*.parquet"))
    assert len(files) == 1
    with Catalog(tmp_path / "merged.db") as merged:
        imported = shards.read_into(merged, files)
        assert (imported.added, imported.unchanged) == (5, 0)
        assert {t.path for t in merged.tracks()} == set(expected)


def test_a_broken_model_is_refused_on_ray_in_one_line_and_nothing_changes(
    local_ray, library, tmp_path
):
    """The model is checked in a Ray task (the driver never loads torch); its one-line
    reason comes back as the local runner's would, before anything is stored."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(checkpoint.default_model_path()), framework="pt") as handle:
        names = handle.keys()  # a safe_open handle is not a dict
        tensors = {k: handle.get_tensor(k) for k in names}
        meta = dict(handle.metadata())
    first = next(k for k, v in tensors.items() if v.dtype.is_floating_point and v.ndim == 4)
    tensors[first] = torch.full_like(tensors[first], float("nan"))
    broken = tmp_path / "nan.safetensors"
    save_file(tensors, broken, meta)
    with Catalog(tmp_path / "c.db") as catalog:
        with pytest.raises(ModelFileError, match="not finite") as caught:
            ray_runner.index([library], catalog, model=broken, progress=False)
        assert str(caught.value).startswith(str(broken)) and "\n" not in str(caught.value)
        assert (catalog.active_model(), catalog.count(), catalog.failures()) == (None, 0, [])
    # the pipeline, started beside the check, has ended with it
    pulling = [t for t in threading.enumerate() if t.name == ray_runner.STREAM_THREAD]
    assert not any(t.is_alive() for t in pulling)


def test_a_process_that_indexed_and_searched_here_can_then_index_on_ray(library, tmp_path):
    """The local runner and the nearest-neighbour index (usearch, which carries its own
    C++ runtime) first, then a Ray run, in one process: Ray aborted it ("Invalid range
    in brace expression") until the system's runtime was loaded before usearch's."""
    script = (
        "import sys; from cuefinder.catalog import Catalog; "
        "from cuefinder.pipeline import local, ray_runner; "
        f"here = local.index([{str(library)!r}], Catalog({str(tmp_path / 'l.db')!r}), "
        "jobs=2, progress=False); "
        f"there = ray_runner.index([{str(library)!r}], Catalog({str(tmp_path / 'r.db')!r}), "
        "progress=False); print(here.indexed, there.indexed, 'usearch' in sys.modules)"
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["5", "5", "True"], done.stderr[-2000:]


def test_a_killed_ray_run_resumes_with_every_track_exactly_once(library, tmp_path):
    for n in range(6):  # more work, so the kill lands part-way
        (library / f"copy{n}.ogg").write_bytes(next(library.glob("*.ogg")).read_bytes())
    db = tmp_path / "c.db"
    command = [sys.executable, "-m", "cuefinder", "--catalog", str(db), "index",
               "--engine", "ray", str(library)]  # fmt: skip
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    run = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           text=True, start_new_session=True, env=env)  # fmt: skip
    deadline = time.monotonic() + 240
    for line in run.stderr:  # a line per stored track when not in a terminal
        if line.startswith("[") and " indexed " in line or time.monotonic() > deadline:
            break
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    with Catalog(db) as catalog:
        stored = catalog.count()
    assert 1 <= stored < 11
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1  # the broken file, reported again
    assert "failed: " in done.stdout and "broken.mp3" in done.stdout
    assert "Progress bars disabled" not in done.stderr  # Ray Data's; the runner's own show
    with Catalog(db) as catalog:
        paths = [t.path for t in catalog.tracks(include_missing=True)]
        assert len(paths) == len(set(paths)) == 11  # every track once
        assert all(len(t.segment_embeddings) for t in catalog.tracks())


def test_ray_options_need_the_ray_engine(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "cuefinder", "--catalog", str(tmp_path / "c.db"), "index",
         "--shards", str(tmp_path / "s"), str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "cuefinder: error: --address and --shards need --engine ray"


def test_decode_tasks_take_several_files_and_the_actor_pool_leaves_the_cpus_to_them():
    assert ray_runner.files_per_task(44, 2) == 5  # make bench's files on 2 cores
    assert ray_runner.files_per_task(3, 2) == 1
    assert ray_runner.files_per_task(1_000_000, 64) == ray_runner.MAX_FILES_PER_TASK

    def strategy(**sizes):
        return sizes

    assert ray_runner._actor_pool(strategy, 2.0, 0, None) == {"size": 1}
    assert ray_runner._actor_pool(strategy, 16.0, 0, None) == {"min_size": 1, "max_size": 4}
    assert ray_runner._actor_pool(strategy, 16.0, 2, None) == {"size": 2}  # one per GPU
    assert ray_runner._actor_pool(strategy, 16.0, 0, 3) == {"size": 3}  # --jobs
    assert ray_runner.TAG_CPUS == 0 < ray_runner.DECODE_CPUS  # different: never fused


def test_the_first_decode_task_takes_the_smallest_files_then_the_largest_go_first():
    """The driver stores nothing until a first result has passed a checked model actor:
    the smallest files make it come soon; the rest go largest first (a short tail)."""
    tasks = [stages.FileTask(path=f"/m/{n}.ogg", size=n, mtime=0.0) for n in range(1, 23)]
    ordered = [t.size for t in ray_runner.in_order(tasks, 5)]
    assert ordered[:5] == [1, 2, 3, 4, 5] and ordered[5:] == list(range(22, 5, -1))
    assert sorted(ordered) == list(range(1, 23))  # every file once
    few = [t.size for t in ray_runner.in_order(tasks[:8], 5)]
    assert few == list(range(8, 0, -1))  # two tasks or fewer: largest first
