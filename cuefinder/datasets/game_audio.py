"""Game music as plain audio files: tracker modules rendered, raw 8-bit PCM wrapped,
endless loops cropped, unreadable tags dropped (``games`` fetches the packages)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import mutagen
import numpy as np
import soundfile as sf

from cuefinder.errors import DatasetError

MODULE_SUFFIXES = frozenset({".mod", ".xm", ".it", ".s3m", ".stm"})
RENDER_SECONDS = 600  # cap on a rendered tracker module (some loop forever)
LOOP_SECONDS = 360  # planetblupi files repeat a ~350 s loop: keep this much
OPENMPT_ARGS = ("--batch", "--quiet", "--samplerate", "44100", "--channels", "2", "--no-float")


def convert(
    package: str, path: Path, say: Callable[[str], None], seconds: float = RENDER_SECONDS
) -> Path:
    """Make one copied file decodable by ordinary decoders; return its final path.

    ``seconds``: how much of a tracker module to render (one play-through where
    music_files.tsv states it; some modules loop forever).
    """
    suffix = path.suffix.lower()
    if suffix in MODULE_SUFFIXES:
        say(f"{package}: rendering {path.name}")
        return _render_module(path, seconds)
    if suffix == ".raw":
        return raw_to_wav(path)
    if package == "planetblupi-music-ogg":
        return _crop(path, LOOP_SECONDS)
    if not suffix:
        path = _renamed(path, path.with_name(path.name + ".ogg"))
    _drop_undecodable_tags(path)
    return path


def _drop_undecodable_tags(path: Path) -> None:
    """Remove Vorbis comments that are not UTF-8: FFmpeg (PyAV) refuses such files."""
    try:
        meta = mutagen.File(path)
    except Exception:  # mutagen raises many types on odd files; tags are optional
        return
    tags = getattr(meta, "tags", None)  # Vorbis comments are a list of (key, value)
    if isinstance(tags, list) and any("\ufffd" in value for _, value in tags):
        tags[:] = [(key, value) for key, value in tags if "\ufffd" not in value]
        meta.save()


def _render_module(path: Path, seconds: float = RENDER_SECONDS) -> Path:
    """Render a tracker module to 44.1 kHz stereo FLAC (WAV if FLAC fails)."""
    exe = shutil.which("openmpt123")
    if exe is None:
        raise DatasetError(
            f"{path.name} is a tracker module: install openmpt123 to render it "
            "(apt-get install openmpt123)"
        )
    stderr = ""
    for suffix in (".flac", ".wav"):
        out = _free_name(path.with_suffix(suffix))
        end = ("--end-time", str(max(1, round(seconds))))
        cmd = [exe, *OPENMPT_ARGS, *end, "-o", str(out), "--", str(path)]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode == 0 and out.is_file() and out.stat().st_size > 0:
            path.unlink()
            return out
        out.unlink(missing_ok=True)
        stderr = result.stderr
    raise DatasetError(f"{path.name}: openmpt123 could not render it: {tail(stderr)}")


def _free_name(path: Path) -> Path:
    """``path``; DatasetError if another file already took that name."""
    if path.exists():
        raise DatasetError(f"{path}: two files would be converted to this name")
    return path


def raw_to_wav(path: Path) -> Path:
    """Headerless 8-bit unsigned stereo PCM at 22,050 Hz -> 16-bit WAV."""
    data = np.fromfile(path, dtype=np.uint8)
    frames = data[: len(data) // 2 * 2].reshape(-1, 2)
    pcm = (frames.astype(np.int16) - 128) * 256
    out = _free_name(path.with_suffix(".wav"))
    sf.write(out, pcm, 22050, subtype="PCM_16")
    path.unlink()
    return out


def _crop(path: Path, seconds: float) -> Path:
    """Keep the first ``seconds`` of a longer file, as 16-bit FLAC."""
    info = sf.info(path)
    if info.duration <= seconds:
        return path
    data, rate = sf.read(path, frames=int(seconds * info.samplerate), dtype="int16")
    tmp = path.with_name(path.stem + ".crop.flac")
    sf.write(tmp, data, rate, subtype="PCM_16")
    path.unlink()
    return _renamed(tmp, path.with_suffix(".flac"))


def _renamed(path: Path, new: Path) -> Path:
    path.rename(_free_name(new))
    return new


def tail(text: str) -> str:
    return " ".join(text.strip().splitlines()[-3:]) or "no message"
