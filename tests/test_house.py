"""One house: each setting stated once, no import circles, no module past 500 lines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import cuefinder
from cuefinder.errors import ConfigError, DatasetError
from cuefinder.features import MUSICNN_FEATURES, FeatureConfig
from cuefinder.model import config as model_config

PACKAGE = Path(cuefinder.__file__).parent
MAX_LINES = 500


def _imports(path: Path) -> set[str]:
    """Every cuefinder module a file imports, at its top or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in out if name.startswith("cuefinder.")}


def _in_circles(folder: Path) -> list[str]:
    """The modules of a folder that import themselves through others (lazy imports count)."""
    modules = {f"cuefinder.{folder.name}.{p.stem}": p for p in folder.glob("*.py")}
    graph = {m: _imports(p) & set(modules) - {m} for m, p in modules.items()}
    return sorted(m for m in graph if m in _reach(graph, m))


def _reach(graph: dict, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for name in graph[todo.pop()] - seen:
            seen.add(name)
            todo.append(name)
    return seen


@pytest.mark.parametrize("folder", ["train", "model"])
def test_no_import_circles(folder):
    assert _in_circles(PACKAGE / folder) == []


def test_the_circle_finder_finds_one(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "a.py").write_text("def f():\n    from cuefinder.train import b\n")
    (folder / "b.py").write_text("from cuefinder.train.a import f\n")
    (folder / "c.py").write_text("from cuefinder.train import a\n")
    assert _in_circles(folder) == ["cuefinder.train.a", "cuefinder.train.b"]


def test_no_module_past_500_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_network_reads_as_many_mel_bands_as_its_front_end_makes():
    from cuefinder.model import features_for

    assert model_config.ModelConfig(genres=("A",)).n_mels == FeatureConfig().n_mels
    with pytest.raises(ConfigError, match="64 mel bands but its front end makes 96"):
        features_for(model_config.ModelConfig(genres=("A",), n_mels=64))


def test_musicnn_front_end_constants_are_the_shared_front_ends_settings():
    from cuefinder.model import musicnn

    assert (
        MUSICNN_FEATURES.sample_rate,
        MUSICNN_FEATURES.n_fft,
        MUSICNN_FEATURES.hop_length,
        MUSICNN_FEATURES.n_mels,
    ) == (musicnn.SAMPLE_RATE, musicnn.N_FFT, musicnn.HOP_LENGTH, musicnn.N_MELS)
    source = Path(musicnn.__file__).read_text()
    assert not re.search(r"^(SAMPLE_RATE|N_FFT|HOP_LENGTH|N_MELS) = \d", source, re.M)


def test_architecture_and_method_names_are_declared_once():
    from cuefinder.train import config, evaluate, report

    assert (*model_config.NETWORKS, *model_config.MUSICNN_MODES) == model_config.TRAINABLE
    assert set(model_config.NETWORKS) < set(model_config.ARCHITECTURES)
    assert report.TRANSFER == evaluate.TRANSFER == tuple(model_config.MUSICNN_MODES)
    for function in (evaluate.cross_validate, evaluate.run):
        assert function.__defaults__[0] is model_config.DEFAULT_METHODS
    assert config.TrainConfig().max_seconds == config.MAX_SECONDS
    literal = re.compile(r"(max_seconds|MAX_SECONDS)\s*[:=][^=\n]*\b600\b")
    stated = [p.name for p in PACKAGE.rglob("*.py") if literal.search(p.read_text())]
    assert stated == ["config.py"]  # train/config.py, imported by the rest


def test_evaluation_arguments_are_refused_before_any_audio_is_read(tmp_path):
    from cuefinder.train import evaluate

    missing = tmp_path / "no-such-manifest.csv"  # reading it would fail differently
    with pytest.raises(ConfigError, match="unknown methods"):
        evaluate.run(missing, tmp_path, methods=["random", "nope"])
    with pytest.raises(DatasetError, match="not evaluated: nope"):
        evaluate.run(missing, tmp_path, methods=["random"], fusions=[("random", "nope")])
    with pytest.raises(ConfigError, match="unknown scheme"):
        evaluate.run(missing, tmp_path, methods=["random"], scheme="folds")


def test_a_recipe_and_a_model_config_are_read_without_numpy_or_torch():
    import subprocess
    import sys

    code = (
        "import sys, cuefinder.train.config, cuefinder.model.config;"
        "print(sorted({'numpy', 'torch'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
