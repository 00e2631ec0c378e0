"""Decoding real audio in every format, in bounded chunks, with tags and fallbacks."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from cuefinder import audio
from cuefinder.errors import DecodeError

RATE = 16000


def test_ogg_vorbis_track_decodes_to_mono_at_the_model_rate(funnyboat):
    samples = audio.load(funnyboat, sample_rate=RATE)
    info = soundfile.info(str(funnyboat))
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) / RATE - info.duration) < 0.05
    assert 0.05 < np.abs(samples).max() <= 1.0


@pytest.mark.parametrize("suffix", ["mp3", "flac", "opus", "wav", "m4a"])
def test_every_format_decodes_to_the_same_music(transcoded, suffix):
    reference = audio.load(transcoded["wav"], sample_rate=RATE)
    samples = audio.load(transcoded[suffix], sample_rate=RATE)
    assert abs(len(samples) - len(reference)) < 0.1 * RATE  # encoder padding differs
    # same music: loudness envelope (100 ms RMS) agrees after aligning the start
    lag = _best_lag(reference[: RATE * 5], samples[: RATE * 5])
    a, b = reference[max(0, -lag) :], samples[max(0, lag) :]
    n = min(len(a), len(b)) // 1600 * 1600
    env_a = np.sqrt((a[:n].reshape(-1, 1600) ** 2).mean(axis=1))
    env_b = np.sqrt((b[:n].reshape(-1, 1600) ** 2).mean(axis=1))
    assert np.corrcoef(env_a, env_b)[0, 1] > 0.98


def _best_lag(a: np.ndarray, b: np.ndarray, max_lag: int = 3000) -> int:
    lags = range(-max_lag, max_lag + 1, 16)
    n = min(len(a), len(b)) - max_lag
    score = [np.dot(a[max_lag:n], b[max_lag + lag : n + lag]) for lag in lags]
    return list(lags)[int(np.argmax(score))]


def test_stream_yields_fixed_chunks_and_the_whole_signal(funnyboat):
    chunks = list(audio.stream(funnyboat, sample_rate=RATE, chunk_seconds=7.0))
    assert all(len(c) == 7 * RATE for c in chunks[:-1])
    assert 0 < len(chunks[-1]) <= 7 * RATE
    whole = audio.load(funnyboat, sample_rate=RATE)
    assert np.array_equal(np.concatenate(chunks), whole)


def test_stereo_is_averaged_to_mono(excerpt, tmp_path):
    samples, rate = excerpt
    left_only = samples.copy()
    left_only[:, 1] = 0
    path = tmp_path / "left.wav"
    soundfile.write(str(path), left_only, rate)
    mono = audio.load(path, sample_rate=rate)
    expected = samples[:, 0].astype(np.float32) / 32768 / 2
    assert np.allclose(mono, expected, atol=1e-4)


@pytest.mark.parametrize("suffix", ["wav", "flac"])
def test_a_channel_in_opposite_polarity_is_heard_not_cancelled(excerpt, tmp_path, suffix):
    # fake stereo (right = -left), as some tracker modules render: the mean is silence
    samples, rate = excerpt
    flipped = samples.copy()
    flipped[:, 1] = -samples[:, 0].astype(np.int32).clip(-32767, 32767)
    path = tmp_path / f"surround.{suffix}"
    soundfile.write(str(path), flipped, rate)
    mono = audio.load(path, sample_rate=rate)
    expected = samples[:, 0].astype(np.float32) / 32768
    n = min(len(mono), len(expected))
    assert np.sqrt(np.mean(mono[:n] ** 2)) > 0.5 * np.sqrt(np.mean(expected[:n] ** 2))
    assert np.corrcoef(mono[:n:5], expected[:n:5])[0, 1] > 0.99
    # the same path through libsndfile
    via_sndfile = np.concatenate(list(audio._stream_sndfile(str(path), rate, 10 * rate)))
    assert np.corrcoef(via_sndfile[:n:5], expected[:n:5])[0, 1] > 0.99


@pytest.mark.parametrize("suffix", ["ogg", "mp3", "flac", "opus", "wav", "m4a"])
def test_resampling_frames_in_groups_changes_no_sample(transcoded, funnyboat, monkeypatch, suffix):
    """Decoded frames are joined before the resampler (``audio._grouped``, faster): every
    sample must equal resampling them one by one, in every format."""
    path = funnyboat if suffix == "ogg" else transcoded[suffix]
    grouped = audio.load(path, sample_rate=RATE)
    monkeypatch.setattr(audio, "_grouped", lambda frames: frames)
    one_by_one = audio.load(path, sample_rate=RATE)
    assert len(grouped) == len(one_by_one) and np.array_equal(grouped, one_by_one)


def test_a_group_ends_where_the_format_layout_or_rate_changes(excerpt):
    import av

    samples, rate = excerpt
    stereo = np.ascontiguousarray(samples[: rate // 2].astype(np.int16).reshape(1, -1))  # packed
    mono = np.ascontiguousarray(samples[: rate // 2, :1].T.astype(np.float32) / 32768)

    def frame(array, fmt, layout, sample_rate):
        made = av.AudioFrame.from_ndarray(array, format=fmt, layout=layout)
        made.sample_rate = sample_rate
        return made

    frames = [frame(stereo[:, i : i + 2048], "s16", "stereo", rate) for i in range(0, 8192, 2048)]
    frames += [frame(mono[:, i : i + 512], "fltp", "mono", rate // 2) for i in range(0, 2048, 512)]
    groups = list(audio._grouped(iter(frames), seconds=1.0))
    kinds = [(g.format.name, g.layout.name, g.sample_rate, g.samples) for g in groups]
    assert kinds == [("s16", "stereo", rate, 4096), ("fltp", "mono", rate // 2, 2048)]
    assert np.array_equal(groups[0].to_ndarray(), stereo[:, :8192])
    assert np.array_equal(groups[1].to_ndarray(), mono[:, :2048])
    pairs = list(audio._grouped(iter(frames), seconds=2048 / rate))  # 2 frames a group
    assert [(g.samples, g.sample_rate) for g in pairs] == [(2048, rate)] * 2 + [
        (1024, rate // 2)
    ] * 2
    assert np.array_equal(np.hstack([g.to_ndarray() for g in pairs[2:]]), mono[:, :2048])


def test_tags_are_read_from_real_files(funnyboat, transcoded):
    tags = audio.read_tags(funnyboat)
    assert tags.title == "Trip on the Funny Boat" and tags.artist == "JDruid"
    assert audio.read_tags(transcoded["wav"]) == audio.Tags()


def test_libsndfile_reads_what_it_supports(funnyboat):
    chunks = list(audio._stream_sndfile(str(funnyboat), RATE, 10 * RATE))
    via_ffmpeg = audio.load(funnyboat, sample_rate=RATE)
    via_sndfile = np.concatenate(chunks)
    assert abs(len(via_sndfile) - len(via_ffmpeg)) < RATE // 10
    n = min(len(via_sndfile), len(via_ffmpeg))
    assert np.corrcoef(via_sndfile[:n:7], via_ffmpeg[:n:7])[0, 1] > 0.99


def test_a_file_ffmpeg_refuses_falls_back_to_libsndfile(excerpt, tmp_path):
    # Sound Designer II, a pro-audio format: FFmpeg has no reader, libsndfile does.
    samples, rate = excerpt
    path = tmp_path / "cue.sd2"
    soundfile.write(str(path), samples, rate, format="SD2")
    with pytest.raises(OSError):
        next(audio._stream_ffmpeg(str(path), RATE, RATE))
    decoded = audio.load(path, sample_rate=RATE)
    assert abs(len(decoded) / RATE - len(samples) / rate) < 0.01


def test_non_audio_is_refused_with_the_file_named(tmp_path):
    path = tmp_path / "photo.mp3"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 40)
    with pytest.raises(DecodeError, match="photo.mp3"):
        audio.load(path, sample_rate=RATE)


def test_truncated_file_keeps_the_audio_before_the_cut(transcoded, tmp_path):
    data = transcoded["mp3"].read_bytes()
    path = tmp_path / "cut.mp3"
    path.write_bytes(data[: len(data) // 2])
    samples = audio.load(path, sample_rate=RATE)
    assert 8 * RATE < len(samples) < 12 * RATE
