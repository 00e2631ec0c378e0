"""Filter banks computed once per machine, not once per process.

librosa's mel and chroma banks and pyloudnorm's K-weighting (BS.1770) are constants of
their parameters, but computing them imports librosa, scipy.signal and pyloudnorm: about
1.5 s of CPU in every new indexing worker, a fifth of indexing an hour of music on
2 cores (``bench/bench_index.py``). Each bank is kept in the user's cache
(``settings.cache_dir("filters")``) as a ``.npy`` named by its parameters and the
versions of the libraries that made it, written atomically; a process loads the array.
Where the cache cannot be written, a bank is computed as before; an unreadable file is
made again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from cuefinder import settings

LIBRARIES = ("librosa", "scipy", "pyloudnorm")  # what makes the banks: their versions key them


@lru_cache(maxsize=16)
def mel(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """``librosa.filters.mel`` (Slaney scale and norm), float32 (n_mels, n_fft // 2 + 1)."""

    def make() -> np.ndarray:
        import librosa.filters

        return librosa.filters.mel(
            sr=sample_rate,
            n_fft=n_fft,
            n_mels=n_mels,
            fmin=fmin,
            fmax=fmax,
            htk=False,
            norm="slaney",
        )

    params = dict(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return _cached("mel", params, make)


@lru_cache(maxsize=4)
def chroma(sample_rate: int, n_fft: int) -> np.ndarray:
    """``librosa.filters.chroma``, float32 (12, n_fft // 2 + 1)."""

    def make() -> np.ndarray:
        import librosa.filters

        return librosa.filters.chroma(sr=sample_rate, n_fft=n_fft)

    return _cached("chroma", dict(sr=sample_rate, n_fft=n_fft), make)


@lru_cache(maxsize=4)
def k_weighting(sample_rate: int, n_fft: int) -> np.ndarray:
    """The power response |H|^2 of pyloudnorm's two BS.1770 filter stages, at the bins of
    an ``n_fft``-point real FFT: float32 (n_fft // 2 + 1,)."""

    def make() -> np.ndarray:
        from pyloudnorm import Meter
        from scipy.signal import freqz

        freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
        power = np.ones(len(freqs))
        for stage in Meter(sample_rate)._filters.values():  # BS.1770's two stages
            _, response = freqz(stage.b, stage.a, worN=freqs, fs=sample_rate)
            power *= np.abs(response) ** 2
        return power

    return _cached("k-weighting", dict(sr=sample_rate, n_fft=n_fft), make)


def _cached(name: str, params: dict, make: Callable[[], np.ndarray]) -> np.ndarray:
    path = _path(name, params)
    try:
        bank = np.load(path, allow_pickle=False)
        if bank.dtype == np.float32:
            return _fixed(bank)
    except (OSError, ValueError, EOFError):  # not there yet, or unreadable: made again
        pass
    bank = np.asarray(make(), dtype=np.float32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        with open(partial, "wb") as handle:
            np.save(handle, bank)
        os.replace(partial, path)
    except OSError:  # a read-only cache: computed in each process, as before
        pass
    return _fixed(bank)


def _fixed(bank: np.ndarray) -> np.ndarray:
    bank.setflags(write=False)  # one array per process, shared by every caller
    return bank


def _path(name: str, params: dict) -> Path:
    key = json.dumps([params, _made_by()], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return settings.cache_dir("filters") / f"{name}-{digest}.npy"


@lru_cache(maxsize=1)
def _made_by() -> dict[str, str]:
    """The versions of the libraries that make the banks (read once per process)."""
    from importlib.metadata import version

    return {library: version(library) for library in LIBRARIES}
