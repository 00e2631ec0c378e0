"""Filter banks: the libraries' own, made once per machine, loaded without the libraries."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from cuefinder import filterbanks
from cuefinder.features import FeatureConfig
from cuefinder.model import musicnn

FRONT = FeatureConfig()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty user cache; the process's banks forgotten before and after."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for made in (filterbanks.mel, filterbanks.chroma, filterbanks.k_weighting):
        made.cache_clear()
    yield tmp_path / "cuefinder" / "filters"
    for made in (filterbanks.mel, filterbanks.chroma, filterbanks.k_weighting):
        made.cache_clear()


def _banks() -> list[np.ndarray]:
    return [
        filterbanks.mel(FRONT.sample_rate, FRONT.n_fft, FRONT.n_mels, FRONT.f_min, FRONT.f_max),
        filterbanks.mel(musicnn.SAMPLE_RATE, musicnn.N_FFT, musicnn.N_MELS),
        filterbanks.chroma(16000, 4096),
        filterbanks.k_weighting(16000, 4096),
    ]


def _libraries() -> list[np.ndarray]:
    import librosa.filters
    from pyloudnorm import Meter
    from scipy.signal import freqz

    freqs = np.fft.rfftfreq(4096, 1 / 16000)
    power = np.ones(len(freqs))
    for stage in Meter(16000)._filters.values():
        power *= np.abs(freqz(stage.b, stage.a, worN=freqs, fs=16000)[1]) ** 2
    return [
        librosa.filters.mel(
            sr=FRONT.sample_rate,
            n_fft=FRONT.n_fft,
            n_mels=FRONT.n_mels,
            fmin=FRONT.f_min,
            fmax=FRONT.f_max,
            norm="slaney",
        ),
        librosa.filters.mel(sr=musicnn.SAMPLE_RATE, n_fft=musicnn.N_FFT, n_mels=musicnn.N_MELS),
        librosa.filters.chroma(sr=16000, n_fft=4096),
        power,
    ]


def test_banks_are_the_libraries_own_and_kept_in_the_cache(cache):
    made = _banks()
    for ours, theirs in zip(made, _libraries(), strict=True):
        assert ours.dtype == np.float32 and np.array_equal(ours, theirs.astype(np.float32))
        assert not ours.flags.writeable  # shared by every caller in the process
    assert len(list(cache.glob("*.npy"))) == 4
    for made_again in (filterbanks.mel, filterbanks.chroma, filterbanks.k_weighting):
        made_again.cache_clear()
    for ours, loaded in zip(made, _banks(), strict=True):
        assert np.array_equal(ours, loaded)


def test_with_the_banks_cached_a_worker_needs_none_of_the_libraries(cache, funnyboat):
    """What an indexing worker does first (its model, a track's descriptors and sound
    tags) needs neither librosa, scipy.signal nor pyloudnorm once the banks are cached
    (1.5 s of CPU at each worker's start); the results are the same."""
    script = (
        "import sys, numpy as np; from cuefinder.pipeline import stages; "
        "from cuefinder.model import checkpoint; "
        "info = checkpoint.read_info(checkpoint.default_model_path()); "
        "stages.check_model(info); "
        f"task = stages.discover([{str(funnyboat)!r}]).files[0]; "
        "found = stages.decode(task, info.features, measure=True); "
        "d = found.descriptors; "
        "print(round(d.tempo, 3), d.key, round(d.loudness, 3), "
        "round(float(np.abs(d.sound_embedding).sum()), 3), round(float(found.frames.sum()), 1)); "
        "print(*[m for m in ('librosa', 'scipy.signal', 'pyloudnorm') if m in sys.modules])"
    )
    env = os.environ | {"XDG_CACHE_HOME": str(cache.parent.parent)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
        )
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    first, second = (run.stdout.splitlines() for run in runs)
    assert first[1].split() == ["librosa", "scipy.signal", "pyloudnorm"]  # made them
    assert second[1] == ""  # loaded them
    assert first[0] == second[0]


def test_a_damaged_bank_is_made_again_and_an_unwritable_cache_is_no_error(
    cache, tmp_path, monkeypatch
):
    expected = _banks()
    for path in cache.glob("*.npy"):
        path.write_bytes(b"\x93NUMPY" + bytes(20))  # a torn write
    filterbanks.chroma.cache_clear(), filterbanks.mel.cache_clear()
    filterbanks.k_weighting.cache_clear()
    assert all(np.array_equal(a, b) for a, b in zip(expected, _banks(), strict=True))
    assert all(np.load(path).dtype == np.float32 for path in cache.glob("*.npy"))
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    filterbanks.chroma.cache_clear()
    assert np.array_equal(filterbanks.chroma(16000, 4096), expected[2])
