"""musicnn's pretrained taggers (Pons & Serra, 2019) in PyTorch, without TensorFlow.

``load("MSD_musicnn")`` (50 Last.fm tags: genres, moods, eras, instruments) or
``load("MTT_musicnn")`` (50 MagnaTagATune tags) builds the network of musicnn's
``models.py`` (``build_musicnn``) and fills it from ``weights/<name>.safetensors``:
musicnn's own weights (ISC; licence and provenance in ``weights/MUSICNN_LICENSE.md``),
converted once from the TensorFlow-1 checkpoints of the ``musicnn==0.1.0`` wheel by
``tools/convert_musicnn.py``, so neither TensorFlow nor that wheel is needed.

The network, on (batch, frames, mels) log-mel patches (musicnn's own layout):

- front end: batch norm of the input, then five branches, each a convolution, ReLU,
  batch norm and a max over frequency: two timbral ones (kernels of 7 frames by 38
  and 67 mels, 204 filters each) and three temporal ones (128, 64 and 32 frames by 1
  mel, 51 filters each, TF 'same' padding) -> 561 channels per frame;
- mid end: three 1-D convolutions over time (7 frames, 64 filters, ReLU, batch
  norm), the last two residual; their outputs and the front end's are stacked -> 753;
- back end: max and mean over time (interleaved, as TF flattens them) -> 1506, batch
  norm, dense 200 + ReLU, batch norm (the "penultimate" layer), dense 50, sigmoid.

Batch norms use TF's epsilon (1e-3) and stored statistics; dropout is off.
``tests/test_musicnn.py`` checks the tags and embeddings against TensorFlow running
musicnn's own extractor on real music.

The embedding is musicnn's ``penultimate`` layer (200 values): the representation the
tag layer reads linearly, and batch-normalised, so each dimension has a comparable
scale, which suits distances ("sounds like this") and small transfer heads better
than the 753-value ``max_pool`` (raw activations of very different scales); both are
in ``Musicnn.layers``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cuefinder.errors import FeatureError, ModelFileError
from cuefinder.features import MUSICNN_FEATURES
from cuefinder.model.musicnn_tags import TAGS

# musicnn's front end, stated once in features.MUSICNN_FEATURES
SAMPLE_RATE = MUSICNN_FEATURES.sample_rate
N_FFT = MUSICNN_FEATURES.n_fft
HOP_LENGTH = MUSICNN_FEATURES.hop_length
N_MELS = MUSICNN_FEATURES.n_mels
PATCH_FRAMES = 187  # 3 s: librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1
TF_BN_EPSILON = 1e-3
WEIGHTS = Path(__file__).with_name("weights")  # <name>.safetensors, from tools/convert_musicnn.py


class _FrontBranch(nn.Module):
    """Conv over (frames, mels) with zero time padding, ReLU, batch norm, max over mels."""

    def __init__(self, filters: int, frames: int, mels: int):
        super().__init__()
        self.pad = ((frames - 1) // 2, frames // 2)  # TF 'same' (odd: centred; even: 1 more after)
        self.conv = nn.Conv2d(1, filters, (frames, mels))
        self.norm = nn.BatchNorm2d(filters, eps=TF_BN_EPSILON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, 0, *self.pad))  # (batch, 1, frames + k - 1, mels)
        x = self.conv(x)  # (batch, filters, frames, mels - width + 1)
        if self.training:
            return self.norm(F.relu(x)).amax(dim=3)  # (batch, filters, frames)
        # with stored statistics the batch norm is a monotone map per filter, rising or
        # falling with the sign of its scale, and so is ReLU: the max over mels of the
        # normed activations is the normed max (or min) of the convolution, exactly, with
        # the norm and ReLU over one value per frame instead of every mel (a batch of 4
        # excerpts: 144 ms against 162-177 ms)
        norm = self.norm
        falling = (norm.weight < 0)[None, :, None]  # the scale's sign is its weight's
        x = torch.where(falling, x.amin(dim=3), x.amax(dim=3)) if falling.any() else x.amax(3)
        stats = (norm.running_mean, norm.running_var, norm.weight, norm.bias)
        return F.batch_norm(F.relu(x), *stats, training=False, eps=norm.eps)


class _MidBlock(nn.Module):
    """1-D conv over time (7 frames, zero-padded to keep the length), ReLU, batch norm."""

    def __init__(self, channels_in: int, filters: int):
        super().__init__()
        self.conv = nn.Conv1d(channels_in, filters, 7, padding=3)
        self.norm = nn.BatchNorm1d(filters, eps=TF_BN_EPSILON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(F.relu(self.conv(x)))


class Musicnn(nn.Module):
    """musicnn tagger: (batch, frames, 96) log-mel patches -> (tag probabilities, embedding).

    Any number of frames works (the network pools over time); the pretrained models
    were trained on 187-frame (3 s) patches, which ``taggram`` feeds them.
    """

    def __init__(self, name: str = "MSD_musicnn", midend_filters: int = 64, units: int = 200):
        super().__init__()
        self.name = name
        self.tags = TAGS[name]
        self.input_norm = nn.BatchNorm2d(1, eps=TF_BN_EPSILON)
        timbral = [(204, 7, int(0.4 * N_MELS)), (204, 7, int(0.7 * N_MELS))]  # 38, 67 mels
        temporal = [(51, 128, 1), (51, 64, 1), (51, 32, 1)]
        self.frontend = nn.ModuleList(_FrontBranch(*spec) for spec in timbral + temporal)
        front = sum(spec[0] for spec in timbral + temporal)  # 561
        self.midend = nn.ModuleList(
            [_MidBlock(front, midend_filters)]
            + [_MidBlock(midend_filters, midend_filters) for _ in range(2)]
        )
        pooled = 2 * (front + 3 * midend_filters)  # max and mean of 753 channels
        self.pool_norm = nn.BatchNorm1d(pooled, eps=TF_BN_EPSILON)
        self.dense = nn.Linear(pooled, units)
        self.dense_norm = nn.BatchNorm1d(units, eps=TF_BN_EPSILON)
        self.classifier = nn.Linear(units, len(self.tags))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tag probabilities (batch, 50) and the penultimate embedding (batch, 200).

        Parameters
        ----------
        x : (batch, frames, 96) float32, ``musicnn_features`` patches
        """
        out = self.layers(x)
        return torch.sigmoid(out["logits"]), out["penultimate"]

    def layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The back end's activations, named as musicnn's extractor names them.

        ``max_pool`` and ``mean_pool`` (batch, 753), ``penultimate`` (batch, 200),
        ``logits`` (batch, 50).
        """
        pooled = self.pooled(x)
        hidden = self.back_end(pooled)
        return {
            "max_pool": pooled[:, 0::2],
            "mean_pool": pooled[:, 1::2],
            "penultimate": hidden,
            "logits": self.classifier(hidden),
        }

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Front and mid end, max and mean over time: (batch, 1506), TF's interleaved order."""
        if x.ndim != 3 or x.shape[2] != N_MELS:
            raise ValueError(f"expected (batch, frames, {N_MELS}) patches, got {tuple(x.shape)}")
        x = self.input_norm(x.unsqueeze(1))  # (batch, 1, frames, mels)
        front = torch.cat([branch(x) for branch in self.frontend], dim=1)  # (batch, 561, frames)
        stack, h = [front], front
        for i, block in enumerate(self.midend):
            h = block(h) + (h if i else 0)  # residual after the first
            stack.append(h)
        features = torch.cat(stack, dim=1)  # (batch, 753, frames)
        max_pool, mean_pool = features.amax(dim=2), features.mean(dim=2)
        return torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # TF's (753, 2) order

    def back_end(self, pooled: torch.Tensor) -> torch.Tensor:
        """The penultimate layer (batch, 200) from ``pooled`` features."""
        return self.dense_norm(F.relu(self.dense(self.pool_norm(pooled))))


def load(name: str = "MSD_musicnn", *, path: str | os.PathLike | None = None) -> Musicnn:
    """A pretrained musicnn in eval mode, from the weights shipped with cuefinder.

    Parameters
    ----------
    name : "MSD_musicnn" or "MTT_musicnn"
    path : a safetensors file to read instead of ``weights/<name>.safetensors``

    Raises
    ------
    ModelFileError
        when the weights file is missing, corrupt or holds another network
        (the message names the file).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if name not in TAGS:
        raise ModelFileError(f"unknown musicnn model {name!r}; choose one of {', '.join(TAGS)}")
    path = Path(path) if path is not None else WEIGHTS / f"{name}.safetensors"
    model = Musicnn(name)
    try:
        state = load_file(path)
    except OSError as err:
        raise ModelFileError(f"{path}: cannot read musicnn weights ({err.strerror})") from err
    except SafetensorError as err:
        raise ModelFileError(f"{path}: not a safetensors file ({err})") from err
    try:
        model.load_state_dict(state)
    except RuntimeError as err:  # missing, unexpected or misshapen tensors
        first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        raise ModelFileError(f"{path}: not {name}'s weights ({first})") from err
    return model.eval()


# --- musicnn's front end ---------------------------------------------------------


@lru_cache(maxsize=1)
def _stft_filters() -> tuple[torch.Tensor, torch.Tensor]:
    """Hann window (512,) and librosa's Slaney mel basis (96, 257)."""
    from cuefinder import filterbanks

    mel = filterbanks.mel(SAMPLE_RATE, N_FFT, N_MELS)
    window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float32)
    return window, torch.from_numpy(mel.astype(np.float32))


def musicnn_features(audio_16k_mono: np.ndarray) -> np.ndarray:
    """musicnn's input: log-compressed mel power spectrogram, as its extractor computes it.

    ``librosa.feature.melspectrogram(y, sr=16000, n_fft=512, hop_length=256,
    n_mels=96)`` (centred frames, zero padding as librosa >= 0.10 pads, power 2,
    Slaney mels), then ``log10(10000 * x + 1)``. The extractor casts the mels to
    float16 and does that arithmetic in float16; each step here is rounded to float16
    the same way, except where float16 would overflow (mel power above about 6.55,
    common in loud music: the extractor turns those bins into inf, and the patch's
    tags into constants), where the float32 value is kept.

    Parameters
    ----------
    audio_16k_mono : shape (samples,), mono audio at 16 kHz, finite values

    Returns
    -------
    np.ndarray, shape (1 + samples // 256, 96), float32
    """
    wave = torch.as_tensor(np.asarray(audio_16k_mono), dtype=torch.float32)
    if wave.ndim != 1:
        raise FeatureError(f"expected mono samples of shape (n,), got {tuple(wave.shape)}")
    if not bool(torch.isfinite(wave).all()):
        raise FeatureError("audio buffer is not finite everywhere")
    if wave.numel() <= N_FFT // 2:  # too short for the zero-padded STFT
        return np.zeros((0, N_MELS), np.float32)
    window, mel = _stft_filters()
    spec = torch.stft(wave, N_FFT, HOP_LENGTH, window=window, center=True, pad_mode="constant",
                      return_complex=True)  # fmt: skip
    power = mel @ (spec.real.square() + spec.imag.square())  # (mels, frames)
    x = _as_float16(power.T.numpy())
    x = _as_float16(x * np.float32(10000))
    x = _as_float16(x + np.float32(1))
    return _as_float16(np.log10(x))


def _as_float16(values: np.ndarray) -> np.ndarray:
    """Round float32 values to float16 precision, keeping those float16 cannot hold."""
    with np.errstate(over="ignore"):
        rounded = values.astype(np.float16).astype(np.float32)
    return np.where(np.isfinite(rounded), rounded, values)


def patches(features: np.ndarray, hop_frames: int = PATCH_FRAMES) -> np.ndarray:
    """Cut (frames, 96) features into 187-frame patches every ``hop_frames`` frames.

    As musicnn's ``batch_data``: patches start at 0, hop, 2 hop, ... while a whole
    patch fits; the tail that does not fill one is dropped.

    Returns
    -------
    np.ndarray, shape (patches, 187, 96); ``patches`` is 0 when frames < 187
    """
    if hop_frames < 1:
        raise FeatureError(f"hop_frames must be positive, got {hop_frames}")
    starts = range(0, len(features) - PATCH_FRAMES + 1, hop_frames)
    out = np.empty((len(starts), PATCH_FRAMES, features.shape[1]), np.float32)
    for i, start in enumerate(starts):
        out[i] = features[start : start + PATCH_FRAMES]
    return out


@dataclass(frozen=True)
class Taggram:
    """Tags and embeddings of successive 3 s patches of one signal."""

    tags: np.ndarray  # (patches, 50) probabilities, columns named by ``labels``
    embeddings: np.ndarray  # (patches, 200) penultimate layer
    starts: np.ndarray  # (patches,) start of each patch in seconds
    labels: tuple[str, ...]


def taggram(
    model: Musicnn, audio: np.ndarray, *, hop_seconds: float | None = None, batch_size: int = 32
) -> Taggram:
    """Tag every 3 s patch of 16 kHz mono ``audio``, as musicnn's ``extractor`` does.

    ``hop_seconds`` is the extractor's ``input_overlap`` (which is in fact the hop
    between patch starts): None for back-to-back patches, else converted to frames
    as it does (``librosa.time_to_frames``). Raises FeatureError on audio shorter
    than one patch (3 s), where the extractor fails.
    """
    hop = PATCH_FRAMES if hop_seconds is None else _seconds_to_frames(hop_seconds)
    batch = patches(musicnn_features(audio), hop)
    if len(batch) == 0:
        raise FeatureError(f"musicnn needs at least 3 s of audio, got {len(audio) / 16000:.2f} s")
    tags, embeddings = [], []
    with torch.inference_mode():
        for start in range(0, len(batch), batch_size):
            probs, embedding = model(torch.from_numpy(batch[start : start + batch_size]))
            tags.append(probs.numpy())
            embeddings.append(embedding.numpy())
    starts = np.arange(len(batch)) * hop * HOP_LENGTH / SAMPLE_RATE
    return Taggram(np.concatenate(tags), np.concatenate(embeddings), starts, model.tags)


def _seconds_to_frames(seconds: float) -> int:
    """librosa.time_to_frames(seconds, sr=16000, n_fft=512, hop_length=256)."""
    frames = (int(seconds * SAMPLE_RATE) - N_FFT // 2) // HOP_LENGTH
    if frames < 1:
        raise FeatureError(f"hop of {seconds} s is shorter than one frame")
    return frames
