"""Musical descriptors of a track: tempo, key and loudness, computed while it is decoded.

- **tempo** (BPM): librosa's tempo estimate from the onset strength of the log-mel
  frames the model reads anyway (no second spectrogram), over at most the middle
  ``TEMPO_SECONDS`` of a track (its tempogram grows with length);
- **key**: the Krumhansl-Kessler key profiles correlated with the track's mean
  chroma (librosa's chroma filter bank on a 4096-point Hann-windowed power spectrum
  at the front end's rate, a hop of half a window), the
  best of 24 keys, with the correlation as its strength (below ``WEAK_KEY`` the
  music has no clear key: atonal, percussive or modulating, and ``key`` is None);
- **loudness** (LUFS): integrated loudness after ITU-R BS.1770-4 / EBU R128,
  ``pyloudnorm`` measuring each chunk's K-weighted 400 ms blocks and the two gates
  (absolute -70 LUFS, relative -10 LU) applied here over all the track's blocks (the
  weighting filters restart at each 30 s chunk, and the signal is the mono mix at the
  model's 16 kHz, so it is close to, not exactly, a broadcast meter's figure).

Chunks arrive one by one (``Accumulator.add``), so memory stays bounded. These are
signal-processing estimates, not learned, and were not checked against labelled
tempo or key data here: read them as a filter, not as truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PITCHES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Krumhansl & Kessler (1982) probe-tone profiles, C major and C minor
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
WEAK_KEY = 0.5  # correlation below which a track is given no key
CHROMA_FFT = 4096
BLOCK_SECONDS = 0.4  # BS.1770's gating block
TEMPO_SECONDS = 240.0  # the tempo is estimated on at most this much (the middle of a track)


@dataclass(frozen=True)
class Descriptors:
    tempo: float | None  # beats per minute
    key: str | None  # e.g. "A minor"
    key_strength: float | None  # correlation of the chroma with that key's profile
    loudness: float | None  # LUFS, integrated (None for under 0.4 s of sound)

    def to_dict(self) -> dict:
        return {
            "tempo": None if self.tempo is None else round(self.tempo, 1),
            "key": self.key,
            "key_strength": None if self.key_strength is None else round(self.key_strength, 3),
            "loudness": None if self.loudness is None else round(self.loudness, 1),
        }


class Accumulator:
    """Chroma and level of a chunk stream, added as the chunks pass."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.chroma = np.zeros(12)
        self.blocks: list[float] = []  # BS.1770 block loudness of every chunk, LUFS
        self._meter = None
        self._chroma_filters = None
        self._window = None

    def add(self, chunk: np.ndarray) -> None:
        if len(chunk) >= BLOCK_SECONDS * self.sample_rate:
            import pyloudnorm

            if self._meter is None:
                self._meter = pyloudnorm.Meter(self.sample_rate, block_size=BLOCK_SECONDS)
            with np.errstate(divide="ignore"):  # silent blocks are -inf, then gated out
                self._meter.integrated_loudness(np.asarray(chunk, np.float64))
            self.blocks.extend(self._meter.blockwise_loudness)
        if len(chunk) >= CHROMA_FFT:
            import librosa

            if self._chroma_filters is None:  # librosa's chroma filter bank, made once
                self._chroma_filters = librosa.filters.chroma(sr=self.sample_rate,
                                                              n_fft=CHROMA_FFT)  # fmt: skip
                self._window = np.hanning(CHROMA_FFT).astype(np.float32)
            frames = librosa.util.frame(np.asarray(chunk, np.float32), frame_length=CHROMA_FFT,
                                        hop_length=CHROMA_FFT // 2)  # fmt: skip
            power = np.abs(np.fft.rfft(frames * self._window[:, None], axis=0)) ** 2
            self.chroma += (self._chroma_filters @ power).sum(axis=1)

    def finish(self, frames: np.ndarray, hop_length: int) -> Descriptors:
        """The descriptors, given the track's log-mel frames (n_mels, frames)."""
        key, strength = estimate_key(self.chroma)
        return Descriptors(estimate_tempo(frames, self.sample_rate, hop_length), key, strength,
                           gated_loudness(self.blocks))  # fmt: skip


def gated_loudness(blocks) -> float | None:
    """Integrated loudness (LUFS) of BS.1770 block loudness values: the absolute gate at
    -70 LUFS, then the relative gate 10 LU under the mean of what passed."""
    values = np.asarray(blocks, np.float64)
    values = values[np.isfinite(values) & (values >= -70.0)]
    if not len(values):
        return None
    power = 10 ** ((values + 0.691) / 10)
    relative = -0.691 + 10 * np.log10(power.mean()) - 10.0
    kept = power[values > relative]
    return float(-0.691 + 10 * np.log10(kept.mean()))


def estimate_key(chroma: np.ndarray) -> tuple[str | None, float | None]:
    """(key name, correlation) of a 12-bin chroma profile; (None, r) when no key is clear."""
    if not np.any(chroma > 0) or np.ptp(chroma) <= 1e-9 * np.max(chroma):
        return None, None  # silence, or every pitch class alike
    best, name = -2.0, None
    for shift in range(12):
        for profile, mode in ((MAJOR, "major"), (MINOR, "minor")):
            r = float(np.corrcoef(chroma, np.roll(profile, shift))[0, 1])
            if r > best:
                best, name = r, f"{PITCHES[shift]} {mode}"
    return (name if best >= WEAK_KEY else None), best


def estimate_tempo(frames: np.ndarray, sample_rate: int, hop_length: int) -> float | None:
    """BPM from the onset strength of log-mel frames; None for under 8 s of frames."""
    if frames.shape[1] * hop_length < 8 * sample_rate:
        return None
    import librosa

    most = int(TEMPO_SECONDS * sample_rate / hop_length)
    if frames.shape[1] > most:  # the middle of a long track: memory stays bounded
        first = (frames.shape[1] - most) // 2
        frames = frames[:, first : first + most]
    envelope = librosa.onset.onset_strength(S=frames, sr=sample_rate, hop_length=hop_length)
    if not np.any(envelope > 0):
        return None
    tempo = librosa.feature.tempo(onset_envelope=envelope, sr=sample_rate, hop_length=hop_length)
    return float(tempo[0])


def parse_key(text: str) -> str:
    """A key as typed ("a minor", "Am", "F# major", "bb") in ``Descriptors.key``'s spelling;
    ValueError when it is not one."""
    words = text.strip().replace("♯", "#").replace("♭", "b").split()
    if not words or len(words) > 2:
        raise ValueError(f"not a key: {text!r} (e.g. 'A minor', 'F# major', 'Am')")
    root, mode = words[0], (words[1].lower() if len(words) == 2 else "major")
    if len(words) == 1 and len(root) > 1 and root[-1] == "m":  # "Am", "F#m", "Bbm"
        root, mode = root[:-1], "minor"
    mode = {"maj": "major", "min": "minor", "m": "minor"}.get(mode, mode)
    enharmonic = {"DB": "C#", "D#": "Eb", "GB": "F#", "G#": "Ab", "A#": "Bb", "CB": "B",
                  "FB": "E", "E#": "F", "B#": "C"}  # fmt: skip
    name = root[0].upper() + root[1:].lower()
    name = enharmonic.get(name.upper(), name)
    if name not in PITCHES or mode not in ("major", "minor"):
        raise ValueError(f"not a key: {text!r} (e.g. 'A minor', 'F# major', 'Am')")
    return f"{name} {mode}"
