"""The log-mel front end against librosa, and streaming equal to whole-signal."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from cuefinder import audio
from cuefinder.errors import FeatureError
from cuefinder.features import FeatureConfig, log_mel, stream_log_mel

CONFIG = FeatureConfig()


@pytest.fixture(scope="module")
def samples(funnyboat) -> np.ndarray:
    return audio.load(funnyboat, sample_rate=CONFIG.sample_rate, max_seconds=30)


def test_log_mel_matches_librosa_on_real_music(samples):
    ours = log_mel(samples, CONFIG).numpy()
    power = librosa.feature.melspectrogram(
        y=samples,
        sr=CONFIG.sample_rate,
        n_fft=CONFIG.n_fft,
        hop_length=CONFIG.hop_length,
        n_mels=CONFIG.n_mels,
        fmin=CONFIG.f_min,
        fmax=CONFIG.f_max,
        center=False,
        power=2.0,
        window="hann",
        htk=False,
        norm="slaney",
    )
    theirs = librosa.power_to_db(power, ref=1.0, amin=CONFIG.amin, top_db=None)
    assert ours.shape == theirs.shape == (CONFIG.n_mels, 1 + (len(samples) - 1024) // 512)
    audible = theirs > -80  # compare where there is signal; dB of near-zero power is noise
    assert audible.mean() > 0.5
    assert np.abs(ours - theirs)[audible].max() < 0.05
    assert np.abs(ours - theirs).mean() < 0.01


def test_streamed_frames_equal_whole_signal_frames(samples):
    whole = log_mel(samples, CONFIG)
    pieces = [samples[i : i + 7919] for i in range(0, len(samples), 7919)]  # odd chunk size
    streamed = np.concatenate([b.numpy() for b in stream_log_mel(pieces, CONFIG)], axis=1)
    assert streamed.shape == tuple(whole.shape)
    assert np.allclose(streamed, whole.numpy(), atol=1e-3)


def test_short_input_gives_no_frames_and_bad_input_is_refused():
    assert log_mel(np.zeros(100, np.float32), CONFIG).shape == (CONFIG.n_mels, 0)
    with pytest.raises(FeatureError, match="not finite"):
        log_mel(np.full(4096, np.nan, np.float32), CONFIG)
    with pytest.raises(FeatureError, match="mono"):
        log_mel(np.zeros((2, 4096), np.float32), CONFIG)
    with pytest.raises(FeatureError):
        FeatureConfig(f_max=9000.0)  # above Nyquist at 16 kHz


def test_config_round_trips_through_a_dict():
    config = FeatureConfig(n_mels=64, hop_length=256)
    assert FeatureConfig.from_dict(config.to_dict()) == config
