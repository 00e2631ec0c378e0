"""Indexing stages as plain functions: discover -> analyse (decode, features, tag) -> store.

A runner (``local.py`` here; Ray later) drives them. Stages hold no global state:
``analyse`` takes a ``Tagger`` built once per worker, ``store`` takes the one
catalog writer. A failing file becomes a ``Failure`` value, never an exception
that stops the batch.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from cuefinder import audio, descriptors
from cuefinder.errors import CuefinderError

MIN_SECONDS = 1.0  # shorter clips carry no usable genre information
MAX_SECONDS = 6 * 3600.0  # longer files are refused while decoding: the log-mel held between
# decoding and tagging costs about 0.4 GB an hour, and a small file may decode for hours
MAX_DECODE_SECONDS = 600.0  # a file still decoding after this long is refused: a 6 h file
# decodes and is measured in under a minute, so only a hostile or pathological one gets here
SILENCE_DBFS = -60.0  # a track whose peak stays below this is silent
HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class FileTask:
    """One file to analyse; ``known_hash`` lets an untouched file skip decoding."""

    path: str
    size: int
    mtime: float
    known_hash: str | None = None


@dataclass
class Analysis:
    """Everything the catalog stores about one decoded, tagged track."""

    path: str
    content_hash: str
    size: int
    mtime: float
    duration: float
    tags: audio.Tags
    segment_seconds: float
    segment_scores: np.ndarray  # (segments, genres) float32
    track_scores: np.ndarray  # (genres,) float32
    embedding: np.ndarray  # (embedding_dim,) float32, unit length
    segment_embeddings: np.ndarray  # (segments, embedding_dim) float32, unit rows
    model_id: str
    path_bytes: bytes | None = None  # the file-system name when ``path`` is not it
    segment_tag_scores: np.ndarray | None = None  # (segments, tags) when the model has tags
    descriptors: descriptors.Descriptors | None = None  # tempo, key, loudness


@dataclass(frozen=True)
class Unchanged:
    """Same content as stored (only size/mtime moved): metadata refresh only."""

    path: str
    content_hash: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Failure:
    """A file that could not be indexed, with a one-line reason."""

    path: str
    reason: str
    size: int | None = None
    mtime: float | None = None


Result = Analysis | Unchanged | Failure


@dataclass
class Discovery:
    """What a walk over the roots found."""

    files: list[FileTask] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)  # stored in the catalog
    # roots that do not exist (a mistyped path): reported, never stored
    unreachable: list[Failure] = field(default_factory=list)


def display_path(path: str) -> str:
    """A UTF-8 name for a file-system path (undecodable bytes shown as \\xNN)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def discover(roots: Iterable[str | os.PathLike], within=None) -> Discovery:
    """Walk files and folders; audio files by extension, symlink loops broken. With
    ``within`` (folders, resolved), a file whose real path is outside all of them (reached
    through a symbolic link) is a failure, never read, and the link's target is not named;
    so is a file with more hard links than the walk found inside them (``_hard_links``)."""
    inside = None if within is None else [os.path.realpath(w) for w in within]
    found = Discovery()
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[str] = set()
    for root in roots:
        root = os.path.abspath(os.fsdecode(root))
        if not os.path.lexists(root):
            found.unreachable.append(Failure(display_path(root), "no such file or folder"))
            continue
        for path in _walk(root, seen_dirs, found.failures):
            if path in seen_files:
                continue
            seen_files.add(path)
            task = _file_task(path, explicit=path == root)
            if inside is not None and isinstance(task, FileTask) and not _under(path, inside):
                task = Failure(display_path(path), "leads outside the index roots through a "
                               "symbolic link; not indexed", task.size, task.mtime)  # fmt: skip
            if isinstance(task, Failure):
                found.failures.append(task)
            elif task is not None:
                found.files.append(task)
    if inside is not None:
        _hard_links(found)
    found.files.sort(key=lambda t: t.path)
    return found


def _hard_links(found: Discovery) -> None:
    """Move to the failures each file with more hard links than the walk met. A hard link
    has no target to resolve: each of a file's names is the file, and the others cannot be
    listed, so one of them may lie outside the index roots (linked in where the system lets
    users link files they do not own). From the web, a file is indexed only when all its
    names are in the folders walked; ``cuefinder index`` indexes it as before."""
    names: dict[tuple[int, int], set[str]] = {}
    links: dict[str, tuple[tuple[int, int], int]] = {}
    for task in found.files:
        try:
            info = os.stat(task.path)
        except OSError:
            continue  # gone since the walk: decoding says so
        if info.st_nlink > 1:
            key = (info.st_dev, info.st_ino)
            names.setdefault(key, set()).add(os.path.realpath(task.path))
            links[task.path] = key, info.st_nlink
    kept = []
    for task in found.files:
        key, count = links.get(task.path, (None, 1))
        unseen = count - len(names[key]) if key else 0
        if unseen > 0:
            reason = (
                f"a file with {count} hard links, {unseen} of them not in the folders indexed "
                "(perhaps outside the index roots): not indexed from the web ('cuefinder "
                "index' indexes it)"
            )
            found.failures.append(Failure(display_path(task.path), reason, task.size, task.mtime))
        else:
            kept.append(task)
    found.files = kept


def _under(path: str, folders: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == f or real.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def _walk(root: str, seen_dirs: set, failures: list[Failure]) -> Iterator[str]:
    try:
        info = os.stat(root)
    except OSError as err:
        failures.append(Failure(display_path(root), _os_reason(err)))
        return
    if not stat.S_ISDIR(info.st_mode):
        yield root
        return
    for top, dirs, files in os.walk(root, followlinks=True, onerror=None):
        key = _dir_key(top)
        if key is None or key in seen_dirs:
            dirs[:] = []
            continue
        seen_dirs.add(key)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(top, name)


def _dir_key(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _file_task(path: str, explicit: bool) -> FileTask | Failure | None:
    """A task for an audio file, a Failure for an unreadable one, None to ignore."""
    if not explicit and not audio.is_audio_name(path):
        return None
    try:
        info = os.stat(path)
    except OSError as err:
        if os.path.islink(path) and audio.is_audio_name(path):
            return Failure(display_path(path), _os_reason(err))
        return None if not explicit else Failure(display_path(path), _os_reason(err))
    if not stat.S_ISREG(info.st_mode):  # never opened: a FIFO's open would wait for a writer
        kind = _special_kind(info.st_mode)
        return Failure(display_path(path), f"not a regular file ({kind}); not opened")
    if not os.access(path, os.R_OK):
        return Failure(display_path(path), "permission denied", info.st_size, info.st_mtime)
    return FileTask(path, info.st_size, info.st_mtime)


def _span(seconds: float) -> str:
    """``6 h``, ``10 min`` or ``45 s``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _special_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):  # fmt: skip
        if test(mode):
            return name
    return "a special file"


def _os_reason(err: OSError) -> str:
    if err.errno == 40:  # ELOOP
        return "symbolic link loop"
    return (err.strerror or str(err)).lower()


def content_hash(path: str) -> str:
    """BLAKE2b digest of the file's bytes (identifies a track across renames)."""
    with open(path, "rb") as handle:
        return stream_hash(handle)


def stream_hash(handle) -> str:
    """``content_hash`` of an open binary file, read from where it stands to its end."""
    digest = hashlib.blake2b(digest_size=16)
    while block := handle.read(HASH_BLOCK):
        digest.update(block)
    return digest.hexdigest()


_TAGGERS: dict = {}


def tagger_for(model_path: str | os.PathLike, model_id: str | None = None):
    """The process's loaded Tagger for a model file (one at a time; loaded again when the
    path or the expected model id changes). Torch loads here, not before."""
    from cuefinder.model.tagger import Tagger

    key = os.fsdecode(model_path)
    cached = _TAGGERS.get(key)
    if cached is None or (model_id is not None and cached.model_id != model_id):
        _TAGGERS.clear()
        _TAGGERS[key] = cached = Tagger.load(key)
    return cached


def warm_descriptors(features) -> None:
    """Measure 4 s of soft noise as a file's descriptors are measured: what they load on
    first use (the filter banks, from the user cache or made there: ``filterbanks``;
    musicnn's tagger) is loaded as a worker starts, beside the other workers, not in its
    first file."""
    from cuefinder.features import log_mel

    rate = features.sample_rate
    noise = 0.01 * np.random.default_rng(0).standard_normal(4 * rate).astype(np.float32)
    measures = descriptors.Accumulator(rate)
    measures.add(noise)
    measures.finish(log_mel(noise, features).numpy(), features.hop_length)


PROBE_SECONDS = 12.0  # the test signal a model must tag before it is trusted
MAX_SEGMENT_SECONDS = 60.0  # longer segments cannot say which part of a track fits


def check_model(info) -> None:
    """Load a model (checkpoint.ModelInfo) and tag a short test signal with it: two tones
    and soft noise. ModelFileError, one line, unless it loads, runs, and gives finite
    outputs of the shapes its header promises, with at least one segment, and the
    "sounds like" projection it may carry fits its embedding."""
    from cuefinder.errors import ModelFileError
    from cuefinder.model import checkpoint

    try:
        checkpoint.load_likeness(info)
        tagger = tagger_for(info.path, info.model_id)
        rate = tagger.features.sample_rate
        t = np.arange(int(PROBE_SECONDS * rate)) / rate
        noise = np.random.default_rng(0).standard_normal(len(t))
        probe = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 331 * t) + 0.02 * noise
        tagged = tagger.tag_stream(iter([probe.astype(np.float32)]))
    except ModelFileError:
        raise
    except Exception as err:  # a broken file fails in many ways; each is the file's fault
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        why = f"{type(err).__name__}: {reason}" if reason else type(err).__name__
        raise ModelFileError(f"{info.path}: the model does not run ({why})") from None
    genres, dim = len(info.genres), info.config.output_dim
    problems = []
    if not 0.1 <= tagged.segment_seconds <= MAX_SEGMENT_SECONDS:  # its front end's settings
        front = tagger.features
        problems.append(f"segments of {tagged.segment_seconds:.3g} s (front end: hop "
                        f"{front.hop_length} at {front.sample_rate} Hz)")  # fmt: skip
    if len(tagged.segment_scores) == 0:
        problems.append(f"no segment from {PROBE_SECONDS:g} s of audio (its front end?)")
    if tagged.segment_scores.shape[1:] != (genres,) or tagged.track_scores.shape != (genres,):
        problems.append(f"{tagged.track_scores.shape[-1]} genre outputs, its header names {genres}")
    if tagged.embedding.shape != (dim,):
        problems.append(f"embedding of {tagged.embedding.shape[-1]}, its header says {dim}")
    outputs = (tagged.segment_scores, tagged.embedding, tagged.segment_embeddings)
    if not all(np.isfinite(x).all() for x in outputs):
        problems.append("outputs that are not finite (NaN or inf)")
    elif len(tagged.segment_scores) and not 0 <= tagged.segment_scores.min() <= 1:
        problems.append("genre scores outside 0..1")
    if problems:
        raise ModelFileError(f"{info.path}: not a usable model: {'; '.join(problems)}")


def task_for(path: str | os.PathLike) -> FileTask:
    """A FileTask for one file outside any indexing run (a temp track, an upload)."""
    text = os.fsdecode(path)
    info = os.stat(text)
    return FileTask(text, info.st_size, info.st_mtime)


def analyse(task: FileTask, tagger, *, measure: bool = True,
            max_seconds: float = MAX_SECONDS) -> Result:  # fmt: skip
    """Decode, compute features (and descriptors, with ``measure``) and tag one file; a
    Failure instead of raising (one for a file longer than ``max_seconds``, or whose
    decoding runs past ``MAX_DECODE_SECONDS``)."""
    decoded = decode(task, tagger.features, measure=measure, max_seconds=max_seconds)
    return tag(decoded, tagger) if isinstance(decoded, Decoded) else decoded


@dataclass
class Decoded:
    """A file decoded to its log-mel frames: the work between decoding and tagging (two
    stages a cluster runs on different workers)."""

    task: FileTask
    content_hash: str
    duration: float
    peak_dbfs: float
    frames: np.ndarray  # (n_mels, frames) float32, the model's front end
    tags: audio.Tags
    descriptors: descriptors.Descriptors | None = None


class _TooLong(Exception):
    pass


class _TooSlow(Exception):
    pass


def decode(task: FileTask, features, *, measure: bool = True,
           max_seconds: float = MAX_SECONDS) -> Decoded | Unchanged | Failure:  # fmt: skip
    """Hash, decode and compute the log-mel of one file (features.FeatureConfig), and its
    descriptors (tempo, key, loudness) unless ``measure`` is False; Unchanged when its
    content is what the catalog holds, a Failure instead of raising.

    Decoding is bounded in length (``max_seconds`` of audio) and in time
    (``MAX_DECODE_SECONDS``, read when called): both are checked as each chunk of audio
    arrives (every 30 s of it), and either stops the decoder there, closing the file.
    """
    from cuefinder.features import stream_log_mel

    name = display_path(task.path)
    bound = MAX_DECODE_SECONDS
    try:
        digest = content_hash(task.path)
        if task.known_hash == digest:
            return Unchanged(name, digest, task.size, task.mtime)
        if task.size == 0:
            return Failure(name, "empty file (0 bytes)", task.size, task.mtime)
        level = [0, 0.0]  # samples, peak: read as the chunks pass (memory stays bounded)
        measures = descriptors.Accumulator(features.sample_rate) if measure else None
        deadline = time.monotonic() + bound

        def watched():
            for chunk in audio.stream(task.path, sample_rate=features.sample_rate):
                if level[0] + len(chunk) > max_seconds * features.sample_rate:
                    raise _TooLong  # stops the decoder: time and memory stay bounded
                if time.monotonic() > deadline:
                    raise _TooSlow
                level[0] += len(chunk)
                if len(chunk):
                    level[1] = max(level[1], float(np.abs(chunk).max()))
                if measures is not None:
                    measures.add(chunk)
                yield chunk

        frames = [f.numpy() for f in stream_log_mel(watched(), features)]
    except _TooLong:
        return Failure(name, f"longer than {_span(max_seconds)}, the most a file may be "
                       "(cut it, or index its parts)", task.size, task.mtime)  # fmt: skip
    except _TooSlow:
        heard = _span(level[0] // features.sample_rate)
        why = f"decoding ran past {_span(bound)}, the most one file may take (stopped {heard} in)"
        return Failure(name, why, task.size, task.mtime)
    except CuefinderError as err:
        return Failure(name, _strip_path(str(err), task.path), task.size, task.mtime)
    except OSError as err:
        return Failure(name, _os_reason(err), task.size, task.mtime)
    duration = level[0] / features.sample_rate
    dbfs = 20 * np.log10(max(level[1], 1e-10))
    if duration < MIN_SECONDS:
        return Failure(name, f"too short ({duration:.2f} s < {MIN_SECONDS:g} s)", task.size,
                       task.mtime)  # fmt: skip
    if dbfs < SILENCE_DBFS:
        return Failure(name, f"silent (peak {dbfs:.0f} dBFS)", task.size, task.mtime)
    mel = np.concatenate(frames, axis=1) if frames else np.zeros((features.n_mels, 0), np.float32)
    found = measures.finish(mel, features.hop_length) if measures is not None else None
    return Decoded(task, digest, duration, dbfs, mel, audio.read_tags(task.path), found)


def tag(decoded: Decoded, tagger) -> Analysis | Failure:
    """Tag decoded frames with the model; a Failure if its outputs are not finite. A model
    with genre regressions on the sound embedding (``model/heard.py``) has its track scores
    averaged with theirs where the descriptors give a sound embedding."""
    task = decoded.task
    name = display_path(task.path)
    tagged = tagger.tag_frames(decoded.frames, decoded.duration, decoded.peak_dbfs)
    track_scores = tagged.track_scores
    if tagger.heard is not None and decoded.descriptors is not None:
        track_scores = tagger.heard.fuse(track_scores, decoded.descriptors.sound_embedding)
    outputs = (tagged.segment_scores, track_scores, tagged.embedding, tagged.segment_embeddings)
    if not all(np.isfinite(x).all() for x in outputs):  # never a stored row of NaN
        return Failure(name, "the model gave outputs that are not finite (NaN or inf)",
                       task.size, task.mtime)  # fmt: skip
    return Analysis(
        path=name,
        content_hash=decoded.content_hash,
        size=task.size,
        mtime=task.mtime,
        duration=tagged.duration,
        tags=decoded.tags,
        segment_seconds=tagged.segment_seconds,
        segment_scores=tagged.segment_scores,
        track_scores=track_scores,
        embedding=tagged.embedding,
        segment_embeddings=tagged.segment_embeddings,
        model_id=tagger.model_id,
        path_bytes=None if name == task.path else os.fsencode(task.path),
        segment_tag_scores=tagged.segment_tag_scores,
        descriptors=decoded.descriptors,
    )


def _strip_path(message: str, path: str) -> str:
    """Errors name their file; the Failure already does, so keep only the reason."""
    for prefix in (os.fsdecode(path), display_path(path)):
        if message.startswith(prefix + ": "):
            return message[len(prefix) + 2 :]
    return message


def store(catalog, result: Result) -> None:
    """Write one result to the catalog in one transaction."""
    if isinstance(result, Analysis):
        catalog.put_analysis(result, indexed_at=time.time())
    elif isinstance(result, Unchanged):
        catalog.touch(result.path, result.size, result.mtime)
    else:
        catalog.put_failure(result, at=time.time())


def refresh_vectors(catalog, model_id: str):
    """Bring the catalog's nearest-neighbour index up to date (after a run's stores)."""
    from cuefinder.catalog.vectors import VectorIndex

    return VectorIndex(catalog, catalog.model(model_id)).sync()
