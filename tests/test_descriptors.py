"""Tempo, key and loudness: known answers on made signals, stored and searchable on real music."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cuefinder.catalog import Catalog
from cuefinder.descriptors import Accumulator, estimate_key, parse_key
from cuefinder.errors import QueryError
from cuefinder.features import FeatureConfig, log_mel
from cuefinder.find.rank import search
from cuefinder.pipeline.local import index

RATE = 16000


def _hz(name: str) -> float:
    steps = {"C": -9, "C#": -8, "D": -7, "Eb": -6, "E": -5, "F": -4, "F#": -3, "G": -2,
             "Ab": -1, "A": 0, "Bb": 1, "B": 2}  # fmt: skip
    return 220.0 * 2 ** (steps[name] / 12)


def _cadence_over_clicks(chords, bpm: float, seconds: float = 32.0) -> np.ndarray:
    """A I-IV-V-I style progression (each chord a quarter of the time) over a click."""
    t = np.arange(int(seconds * RATE)) / RATE
    pad = np.zeros_like(t)
    quarter = len(t) // len(chords)
    for n, chord in enumerate(chords):
        part = slice(n * quarter, (n + 1) * quarter)
        for note in chord:
            f = _hz(note)
            pad[part] += np.sin(2 * np.pi * f * t[part]) + 0.3 * np.sin(4 * np.pi * f * t[part])
    clicks = np.zeros_like(t)
    period = int(RATE * 60 / bpm)
    for start in range(0, len(t), period):
        burst = np.random.default_rng(start).standard_normal(400) * np.hanning(400)
        clicks[start : start + 400] += burst[: len(t) - start]
    return (0.05 * pad + 0.5 * clicks).astype(np.float32)


@pytest.mark.parametrize(
    "chords, bpm, key",
    [([("A", "C", "E"), ("D", "F", "A"), ("E", "Ab", "B"), ("A", "C", "E")], 120.0, "A minor"),
     ([("C", "E", "G"), ("F", "A", "C"), ("G", "B", "D"), ("C", "E", "G")], 96.0, "C major"),
     ([("F#", "Bb", "C#"), ("B", "Eb", "F#"), ("C#", "F", "Ab"), ("F#", "Bb", "C#")], 140.0,
      "F# major")],
)  # fmt: skip
def test_tempo_and_key_of_a_cadence_over_a_click(chords, bpm, key):
    signal = _cadence_over_clicks(chords, bpm)
    found = Accumulator(RATE)
    for start in range(0, len(signal), RATE * 10):  # in chunks, as decoding gives them
        found.add(signal[start : start + RATE * 10])
    config = FeatureConfig()
    result = found.finish(log_mel(signal, config).numpy(), config.hop_length)
    assert result.key == key and result.key_strength > 0.5
    assert abs(result.tempo - bpm) < bpm * 0.04
    assert -30 < result.loudness < 0
    assert result.tempo_confidence > 0.3  # a click: the onsets repeat at its period


def _described(signal: np.ndarray):
    found = Accumulator(RATE)
    found.add(signal)
    config = FeatureConfig()
    return found.finish(log_mel(signal, config).numpy(), config.hop_length)


def test_energy_is_activity_not_level_and_comes_with_a_curve(funnyboat):
    busy = _cadence_over_clicks([("A", "C", "E")] * 4, 150.0, seconds=20.0)
    t = np.arange(20 * RATE) / RATE
    pad = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + 0.1 * np.sin(2 * np.pi * 0.2 * t))
    clicks, held = _described(busy), _described(pad.astype(np.float32))
    assert clicks.energy > 3 * held.energy  # drums change the spectrum; a held chord does not
    from cuefinder import audio

    music = np.concatenate(list(audio.stream(funnyboat, sample_rate=RATE)))[: 30 * RATE]
    quieter = _described(music * 0.05)  # real music 26 dB down: the same activity
    assert quieter.energy == pytest.approx(_described(music).energy, rel=0.05)
    assert held.tempo_confidence < clicks.tempo_confidence
    assert len(clicks.energy_curve) == 7  # 20 s in 3 s windows
    assert np.mean(clicks.energy_curve) == pytest.approx(clicks.energy, rel=0.1)
    # a track that goes from a held chord to drums rises along its curve
    both = _described(np.concatenate([pad.astype(np.float32), busy]))
    assert both.energy_curve[-2] > 3 * both.energy_curve[1]


def test_excerpts_for_the_sound_tags_stay_few_and_spread_over_the_track():
    found = Accumulator(RATE)
    for n in range(40):  # a 20-minute stream in 30 s chunks, each chunk marked by its number
        found.add(np.full(30 * RATE, n / 100, np.float32))
    marks = [round(float(e[0]) * 100) for e in found.excerpts.kept]
    assert len(marks) <= 16 and marks == list(range(0, 40, 4))  # every 4th chunk: even
    assert all(len(e) == 3 * RATE for e in found.excerpts.kept)


def test_noise_has_no_clear_key_and_keys_are_read_as_musicians_write_them():
    key, strength = estimate_key(np.ones(12))
    assert key is None
    assert parse_key("am") == parse_key("A minor") == parse_key("a min") == "A minor"
    assert parse_key("Db") == "C# major" and parse_key("g#m") == "Ab minor"
    with pytest.raises(ValueError, match="not a key: 'H'"):
        parse_key("H")


def test_real_tracks_get_descriptors_that_search_filters_on(tmp_path, music_root):
    with Catalog(tmp_path / "c.db") as catalog:
        index([music_root / "xblast-tnt-musics", music_root / "scorched3d-data"], catalog,
              progress=False, jobs=1)  # fmt: skip
        tracks = list(catalog.tracks())
        ids = {t.path: t.id for t in tracks}
        assert all(t.loudness is not None and -60 < t.loudness < 0 for t in tracks)
        tempos = {t.path: t.tempo for t in tracks if t.tempo is not None}
        assert len(tempos) == len(tracks) and all(50 < v < 250 for v in tempos.values())
        keyed = [t for t in tracks if t.key]
        assert keyed and all(parse_key(t.key) == t.key for t in keyed)
        low, high = sorted(tempos.values())[1], sorted(tempos.values())[-2]
        hits = search("action", catalog, limit=50, tempo=(low, high))
        assert {h.path for h in hits} == {p for p, v in tempos.items() if low <= v <= high}
        assert all("tempo" in h.to_dict() and "key" in h.to_dict() for h in hits)
        written = search(f"action bpm:{low}-{high}", catalog, limit=50)  # in the query itself
        assert [h.path for h in written] == [h.path for h in hits]
        with pytest.raises(QueryError, match="bpm:fast is not a tempo range"):
            search("action bpm:fast", catalog)
        one = keyed[0].key
        in_key = search("action", catalog, limit=50, key=one)
        assert in_key and {h.path for h in in_key} == {t.path for t in keyed if t.key == one}
        spelled = one.replace(" minor", "m").replace(" major", "")
        assert [h.path for h in search(f"action key:{spelled}", catalog, limit=50)] == [
            h.path for h in in_key
        ]
        with pytest.raises(QueryError, match="not a key"):
            search("action", catalog, key="Z minor")
        view = catalog.db.execute("SELECT path, tempo, key FROM track_genres").fetchall()
        assert {p: v for p, v, _ in view} == tempos
        # energy: a third of the catalog each, by its tracks' energy
        energies = {t.path: t.energy for t in tracks}
        assert all(v is not None and v > 0 for v in energies.values())
        assert all(t.energy_curve is not None and len(t.energy_curve) >= 1 for t in tracks)
        ranked = sorted(energies, key=energies.get)
        levels = {lv: {h.path for h in search(f"action energy:{lv}", catalog, limit=50)}
                  for lv in ("low", "medium", "high")}  # fmt: skip
        assert set().union(*levels.values()) == set(energies)
        assert not levels["low"] & levels["high"] and ranked[-1] in levels["high"]
        assert ranked[0] in levels["low"] and abs(len(levels["high"]) - len(ranked) / 3) <= 1
        assert {h.path for h in search("energy:high", catalog, limit=50)} == levels["high"]
        with pytest.raises(QueryError, match="energy:loud is not an energy level"):
            search("action energy:loud", catalog)
        # musicnn's instrument, voice and mood tags: searchable beside genres
        from cuefinder.model.musicnn_tags import SOUNDS, TAGS

        assert all(t.sounds is not None and len(t.sounds) == len(TAGS[SOUNDS]) for t in tracks)
        assert all(0 <= p <= 1 for t in tracks for p in t.sounds)
        column = TAGS[SOUNDS].index("no vocals")
        plain = {t.path: float(t.sounds[column]) for t in tracks}
        found = search("instrumental", catalog, limit=50)  # a synonym of "no vocals"
        assert [h.path for h in found] == sorted(plain, key=lambda p: (-plain[p], ids[p]))
        assert set(found[0].genres) == {"no vocals"}
        assert [h.path for h in search("#piano action:0.5", catalog, limit=3)]
    cli = [sys.executable, "-m", "cuefinder", "--catalog", str(tmp_path / "c.db"), "search",
           "action", "--tempo", f"{low}-{high}", "--json"]  # fmt: skip
    done = subprocess.run(cli, capture_output=True, text=True, check=True)
    assert done.stdout.count('"tempo"') == len(hits)
    bad = subprocess.run([*cli[:-3], "--tempo", "fast"], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a tempo range: 'fast'" in bad.stderr


def test_loudness_agrees_with_pyloudnorm_on_a_real_track(funnyboat):
    """The frequency-domain K-weighting and 256 ms blocks against pyloudnorm's own meter."""
    import pyloudnorm

    from cuefinder import audio

    chunks = list(audio.stream(funnyboat, sample_rate=RATE))
    found = Accumulator(RATE)
    for chunk in chunks:
        found.add(chunk)
    config = FeatureConfig()
    mel = np.concatenate([log_mel(c, config).numpy() for c in chunks[:1]], axis=1)
    ours = found.finish(mel, config.hop_length).loudness
    reference = pyloudnorm.Meter(RATE).integrated_loudness(np.concatenate(chunks).astype(float))
    assert abs(ours - reference) < 0.5
    quiet = Accumulator(RATE)  # the same music 20 dB down reads 20 LU lower
    for chunk in chunks:
        quiet.add(chunk * 0.1)
    assert abs(quiet.finish(mel, config.hop_length).loudness - (ours - 20)) < 0.05


def test_onset_strength_and_autocorrelation_are_librosas(funnyboat):
    """Computed without importing librosa's onset and core modules (0.7 s of each
    worker's start), they must equal librosa's own on real music."""
    import librosa

    from cuefinder import audio
    from cuefinder.descriptors import autocorrelate, onset_envelope

    config = FeatureConfig()
    frames = log_mel(audio.load(funnyboat, sample_rate=RATE, max_seconds=60), config).numpy()
    for part in (frames, frames[:, :7], frames[:, :2]):
        ours = onset_envelope(part, RATE, config.hop_length)
        theirs = librosa.onset.onset_strength(S=part, sr=RATE, hop_length=config.hop_length)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        assert np.allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    envelope = onset_envelope(frames, RATE, config.hop_length)
    for size in (400, len(envelope) + 10):
        ours = autocorrelate(envelope - envelope.mean(), size)
        theirs = librosa.autocorrelate(envelope - envelope.mean(), max_size=size)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        assert np.allclose(ours, theirs, rtol=0, atol=1e-6 * theirs[0])  # float32 rounding
