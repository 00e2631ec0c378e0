"""Broken model files are refused before they are trusted: one line, quickly, nothing changed.

Each file below once hung ``index`` (workers respawned for ever), made itself the
catalog's active model before failing, or stored NaN scores as "indexed".
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from cuefinder.catalog import Catalog
from cuefinder.errors import ModelFileError
from cuefinder.find.rank import search
from cuefinder.model import checkpoint
from cuefinder.model.cnn import GenreCNN
from cuefinder.model.config import ModelConfig
from cuefinder.pipeline import stages
from cuefinder.pipeline.local import index

pytestmark = pytest.mark.slow  # not in `make test-fast`


def _default():
    """(tensors, metadata) of the built-in model file."""
    path = checkpoint.default_model_path()
    with safe_open(str(path), framework="pt") as handle:
        names = handle.keys()  # a safe_open handle is not a dict
        return {k: handle.get_tensor(k) for k in names}, dict(handle.metadata())


def _with_meta(meta: dict, key: str, change) -> dict:
    out = dict(meta)
    value = json.loads(out[key])
    change(value)
    out[key] = json.dumps(value)
    return out


def _broken(kind: str, folder):
    path = folder / f"{kind}.safetensors"
    tensors, meta = _default()
    default_bytes = checkpoint.default_model_path().read_bytes()
    if kind == "wrong-shapes":  # a valid header over another network's weights
        small = GenreCNN(ModelConfig(genres=("A", "B"), channels=(8, 8, 16, 16), embedding_dim=8))
        save_file({k: v.contiguous() for k, v in small.state_dict().items()}, path, meta)
    elif kind == "truncated":
        path.write_bytes(default_bytes[: len(default_bytes) // 2])
    elif kind == "wrong-genre-count":
        save_file(tensors, path, _with_meta(meta, "model", lambda m: m.update(genres=["A", "B"])))
    elif kind == "nan-outputs":
        first = next(k for k, v in tensors.items() if v.dtype.is_floating_point and v.ndim == 4)
        tensors[first] = torch.full_like(tensors[first], float("nan"))
        save_file(tensors, path, meta)
    elif kind == "random-bytes":
        path.write_bytes(np.random.default_rng(0).bytes(200_000))
    elif kind == "pickle":
        torch.save(tensors, path)
    elif kind == "wrong-heard-shape":  # regressions for another genre list
        tensors["heard.weight"] = tensors["heard.weight"][:3].contiguous()
        save_file(tensors, path, meta)
    elif kind == "nan-heard":
        tensors["heard.scale"] = torch.full_like(tensors["heard.scale"], float("nan"))
        save_file(tensors, path, meta)
    elif kind == "absurd-front-end":  # one frame per ten minutes: no segment ever
        save_file(tensors, path, _with_meta(meta, "features", lambda f: f.update(hop_length=10**7)))
    return path


KINDS = ("wrong-shapes", "truncated", "wrong-genre-count", "nan-outputs", "random-bytes",
         "pickle", "absurd-front-end", "wrong-heard-shape", "nan-heard")  # fmt: skip


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, short_tracks):
    folder = tmp_path_factory.mktemp("bad-models")
    library = folder / "library"
    library.mkdir()
    for track in short_tracks:
        (library / track.name).write_bytes(track.read_bytes())
    with Catalog(folder / "c.db") as catalog:
        index([library], catalog, jobs=1, progress=False)
    return folder


@pytest.mark.parametrize("kind", KINDS)
def test_index_with_a_broken_model_exits_with_one_line_and_changes_nothing(indexed, kind):
    model = _broken(kind, indexed)
    with Catalog(indexed / "c.db") as catalog:
        before = (catalog.active_model(), catalog.count(), catalog.failures())
    (indexed / "library" / "new.wav").write_bytes(
        next((indexed / "library").iterdir()).read_bytes()
    )
    try:  # two files need work and two workers would start: the old hang
        done = subprocess.run(
            [sys.executable, "-m", "cuefinder", "--catalog", str(indexed / "c.db"), "index",
             "-q", "-j", "2", "--model", str(model), str(indexed / "library")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        (indexed / "library" / "new.wav").unlink()
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cuefinder: error: {model}"), done.stderr
    with Catalog(indexed / "c.db") as catalog:
        assert (catalog.active_model(), catalog.count(), catalog.failures()) == before
        assert search("action", catalog, limit=3)


def test_the_model_check_names_what_is_wrong(indexed):
    for kind, words in [("nan-outputs", "not finite"), ("absurd-front-end", "segments of"),
                        ("wrong-shapes", "weights do not fit"),
                        ("wrong-heard-shape", "heard.weight is"),
                        ("nan-heard", "not finite")]:  # fmt: skip
        info = checkpoint.read_info(_broken(kind, indexed))
        with pytest.raises(ModelFileError, match=words):
            stages.check_model(info)
    stages.check_model(checkpoint.read_info(checkpoint.default_model_path()))  # the good one


def test_a_track_whose_outputs_are_not_finite_fails_instead_of_being_stored(indexed):
    """Were a NaN model ever to reach a worker, its tracks fail; no NaN row is stored."""
    from cuefinder.model.tagger import Tagger

    tagger = Tagger.load(_broken("nan-outputs", indexed))
    track = next((indexed / "library").iterdir())
    found = stages.analyse(stages.task_for(track), tagger)
    assert isinstance(found, stages.Failure) and "not finite" in found.reason


def test_a_worker_that_cannot_load_the_model_reports_instead_of_respawning(tmp_path, funnyboat):
    """A pool replaces a worker whose start-up raises, for ever; ours keeps the reason and
    its first task raises it in the coordinator, which stops the run."""
    from cuefinder.pipeline import local

    try:
        local._init_worker(str(tmp_path / "gone.safetensors"), "0" * 16, 0)
        with pytest.raises(local.WorkerError, match="could not load the model: .*gone"):
            local._work(stages.task_for(funnyboat))
    finally:
        local._BROKEN = None
