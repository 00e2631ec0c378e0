"""The Python API: the same capabilities as the CLI, importable from the package."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import encode

import cuefinder

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
