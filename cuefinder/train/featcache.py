"""Feature cache: each track's log-mel computed once, keyed by content and settings.

Epochs and experiments never decode again. A cache entry is a float16 array
(n_mels, frames) in ``<cache>/<key[:2]>/<key>.npy``, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cuefinder import audio, settings
from cuefinder.errors import CuefinderError
from cuefinder.features import FeatureConfig, stream_log_mel
from cuefinder.pipeline.stages import content_hash
from cuefinder.processes import spawn_pool
from cuefinder.train.config import MAX_SECONDS


def default_cache_dir() -> Path:
    return settings.cache_dir("features")


def cache_key(path: str | os.PathLike, config: FeatureConfig, max_seconds: float) -> str:
    """Content hash of the file plus a hash of the front-end settings (and of the decoder's
    revision)."""
    return _key(path, [config.to_dict(), float(max_seconds), audio.DECODE_REVISION])  # 600.0


def _key(path: str | os.PathLike, settings: list) -> str:
    """The file's content hash, then a short hash of the settings its values depend on."""
    text = json.dumps(settings, sort_keys=True).encode()
    return f"{content_hash(str(path))}-{hashlib.blake2b(text, digest_size=6).hexdigest()}"


def _stored(target: Path, compute) -> np.ndarray:
    """The array at ``target``, or ``compute()`` written there atomically on a miss."""
    if target.exists():
        return np.load(target)
    values = compute()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, values)
    os.replace(tmp, target)
    return values


def compute(path: str | os.PathLike, config: FeatureConfig, max_seconds: float) -> np.ndarray:
    """Log-mel (n_mels, frames) float16 of the first ``max_seconds`` of a file."""
    limit = int(max_seconds * config.sample_rate)

    def capped():
        have = 0
        for chunk in audio.stream(path, sample_rate=config.sample_rate):
            yield chunk[: limit - have]
            have += len(chunk)
            if have >= limit:
                return

    blocks = [b.numpy() for b in stream_log_mel(capped(), config)]
    if not blocks:
        raise CuefinderError(f"{path}: shorter than one analysis frame")
    return np.concatenate(blocks, axis=1).astype(np.float16)


def cached(
    path: str | os.PathLike, config: FeatureConfig, max_seconds: float, cache_dir: Path
) -> np.ndarray:
    """The cached features of ``path``, computing and storing them on a miss."""
    key = cache_key(path, config, max_seconds)
    target = Path(cache_dir) / key[:2] / f"{key}.npy"
    return _stored(target, lambda: compute(path, config, max_seconds))


def _cached_or_error(args) -> np.ndarray | str:
    path, config, max_seconds, cache_dir = args
    try:
        return cached(path, config, max_seconds, cache_dir)
    except (CuefinderError, OSError) as err:
        return str(err)


def _one_thread() -> None:
    """Worker processes share the cores: one torch thread each."""
    import torch

    torch.set_num_threads(1)


def build(
    paths: Sequence[str | os.PathLike],
    config: FeatureConfig,
    *,
    max_seconds: float = MAX_SECONDS,
    cache_dir: Path | None = None,
    jobs: int | None = None,
    progress: bool = True,
) -> list[np.ndarray | str]:
    """Features of every path, in order; a string (the reason) where a file failed."""
    from tqdm import tqdm

    cache_dir = Path(cache_dir or default_cache_dir())
    work = [(str(p), config, max_seconds, cache_dir) for p in paths]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(work) or 1))
    bar = tqdm(total=len(work), unit="track", desc="features", disable=not progress or None)
    results: list[np.ndarray | str] = []
    if jobs == 1:
        for item in work:
            results.append(_cached_or_error(item))
            bar.update(1)
    else:
        with spawn_pool(jobs, _one_thread) as pool:
            for value in pool.imap(_cached_or_error, work, chunksize=2):
                results.append(value)
                bar.update(1)
    bar.close()
    return results


# ---------------------------------------------------------------- what musicnn's tagger hears

SOUND_RATE = 16000  # musicnn's


def sounds(path: str | os.PathLike, cache_dir: Path | None = None) -> np.ndarray:
    """(50 + 200,) float32: musicnn's sound tags and sound embedding of a file, computed
    exactly as indexing computes them (``descriptors.Excerpts`` over the decoded stream,
    then ``descriptors.sound_tags``), so that what learns from them reads what a catalog
    stores; cached by content. NaN where the file has no whole 3 s excerpt."""
    from cuefinder import descriptors
    from cuefinder.model import musicnn_tags

    key = _key(path, [audio.DECODE_REVISION, musicnn_tags.SOUNDS, descriptors.EXCERPTS])
    target = Path(cache_dir or default_cache_dir()) / key[:2] / f"{key}.sounds.npy"

    def compute_sounds() -> np.ndarray:
        excerpts = descriptors.Excerpts(SOUND_RATE)
        for chunk in audio.stream(path, sample_rate=SOUND_RATE):
            excerpts.add(chunk)
        tags, heard = descriptors.sound_tags(excerpts.kept, SOUND_RATE)
        if tags is None:
            size = len(musicnn_tags.TAGS[musicnn_tags.SOUNDS]) + descriptors.SOUND_DIM
            return np.full(size, np.nan, np.float32)
        return np.concatenate([np.asarray(tags, np.float32), heard]).astype(np.float32)

    return _stored(target, compute_sounds)
