"""Musical descriptors of a track: tempo, key, loudness and energy, computed while it is
decoded.

- **tempo** (BPM): from librosa's onset strength of the log-mel frames the model
  reads anyway (no second spectrogram), the peak of the envelope's autocorrelation
  under librosa's tempo prior, over at most the middle ``TEMPO_SECONDS`` of a track,
  with a confidence (the normalised autocorrelation at that period);
- **energy**: the mean of the same onset strength over the whole track, and per
  ``CURVE_SECONDS`` (the energy curve): spectral activity, independent of level;
- **sounds**: musicnn's MagnaTagATune tagger (instruments, voices, moods:
  ``model.musicnn_tags``) on ``EXCERPTS`` 3 s excerpts spread over the track, the
  probabilities averaged: a few patches rather than every one keeps indexing fast; and
  the tagger's penultimate layer (``SOUND_DIM`` values) averaged over the same excerpts,
  the **sound embedding** that "sounds like this" compares (``find.similar``);
- **key**: the Krumhansl-Kessler key profiles correlated with the track's mean
  chroma (librosa's chroma filter bank on 4096-point Hann-windowed power spectra at
  the front end's rate, without overlap), the
  best of 24 keys, with the correlation as its strength (below ``WEAK_KEY`` the
  music has no clear key: atonal, percussive or modulating, and ``key`` is None);
- **loudness** (LUFS): integrated loudness after ITU-R BS.1770-4 / EBU R128: the
  K-weighting of ``pyloudnorm``'s filters applied as their frequency response to the
  same spectra, and the two gates (absolute -70 LUFS, relative -10 LU) over 256 ms
  blocks without overlap (the standard's are 400 ms, overlapping by 75%), on the mono
  mix at the model's 16 kHz: within a few tenths of a LU of ``pyloudnorm`` on the
  tracks tested, not a broadcast meter.

Chunks arrive one by one (``Accumulator.add``), so memory stays bounded. These are
signal-processing estimates, not learned, and were not checked against labelled
tempo or key data here: read them as a filter, not as truth.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from cuefinder.features import MUSICNN_FEATURES

PITCHES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Krumhansl & Kessler (1982) probe-tone profiles, C major and C minor
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
WEAK_KEY = 0.5  # correlation below which a track is given no key
FRAME = 4096  # samples per FFT for chroma and loudness (256 ms at 16 kHz), no overlap
WINDOW_POWER = 0.375  # mean square of the Hann window
MIN_BPM, MAX_BPM = 40.0, 240.0
TEMPO_SECONDS = 240.0  # the tempo is estimated on at most this much (the middle of a track)
ONSET_FFT = 2048  # librosa's default frame, which centres its onset strength


CURVE_SECONDS = 3.0  # one energy value per this much of a track
WAVEFORM_POINTS = 400  # peaks kept per track, for drawing it
EXCERPTS = 4  # 3 s excerpts of a track that musicnn's tagger hears
SOUND_RATE = MUSICNN_FEATURES.sample_rate  # the rate musicnn's tagger hears (16 kHz)
SOUND_DIM = 200  # units of the tagger's penultimate layer: the sound embedding
_KEPT = 16  # excerpts held while streaming (halved, evenly, when more arrive)


@dataclass(frozen=True)
class Descriptors:
    tempo: float | None  # beats per minute
    key: str | None  # e.g. "A minor"
    key_strength: float | None  # correlation of the chroma with that key's profile
    loudness: float | None  # LUFS, integrated (None for under 0.4 s of sound)
    tempo_confidence: float | None = None  # 0-1: how periodic the onsets are at that tempo
    energy: float | None = None  # mean onset strength (spectral activity), level-independent
    energy_curve: tuple[float, ...] | None = None  # the same per CURVE_SECONDS
    sounds: tuple[float, ...] | None = None  # musicnn_tags.SOUNDS' tags, probabilities
    waveform: bytes | None = None  # peak |amplitude| per stretch of the track, 0-255
    sound_embedding: np.ndarray | None = None  # (SOUND_DIM,) float32: the tagger's penultimate


class Accumulator:
    """Chroma and loudness of a chunk stream, added as the chunks pass.

    One FFT per ``FRAME`` samples (Hann window, no overlap) serves both: librosa's chroma
    filter bank on its power spectrum, and the power weighted by the K-weighting
    filters' response (pyloudnorm's BS.1770 filters, as a frequency response): by
    Parseval, the mean square of the K-weighted signal over the frame.
    """

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.chroma = np.zeros(12)
        self.blocks: list[float] = []  # mean square of the K-weighted signal per frame
        self.peaks: list[float] = []  # peak |amplitude| per frame (the waveform)
        self._weights = None  # (chroma filter bank (12, bins), K-weighting |H|^2 (bins,))
        self._window = np.hanning(FRAME).astype(np.float32)
        self._carry = np.zeros(0, np.float32)
        self.excerpts = Excerpts(sample_rate)

    def add(self, chunk: np.ndarray) -> None:
        import scipy.fft

        self.excerpts.add(np.asarray(chunk, np.float32))
        signal = np.concatenate([self._carry, np.asarray(chunk, np.float32)])
        frames = len(signal) // FRAME
        self._carry = signal[frames * FRAME :]
        if not frames:
            return
        self.peaks.extend(
            np.abs(signal[: frames * FRAME].reshape(frames, FRAME)).max(axis=1).tolist()
        )
        chroma_bank, k_weight = self._weights or self._make_weights()
        power = np.abs(scipy.fft.rfft(signal[: frames * FRAME].reshape(frames, FRAME)
                                      * self._window, axis=1)) ** 2  # fmt: skip
        self.chroma += (power @ chroma_bank.T).sum(axis=0)
        full = power * k_weight  # one-sided spectrum -> both sides, scaled to mean square
        full[:, 1:-1] *= 2.0
        self.blocks.extend((full.sum(axis=1) / FRAME**2 / WINDOW_POWER).tolist())

    def _make_weights(self):
        from cuefinder import filterbanks

        chroma = filterbanks.chroma(self.sample_rate, FRAME)
        self._weights = (chroma, filterbanks.k_weighting(self.sample_rate, FRAME))
        return self._weights

    def finish(self, frames: np.ndarray, hop_length: int) -> Descriptors:
        """The descriptors, given the track's log-mel frames (n_mels, frames)."""
        key, strength = estimate_key(self.chroma)
        with np.errstate(divide="ignore"):
            block_loudness = -0.691 + 10 * np.log10(np.asarray(self.blocks, np.float64))
        envelope = onset_envelope(frames, self.sample_rate, hop_length)
        tempo, confidence = estimate_tempo(envelope, self.sample_rate, hop_length)
        energy, curve = estimate_energy(envelope, self.sample_rate / hop_length)
        sounds, heard = sound_tags(self.excerpts.kept, self.sample_rate)
        return Descriptors(tempo, key, strength, gated_loudness(block_loudness), confidence,
                           energy, curve, sounds, waveform(self.peaks), heard)  # fmt: skip


class Excerpts:
    """3 s from the middle of chunks spread evenly over a chunk stream, as it passes: what
    musicnn's tagger hears of a track (``sound_tags``). At most ``_KEPT`` are held: when
    more arrive, every other one is dropped and every other chunk skipped from then on."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.kept: list[np.ndarray] = []  # from every ``_every``-th chunk
        self._every, self._seen = 1, 0

    def add(self, chunk: np.ndarray) -> None:
        length = 3 * self.sample_rate
        if self._seen % self._every == 0 and len(chunk) >= length:
            middle = (len(chunk) - length) // 2
            self.kept.append(np.array(chunk[middle : middle + length], np.float32))
            if len(self.kept) > _KEPT:
                self.kept, self._every = self.kept[::2], self._every * 2
        self._seen += 1


def waveform(peaks: list[float], points: int = WAVEFORM_POINTS) -> bytes | None:
    """At most ``points`` peaks (the loudest of each stretch), as bytes 0-255 of full scale."""
    if not peaks:
        return None
    values = np.minimum(np.asarray(peaks, np.float32), 1.0)
    edges = np.linspace(0, len(values), min(points, len(values)) + 1).round().astype(int)
    loudest = np.maximum.reduceat(values, edges[:-1])
    return (loudest * 255).round().astype(np.uint8).tobytes()


def sound_tags(excerpts: list[np.ndarray], sample_rate: int):
    """musicnn's ``SOUNDS`` tagger on ``EXCERPTS`` of the excerpts (evenly spaced):
    (its tag probabilities, rounded, and its penultimate layer, float32), each averaged
    over them; (None, None) without a whole 3 s excerpt, audio not at musicnn's 16 kHz, or
    musicnn's weights not installed."""
    from cuefinder.model import musicnn_tags

    if not excerpts or sample_rate != SOUND_RATE:
        return None, None
    try:
        model = _sound_model(musicnn_tags.SOUNDS)
    except Exception:  # ModelFileError: musicnn is not installed; the rest still works
        return None, None
    import torch

    from cuefinder.model import musicnn

    chosen = np.linspace(0, len(excerpts) - 1, min(EXCERPTS, len(excerpts))).round().astype(int)
    batch = np.stack([musicnn.patches(musicnn.musicnn_features(excerpts[i]))[0] for i in chosen])
    with torch.inference_mode():
        probabilities, hidden = model(torch.from_numpy(batch))
    tags = tuple(round(float(p), 4) for p in probabilities.numpy().mean(axis=0))
    return tags, hidden.numpy().mean(axis=0).astype(np.float32)


def sound_embedding(samples: np.ndarray, sample_rate: int) -> np.ndarray | None:
    """musicnn's sound embedding of a stretch of audio (the part of a track that a "sounds
    like" query names): up to ``EXCERPTS`` 3 s excerpts spread evenly over it, heard as
    ``sound_tags`` hears a track's; None when it is shorter than 3 s (or as ``sound_tags``)."""
    length = 3 * sample_rate
    if len(samples) < length:
        return None
    count = min(EXCERPTS, len(samples) // length)
    starts = np.linspace(0, len(samples) - length, count).round().astype(int)
    return sound_tags([samples[s : s + length] for s in starts], sample_rate)[1]


@functools.lru_cache(maxsize=1)
def _sound_model(name: str):
    from cuefinder.model import musicnn

    return musicnn.load(name)


def gated_loudness(blocks) -> float | None:
    """Integrated loudness (LUFS) of block loudness values: the absolute gate at -70 LUFS,
    then the relative gate 10 LU under the mean of what passed (BS.1770-4)."""
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


def onset_envelope(frames: np.ndarray, sample_rate: int, hop_length: int) -> np.ndarray:
    """librosa's onset strength of log-mel frames (n_mels, frames): the mean rise in dB
    from one frame to the next, per frame (a gain change leaves it as it is).

    ``librosa.onset.onset_strength(S=frames, sr=sample_rate, hop_length=hop_length)``,
    computed here the same way (its defaults: lag 1, no maximum filter, centred for a
    2048-point frame; a test compares the two on real music), because importing
    ``librosa.onset`` costs each new indexing worker 0.7 s of CPU.
    """
    if frames.shape[1] < 2:
        return np.zeros(frames.shape[1], np.float32)
    rise = np.maximum(0.0, frames[:, 1:] - frames[:, :-1]).mean(axis=0)
    delay = 1 + ONSET_FFT // (2 * hop_length)  # the lag, and half of librosa's frame
    return np.concatenate([np.zeros(delay, rise.dtype), rise])[: frames.shape[1]]


def autocorrelate(signal: np.ndarray, max_size: int) -> np.ndarray:
    """``librosa.autocorrelate(signal, max_size=max_size)`` of a real signal, the same
    way (the power spectrum's inverse FFT), without importing librosa's core."""
    import scipy.fft

    size = scipy.fft.next_fast_len(2 * len(signal) - 1, real=True)
    spectrum = np.fft.rfft(signal, n=size)
    power = spectrum.real**2 + spectrum.imag**2
    return np.fft.irfft(power, n=size)[: min(max_size, len(signal))]


def estimate_tempo(envelope: np.ndarray, sample_rate: int, hop_length: int):
    """(BPM, confidence) from an onset envelope: the lag (of at most 4 s) where the
    envelope's autocorrelation, weighted by librosa's tempo prior (log-normal around 120
    BPM, one octave wide), peaks, over at most the middle ``TEMPO_SECONDS``; the
    confidence is the autocorrelation there over its value at lag 0 (1: the onsets repeat
    exactly at that period; near 0: no beat). (None, None) for under 8 s."""
    if len(envelope) * hop_length < 8 * sample_rate:
        return None, None
    most = int(TEMPO_SECONDS * sample_rate / hop_length)
    if len(envelope) > most:  # the middle of a long track is enough
        first = (len(envelope) - most) // 2
        envelope = envelope[first : first + most]
    if not np.any(envelope > 0):
        return None, None
    fps = sample_rate / hop_length
    lags = np.arange(int(fps * 60 / MAX_BPM), int(fps * 60 / MIN_BPM) + 1)
    autocorrelation = autocorrelate(envelope - envelope.mean(), lags[-1] + 1)
    bpm = 60.0 * fps / lags
    prior = np.exp(-0.5 * (np.log2(bpm / 120.0)) ** 2)
    best = int(np.argmax(autocorrelation[lags] * prior))
    confidence = float(np.clip(autocorrelation[lags[best]] / max(autocorrelation[0], 1e-12), 0, 1))
    if 0 < best < len(lags) - 1:  # a parabola through the peak: lag between frames
        a, b, c = autocorrelation[lags[best - 1 : best + 2]] * prior[best - 1 : best + 2]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) < 0 else 0.0
        return float(60.0 * fps / (lags[best] + shift)), confidence
    return float(bpm[best]), confidence


def estimate_energy(envelope: np.ndarray, frame_rate: float):
    """(energy, curve): the mean onset strength of the whole track, and of each
    ``CURVE_SECONDS``; (None, None) without frames. Energy here is spectral activity
    (how much the sound changes: drums and fast notes high, sustained pads low), which a
    track's level does not change; ``energy:high`` compares it within a catalog."""
    if not len(envelope):
        return None, None
    step = max(1, int(round(CURVE_SECONDS * frame_rate)))
    curve = tuple(round(float(envelope[i : i + step].mean()), 3)
                  for i in range(0, len(envelope), step))  # fmt: skip
    return float(envelope.mean()), curve


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
