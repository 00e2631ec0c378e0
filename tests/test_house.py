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


def _imports(path: Path, *, lazy: bool = True, modules: set[str] | None = None) -> set[str]:
    """Every cuefinder module a file imports: at its top, and (``lazy``) inside functions.

    With ``modules`` (the package's), ``from P import n`` is module ``P.n`` where there is
    one, else ``P``; without, both. Imports under ``if TYPE_CHECKING:`` never run and are
    left out.
    """
    tree = ast.parse(path.read_text())
    out = set()
    for node in _running(tree, lazy=lazy):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            named = {f"{node.module}.{a.name}" for a in node.names}
            if modules is None:
                out |= {node.module} | named
            else:
                out |= {name if name in modules else node.module for name in named}
    return {name for name in out if name.startswith("cuefinder.")}


def _running(node: ast.AST, *, lazy: bool):
    """The nodes that may run: all but ``if TYPE_CHECKING:`` blocks and (unless ``lazy``)
    function bodies, which do not run when the module is imported."""
    for child in ast.iter_child_nodes(node):
        if not lazy and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(child, ast.If) and ast.unparse(child.test).endswith("TYPE_CHECKING"):
            continue
        yield child
        yield from _running(child, lazy=lazy)


def _module_name(path: Path, root: Path) -> str:
    """``cuefinder.find.rank`` for .../cuefinder/find/rank.py, ``cuefinder.find`` for its
    ``__init__.py``."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph(root: Path, *, lazy: bool) -> dict[str, set[str]]:
    """Each module of the package at ``root`` -> the package's modules it imports."""
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    names = set(modules)
    return {m: _imports(p, lazy=lazy, modules=names) & names - {m} for m, p in modules.items()}


def _circles(graph: dict[str, set[str]], within: str = "") -> list[str]:
    """The modules (named from ``within``) that import themselves through others."""
    names = {m for m in graph if m.startswith(within)}
    local = {m: graph[m] & names for m in names}
    return sorted(m for m in local if m in _reach(local, m))


def _reach(graph: dict, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for name in graph[todo.pop()] - seen:
            seen.add(name)
            todo.append(name)
    return seen


def test_no_module_level_import_circles_in_the_package():
    assert _circles(_graph(PACKAGE, lazy=False)) == []


@pytest.mark.parametrize(
    "within",
    [
        "cuefinder.model",
        "cuefinder.datasets",
        "cuefinder.train",
        "cuefinder.evaluate",
        "cuefinder.find",
        "cuefinder.serve",
        "cuefinder.cli",
    ],
)
def test_no_import_circles_in_the_model_training_search_and_the_edges(within):
    """Lazy imports count: a function-level import back is the same circle, hidden. A
    package's ``__init__.py`` is the package (``cuefinder.model``, whose ``build`` its
    modules may import)."""
    assert _circles(_graph(PACKAGE, lazy=True), within) == []


# datasets <- train <- evaluate: each package imports only the ones before it
LAYERS = ("cuefinder.datasets", "cuefinder.train", "cuefinder.evaluate")


def _upward(graph: dict[str, set[str]], layers: tuple[str, ...]) -> list[str]:
    """``module -> imported`` for each import from a layer into a later one."""

    def layer(name: str) -> int | None:
        return next(
            (i for i, p in enumerate(layers) if name == p or name.startswith(p + ".")), None
        )

    return sorted(
        f"{m} -> {n}"
        for m, imported in graph.items()
        if (here := layer(m)) is not None
        for n in imported
        if (there := layer(n)) is not None and there > here
    )


def test_datasets_training_and_evaluation_import_one_way():
    """Lazy imports count: a function that reaches back up is the same dependency."""
    assert _upward(_graph(PACKAGE, lazy=True), LAYERS) == []


def test_the_one_way_check_finds_an_import_back(tmp_path):
    root = tmp_path / "cuefinder"
    for name in ("datasets", "train", "evaluate"):
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "datasets" / "games.py").write_text("")
    (root / "train" / "loop.py").write_text("from cuefinder.datasets import games\n")
    (root / "evaluate" / "report.py").write_text("from cuefinder.train import loop\n")
    assert _upward(_graph(root, lazy=True), LAYERS) == []
    (root / "train" / "loop.py").write_text("def f():\n    from cuefinder.evaluate import report\n")
    (root / "datasets" / "games.py").write_text("import cuefinder.train\n")
    assert _upward(_graph(root, lazy=True), LAYERS) == [
        "cuefinder.datasets.games -> cuefinder.train",
        "cuefinder.train.loop -> cuefinder.evaluate.report",
    ]


def test_the_package_circle_finder_finds_them(tmp_path):
    root = tmp_path / "cuefinder"
    (root / "find").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "find" / "__init__.py").write_text("")
    (root / "find" / "a.py").write_text("def f():\n    from cuefinder.find import b\n")
    (root / "find" / "b.py").write_text("from cuefinder.find.a import f\n")
    hint = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cuefinder import cli\n"
    (root / "find" / "c.py").write_text(hint)  # a type hint's import never runs
    (root / "cli.py").write_text("import cuefinder.find.c\n")
    (root / "cli_x.py").write_text("from cuefinder.cli import main\n")
    assert _circles(_graph(root, lazy=False)) == []
    assert _circles(_graph(root, lazy=True)) == ["cuefinder.find.a", "cuefinder.find.b"]
    (root / "cli.py").write_text("from cuefinder import cli_x\n")
    assert _circles(_graph(root, lazy=False), "cuefinder.cli") == [
        "cuefinder.cli",
        "cuefinder.cli_x",
    ]


def test_the_circle_finder_finds_one(tmp_path):
    folder = tmp_path / "cuefinder" / "train"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("def build():\n    from cuefinder.train import c\n")
    (folder / "a.py").write_text("def f():\n    from cuefinder.train import b\n")
    (folder / "b.py").write_text("from cuefinder.train.a import f\n")
    (folder / "c.py").write_text("from cuefinder.train import a\n")
    train = "cuefinder.train"
    assert _circles(_graph(folder.parent, lazy=True), train) == [f"{train}.a", f"{train}.b"]
    # the package's own __init__ in a circle: it builds d's, d asks it for build
    (folder / "__init__.py").write_text("def build():\n    from cuefinder.train import d\n")
    (folder / "d.py").write_text("def g():\n    from cuefinder.train import build\n")
    assert _circles(_graph(folder.parent, lazy=True), train) == [
        train,
        f"{train}.a",
        f"{train}.b",
        f"{train}.d",
    ]


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
    from cuefinder.evaluate import cross_validation, report
    from cuefinder.train import config

    assert (*model_config.NETWORKS, *model_config.MUSICNN_MODES) == model_config.TRAINABLE
    assert set(model_config.NETWORKS) < set(model_config.ARCHITECTURES)
    assert report.TRANSFER == cross_validation.TRANSFER == tuple(model_config.MUSICNN_MODES)
    for function in (cross_validation.cross_validate, cross_validation.run):
        assert function.__defaults__[0] is model_config.DEFAULT_METHODS
    assert config.TrainConfig().max_seconds == config.MAX_SECONDS
    literal = re.compile(r"(max_seconds|MAX_SECONDS)\s*[:=][^=\n]*\b600\b")
    stated = [p.name for p in PACKAGE.rglob("*.py") if literal.search(p.read_text())]
    assert stated == ["config.py"]  # train/config.py, imported by the rest


def test_evaluation_arguments_are_refused_before_any_audio_is_read(tmp_path):
    from cuefinder.evaluate import cross_validation

    missing = tmp_path / "no-such-manifest.csv"  # reading it would fail differently
    with pytest.raises(ConfigError, match="unknown methods"):
        cross_validation.run(missing, tmp_path, methods=["random", "nope"])
    with pytest.raises(DatasetError, match="not evaluated: nope"):
        cross_validation.run(missing, tmp_path, methods=["random"], fusions=[("random", "nope")])
    with pytest.raises(ConfigError, match="unknown scheme"):
        cross_validation.run(missing, tmp_path, methods=["random"], scheme="folds")


def test_a_recipe_and_a_model_config_are_read_without_numpy_or_torch():
    import subprocess
    import sys

    code = (
        "import sys, cuefinder.train.config, cuefinder.model.config;"
        "print(sorted({'numpy', 'torch'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
