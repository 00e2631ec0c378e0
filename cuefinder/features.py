"""The log-mel front end: one implementation for training and for inference.

Its settings (``FeatureConfig``) are stored inside every model file, so a model
is always fed the features it was trained on.

Frames follow ``librosa.feature.melspectrogram(center=False)``: frame ``i``
covers samples ``[i * hop, i * hop + n_fft)`` of a Hann-windowed STFT, power
spectrum, Slaney mel filters (``librosa.filters.mel``), then decibels
``10 * log10(max(S, amin))`` (``scale="db"``) or musicnn's compression
``log10(1 + 10000 * S)`` (``scale="log1p"``, what its pretrained networks read).
``stream_log_mel`` gives the same frames as ``log_mel`` on the whole signal while
holding only one chunk at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from cuefinder.errors import FeatureError

if TYPE_CHECKING:  # torch loads only where a spectrogram is computed, not with the settings
    import torch

SCALES = ("db", "log1p")


@dataclass(frozen=True)
class FeatureConfig:
    """Settings of the log-mel front end (stored in the model file)."""

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 96
    f_min: float = 0.0
    f_max: float = 8000.0
    amin: float = 1e-10
    scale: str = "db"  # "db" or "log1p" (musicnn's log10(1 + 10000 S))

    def __post_init__(self):
        if self.scale not in SCALES:
            raise FeatureError(f"scale must be one of {', '.join(SCALES)}: {self.scale!r}")
        if self.sample_rate <= 0 or self.n_fft <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise FeatureError(f"feature settings must be positive: {self}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise FeatureError(f"need 0 <= f_min < f_max <= sample_rate/2: {self}")

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def to_dict(self) -> dict:
        values = asdict(self)
        if values["scale"] == "db":  # settings written before scales existed stay identical
            del values["scale"]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> FeatureConfig:
        known = {k: values[k] for k in cls.__dataclass_fields__ if k in values}
        return cls(**known)


@lru_cache(maxsize=8)
def _filters(config: FeatureConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Hann window (n_fft,) and mel basis (n_mels, n_fft // 2 + 1)."""
    import torch

    from cuefinder import filterbanks

    mel = filterbanks.mel(
        config.sample_rate, config.n_fft, config.n_mels, config.f_min, config.f_max
    )
    window = torch.hann_window(config.n_fft, periodic=True, dtype=torch.float32)
    return window, torch.from_numpy(mel.astype(np.float32))


def log_mel(samples: np.ndarray | torch.Tensor, config: FeatureConfig) -> torch.Tensor:
    """Log-mel spectrogram in dB.

    Parameters
    ----------
    samples : shape (n,), mono audio at ``config.sample_rate``, finite values
    config : front-end settings

    Returns
    -------
    torch.Tensor, shape (n_mels, frames), float32;
    ``frames = 1 + (n - n_fft) // hop_length`` (0 when ``n < n_fft``)
    """
    import torch

    wave = torch.as_tensor(samples, dtype=torch.float32)
    if wave.ndim != 1:
        raise FeatureError(f"expected mono samples of shape (n,), got {tuple(wave.shape)}")
    if not bool(torch.isfinite(wave).all()):
        raise FeatureError("audio buffer is not finite everywhere")
    if wave.numel() < config.n_fft:
        return torch.zeros(config.n_mels, 0)
    window, mel = _filters(config)
    spec = torch.stft(
        wave,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        window=window,
        center=False,
        return_complex=True,
    )
    power = mel @ (spec.real.square() + spec.imag.square())  # (mels, frames)
    if config.scale == "log1p":
        return torch.log10(1.0 + 10000.0 * power)
    return 10.0 * torch.log10(torch.clamp(power, min=config.amin))


def stream_log_mel(chunks: Iterable[np.ndarray], config: FeatureConfig) -> Iterator[torch.Tensor]:
    """Log-mel frames of a chunked signal, identical to ``log_mel`` of the whole.

    Each yielded tensor has shape (n_mels, frames) with frames >= 1; samples are
    carried across chunk boundaries so no frame is lost or duplicated.
    """
    hop, n_fft = config.hop_length, config.n_fft
    carry = np.zeros(0, np.float32)
    for chunk in chunks:
        buffer = np.concatenate([carry, np.asarray(chunk, np.float32)])
        if buffer.size < n_fft:
            carry = buffer
            continue
        frames = 1 + (buffer.size - n_fft) // hop
        yield log_mel(buffer[: (frames - 1) * hop + n_fft], config)
        carry = buffer[frames * hop :]


# The front end musicnn's pretrained networks were trained on (frames uncentred here);
# every setting spelled out, since its weights fix them whatever FeatureConfig's defaults.
# model/musicnn.py reads its constants from here.
MUSICNN_FEATURES = FeatureConfig(
    sample_rate=16000, n_fft=512, hop_length=256, n_mels=96, f_max=8000.0, scale="log1p"
)


def even_patches(values: np.ndarray, width: int, max_patches: int) -> np.ndarray:
    """(n, mels, width) evenly spaced patches of a (mels, frames) array, at most
    ``max_patches``; an array shorter than a patch is looped to fill one."""
    frames = values.shape[1]
    if frames < width:
        return np.tile(values, (1, -(-width // frames)))[None, :, :width]
    count = min(max_patches, frames // width)
    starts = np.linspace(0, frames - width, count).astype(int)
    return np.stack([values[:, s : s + width] for s in starts])
