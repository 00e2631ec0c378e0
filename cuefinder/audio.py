"""Decode audio files to mono float32 at a chosen rate, in bounded chunks; read tags.

No torch and no sqlite here. Memory does not grow with track length: ``stream``
yields fixed-size chunks, so a two-hour file costs what a three-minute one does.

Two decoders are tried in turn: FFmpeg (through PyAV) reads nearly everything;
libsndfile (through soundfile) reads some Ogg Vorbis files that FFmpeg refuses.
A file is called undecodable only when both have refused it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cuefinder.errors import DecodeError

AUDIO_EXTENSIONS = frozenset(
    {
        ".mp3",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".wav",
        ".wave",
        ".aif",
        ".aiff",
        ".m4a",
        ".mp4",
        ".aac",
        ".alac",
        ".wma",
        ".ape",
        ".wv",
        ".mka",
        ".webm",
        ".sd2",
        ".caf",
        ".w64",
        ".au",
    }
)

Decoder = Callable[[str, int, int], Iterator[np.ndarray]]


@dataclass(frozen=True)
class Tags:
    """Descriptive tags of a track; any may be missing."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None


def is_audio_name(path: str | os.PathLike) -> bool:
    """True when the file name carries an audio extension this module decodes."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def read_tags(path: str | os.PathLike) -> Tags:
    """Title, artist and album from the file's tags; empty Tags when it has none."""
    import mutagen

    try:
        meta = mutagen.File(path, easy=True)
    except Exception:  # mutagen raises many types on odd files; tags are optional
        return Tags()
    if meta is None or meta.tags is None:
        return Tags()

    def first(key: str) -> str | None:
        try:
            values = meta.tags.get(key) or []
        except (KeyError, ValueError):
            return None
        text = str(values[0]).strip() if values else ""
        return text or None

    return Tags(title=first("title"), artist=first("artist"), album=first("album"))


def stream(
    path: str | os.PathLike, *, sample_rate: int, chunk_seconds: float = 30.0
) -> Iterator[np.ndarray]:
    """Yield the file's audio as mono float32 chunks at ``sample_rate``.

    Parameters
    ----------
    path : file to decode
    sample_rate : output rate in Hz
    chunk_seconds : length of each chunk; the last one may be shorter

    Yields
    ------
    np.ndarray, shape (samples,), float32

    Raises
    ------
    DecodeError
        when no decoder can read any audio from the file (raised before the
        first chunk, so a caller never sees half a file from a refused decoder).
    """
    if sample_rate <= 0 or chunk_seconds <= 0:
        raise ValueError("sample_rate and chunk_seconds must be positive")
    name = os.fsdecode(path)
    chunk = max(1, int(round(chunk_seconds * sample_rate)))
    reasons = []
    for label, decoder in (("ffmpeg", _stream_ffmpeg), ("libsndfile", _stream_sndfile)):
        if reasons and not _sndfile_may_help(name):
            break
        chunks = decoder(name, sample_rate, chunk)
        try:
            first = next(chunks)
        except StopIteration:
            reasons.append(f"{label}: no audio")
            continue
        except (OSError, RuntimeError, ValueError) as err:
            reasons.append(f"{label}: {_short(err)}")
            continue
        yield first
        yield from chunks
        return
    raise DecodeError(f"{name}: not decodable audio ({'; '.join(reasons)})")


def load(
    path: str | os.PathLike, *, sample_rate: int, max_seconds: float | None = None
) -> np.ndarray:
    """The whole file (or its first ``max_seconds``) as one mono float32 array."""
    limit = None if max_seconds is None else int(max_seconds * sample_rate)
    parts, have = [], 0
    for chunk in stream(path, sample_rate=sample_rate):
        parts.append(chunk)
        have += len(chunk)
        if limit is not None and have >= limit:
            break
    samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return samples[:limit] if limit is not None else samples


def _sndfile_may_help(name: str) -> bool:
    """A second try with libsndfile, except on MPEG audio and JPEGs (its mp3 reader is noisy)."""
    try:
        with open(name, "rb") as handle:
            magic = handle.read(3)
    except OSError:
        return False
    return bool(magic) and magic[0] != 0xFF and magic != b"ID3"


def _short(err: BaseException) -> str:
    """One line of an error's reason, without the file name the caller already gives."""
    text = getattr(err, "strerror", None) or getattr(err, "error_string", None) or str(err)
    text = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return text[:200]


def _rechunk(planes: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Regroup arbitrary-length (channels, n) blocks into mono chunks of exactly ``size``
    samples (the last may be shorter), each downmixed as a whole."""
    pending: list[np.ndarray] = []
    have = 0
    for plane in planes:
        if plane.shape[1] == 0:
            continue
        pending.append(plane)
        have += plane.shape[1]
        while have >= size:
            joined = np.concatenate(pending, axis=1)
            yield np.ascontiguousarray(downmix(joined[:, :size]), dtype=np.float32)
            rest = joined[:, size:]
            pending, have = ([rest] if rest.shape[1] else []), rest.shape[1]
    if have:
        yield np.ascontiguousarray(downmix(np.concatenate(pending, axis=1)), dtype=np.float32)


# bumped whenever decoding changes the samples a file gives (caches of features key on it)
DECODE_REVISION = 2  # 2: channels in opposite polarity no longer cancel


def downmix(channels: np.ndarray) -> np.ndarray:
    """Mono from (channels, samples): their mean.

    Two channels in opposite polarity (fake stereo in tracker music, a miswired
    master) cancel in the mean; where it keeps under 1% of the channels' power,
    half their difference is the signal, so such a track is heard, not called
    silent.
    """
    mono = channels.mean(axis=0)
    if channels.shape[0] == 2:
        left, right = channels
        power = float(left @ left) + float(right @ right)  # twice the mean channel's, times n
        if power > 1e-9 and 2 * float(mono @ mono) < 0.01 * power:
            return (left - right) / 2
    return mono


def _stream_ffmpeg(name: str, sample_rate: int, chunk: int) -> Iterator[np.ndarray]:
    return _rechunk(_ffmpeg_blocks(name, sample_rate), chunk)


def _ffmpeg_blocks(name: str, sample_rate: int) -> Iterator[np.ndarray]:
    import av

    try:
        container = av.open(name, metadata_errors="ignore")
    except av.FFmpegError as err:
        raise OSError(_short(err)) from err
    with container:
        if not container.streams.audio:
            raise OSError("no audio stream")
        audio = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        produced = False
        for frame in _grouped(_decode_tolerant(container, audio)):
            for out in resampler.resample(frame):
                produced = True
                yield out.to_ndarray()  # (channels, n)
        if produced:
            for out in resampler.resample(None):
                yield out.to_ndarray()


GROUP_SECONDS = 1.0  # decoded frames are resampled this much at a time


def _grouped(frames: Iterator, seconds: float = GROUP_SECONDS) -> Iterator:
    """Consecutive decoded frames joined into frames of about ``seconds`` each: a codec's
    frames are short (20-50 ms), and resampling each alone costs more in calls than in
    arithmetic. The resampled samples are the same (the resampler streams). Frames are
    joined in FFmpeg's own queue (``av.AudioFifo``: a copy in C, any sample format; a
    NumPy array of each frame cost as much again as decoding it); a frame that changes
    format, layout or rate starts a new group."""
    import av

    fifo, kind = None, None
    for frame in frames:
        this = (frame.format.name, frame.layout.name, frame.sample_rate)
        if fifo is not None and this != kind:
            if fifo.samples:
                yield fifo.read()  # all it holds
            fifo = None
        if fifo is None:
            fifo, kind = av.AudioFifo(), this
        frame.pts = None  # a skipped damaged packet leaves a gap the queue would refuse
        fifo.write(frame)
        if fifo.samples >= seconds * frame.sample_rate:
            yield fifo.read()
    if fifo is not None and fifo.samples:
        yield fifo.read()


def _decode_tolerant(container, audio) -> Iterator:
    """Decoded frames; a damaged packet is skipped, a damaged tail ends the stream."""
    import av

    decoded = bad = 0
    try:
        for packet in container.demux(audio):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                bad += 1
                if bad > 50 and bad > decoded:
                    raise OSError("too many damaged packets") from None
                continue
            for frame in frames:
                decoded += 1
                yield frame
    except av.FFmpegError as err:
        if not decoded:
            raise OSError(_short(err)) from err
        # a truncated file: keep what decoded cleanly


def _stream_sndfile(name: str, sample_rate: int, chunk: int) -> Iterator[np.ndarray]:
    import soundfile
    import soxr

    try:
        handle = soundfile.SoundFile(name)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise OSError(_short(err)) from err
    with handle:
        if handle.frames == 0:
            return
        channels = handle.channels
        resample = None
        if handle.samplerate != sample_rate:
            resample = soxr.ResampleStream(handle.samplerate, sample_rate, channels,
                                           dtype="float32")  # fmt: skip
        blocks = handle.blocks(blocksize=65536, dtype="float32", always_2d=True)

        def planes() -> Iterator[np.ndarray]:  # (channels, n), at the model's rate
            for block in blocks:
                yield (resample.resample_chunk(block) if resample else block).reshape(
                    -1, channels).T  # fmt: skip
            if resample:
                tail = resample.resample_chunk(np.zeros((0, channels), np.float32), last=True)
                yield tail.reshape(-1, channels).T

        yield from _rechunk(planes(), chunk)
