"""How right tempo and key are, on music made at known tempi and in known keys.

No labelled tempo or key data ships with the game soundtracks, so the reference is
rendered: for each tempo from 60 to 180 BPM (step 8) a drum pattern (kick on every
beat, a softer hat between) under a chord progression (I-IV-V-I, a quarter of the
time each, with two harmonics), and for each of the 24 keys the same progression in
that key at 100 BPM. Each is measured exactly as indexing measures a track
(``descriptors.Accumulator`` on 10 s chunks, tempo from the model's log-mel).

    python bench/bench_descriptors.py

Printed: tempo accuracy within 4% (Accuracy1) and allowing half/double/third
(Accuracy2), the median error, and key accuracy (exact, and counting the relative
major/minor and the fifth as near misses).
"""

from __future__ import annotations

import time

import numpy as np

from cuefinder.descriptors import PITCHES, Accumulator
from cuefinder.features import FeatureConfig, log_mel

RATE = 16000
SECONDS = 30.0
MAJOR_STEPS = ((0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 4, 7))  # I IV V I
MINOR_STEPS = ((0, 3, 7), (5, 8, 12), (7, 11, 14), (0, 3, 7))  # i iv V i


def render(root: int, minor: bool, bpm: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(SECONDS * RATE)) / RATE
    pad = np.zeros_like(t)
    quarter = len(t) // 4
    base = 130.81 * 2 ** (root / 12)  # C3 and up
    for n, chord in enumerate(MINOR_STEPS if minor else MAJOR_STEPS):
        part = slice(n * quarter, (n + 1) * quarter)
        for step in chord:
            f = base * 2 ** (step / 12)
            pad[part] += np.sin(2 * np.pi * f * t[part]) + 0.3 * np.sin(4 * np.pi * f * t[part])
    drums = np.zeros_like(t)
    beat = RATE * 60 / bpm
    kick = np.sin(2 * np.pi * 60 * np.arange(2400) / RATE) * np.exp(-np.arange(2400) / 400)
    hat = rng.standard_normal(600) * np.exp(-np.arange(600) / 80)
    for k in range(int(len(t) / beat)):
        for offset, sound, gain in ((0.0, kick, 1.0), (0.5, hat, 0.3)):
            start = int((k + offset) * beat)
            end = min(len(t), start + len(sound))
            drums[start:end] += gain * sound[: end - start]
    return (0.04 * pad + 0.5 * drums).astype(np.float32)


def measure(signal: np.ndarray):
    found = Accumulator(RATE)
    for start in range(0, len(signal), RATE * 10):
        found.add(signal[start : start + RATE * 10])
    config = FeatureConfig()
    return found.finish(log_mel(signal, config).numpy(), config.hop_length)


def main() -> None:
    started = time.monotonic()
    tempi = np.arange(60, 181, 8)
    errors, acc1, acc2 = [], 0, 0
    for n, bpm in enumerate(tempi):
        got = measure(render(n % 12, bool(n % 2), float(bpm), n)).tempo or 0.0
        errors.append(abs(got - bpm) / bpm)
        acc1 += abs(got - bpm) <= 0.04 * bpm
        acc2 += any(abs(got - bpm * m) <= 0.04 * bpm * m for m in (1, 2, 0.5, 3, 1 / 3))
        print(f"  {bpm:>4} BPM -> {got:6.1f}")
    print(f"tempo, {len(tempi)} rendered tracks (60-180 BPM): Accuracy1 {acc1 / len(tempi):.2f}, "
          f"Accuracy2 {acc2 / len(tempi):.2f}, median error {np.median(errors):.1%}")  # fmt: skip
    exact = near = 0
    for root in range(12):
        for minor in (False, True):
            want = f"{PITCHES[root]} {'minor' if minor else 'major'}"
            got = measure(render(root, minor, 100.0, root)).key
            relative = (f"{PITCHES[(root + 3) % 12]} major" if minor
                        else f"{PITCHES[(root + 9) % 12]} minor")  # fmt: skip
            fifth = f"{PITCHES[(root + 7) % 12]} {'minor' if minor else 'major'}"
            exact += got == want
            near += got in (want, relative, fifth)
            if got != want:
                print(f"  {want:<9} -> {got}")
    print(f"key, 24 rendered cadences: exact {exact / 24:.2f}, with relative and fifth "
          f"{near / 24:.2f}  ({time.monotonic() - started:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
