"""The local runner: drives the indexing stages over this machine's cores.

The coordinator (this process) walks the folders, decides what needs work,
and is the catalog's only writer; worker processes each load the model once
and run ``stages.analyse``. Each result is stored in its own transaction as it
arrives, so a run killed at any moment resumes where it stopped. With workers, the
model is checked in one of them before anything is stored, and the coordinator
never imports torch (a second or more before any work could start).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from cuefinder.catalog import Catalog
from cuefinder.errors import CuefinderError
from cuefinder.model import checkpoint
from cuefinder.pipeline import stages
from cuefinder.processes import limit_threads, spawn_pool


@dataclass
class IndexReport:
    """What an index run did."""

    indexed: int = 0
    unchanged: int = 0  # skipped: same file, same model
    failed: list[stages.Failure] = field(default_factory=list)
    missing: int = 0  # catalogued files that vanished from the indexed folders
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    vectors: object = None  # catalog.vectors.SyncReport of the nearest-neighbour index

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class Plan:
    tasks: list[stages.FileTask]
    unchanged: int
    returned: list[str]  # flagged missing before, present again
    vanished: list[str]


def plan(catalog: Catalog, found: stages.Discovery, roots: Sequence[str], model_id: str) -> Plan:
    """Split discovered files into work and skips; find catalogued files that vanished."""
    states = catalog.file_states()
    incomplete = catalog.incomplete()  # stored before segment embeddings were kept
    tasks, returned, unchanged = [], [], 0
    seen = {f.path for f in found.failures}
    for task in found.files:
        name = stages.display_path(task.path)
        seen.add(name)
        state = states.get(name)
        if state is None or state[3] != model_id or name in incomplete:
            tasks.append(task)
            continue
        size, mtime, digest, _, missing = state
        if missing:
            returned.append(name)
        if size == task.size and mtime == task.mtime:
            unchanged += 1
        else:
            tasks.append(stages.FileTask(task.path, task.size, task.mtime, known_hash=digest))
    prefixes = [stages.display_path(r).rstrip(os.sep) + os.sep for r in roots]
    vanished = [
        p
        for p, s in states.items()
        if not s[4] and p not in seen and (p in roots or p.startswith(tuple(prefixes)))
    ]
    return Plan(tasks, unchanged, returned, vanished)


def index(
    paths: Iterable[str | os.PathLike],
    catalog: Catalog | None = None,
    *,
    model: str | os.PathLike | None = None,
    jobs: int | None = None,
    progress: bool = True,
    on_result: Callable[[stages.Result], None] | None = None,
    descriptors: bool = True,
    within: Iterable[str] | None = None,
) -> IndexReport:
    """Index files and folders into ``catalog`` with ``model`` (the default one if None);
    ``descriptors=False`` skips tempo, key, loudness, energy and sounds (faster); with
    ``within``, files whose real path is outside those folders are failures, not read."""
    workers = _Workers(jobs or os.cpu_count() or 1, descriptors)
    try:
        run = prepare(paths, catalog or Catalog(), model, within=within, check=workers.check)
        return run.finish(workers.analyse(run.plan.tasks), progress, on_result)
    finally:
        workers.close()


@dataclass
class Run:
    """An index run between planning and storing: what every runner shares."""

    catalog: Catalog
    info: object  # checkpoint.ModelInfo
    plan: Plan
    report: IndexReport
    started: float

    def finish(
        self,
        results: Iterable[stages.Result],
        progress: bool,
        on_result: Callable[[stages.Result], None] | None = None,
    ) -> IndexReport:
        """Store each result as it arrives (one transaction each), showing progress; then
        bring the vector index up to date."""
        report, total = self.report, len(self.plan.tasks)
        bar = _progress(total, progress)
        lines = progress and not sys.stderr.isatty()  # a log, not a terminal: a line per track
        for done, result in enumerate(results, 1):
            stages.store(self.catalog, result)
            _count(report, result)
            bar.update(1)
            bar.set_postfix_str(f"{report.audio_seconds / 60:.0f} min of audio", refresh=False)
            if lines:
                print(_progress_line(done, total, result), file=sys.stderr, flush=True)
            if on_result:
                on_result(result)
        bar.close()
        report.vectors = stages.refresh_vectors(self.catalog, self.info.model_id)
        report.wall_seconds = time.monotonic() - self.started
        return report


def prepare(paths, catalog: Catalog, model, within=None, check=None) -> Run:
    """Read the model's header, walk the folders, plan the work, check the model (before
    any work starts and before it becomes active) and record what the walk found.
    ``check(info, tasks)`` checks the model where the tasks will run (default: here,
    ``stages.check_model``); it raises ModelFileError for a model that does not run."""
    started = time.monotonic()
    info = checkpoint.read_info(model or checkpoint.default_model_path())
    roots = [os.path.abspath(os.path.expanduser(os.fsdecode(p))) for p in paths]  # "~/Music"
    found = stages.discover(roots, within)
    work = plan(catalog, found, roots, info.model_id)
    active = catalog.active_model()
    if work.tasks or active is None or active.model_id != info.model_id:
        (check or _check_here)(info, work.tasks)
    catalog.add_model(info)
    report = IndexReport(unchanged=work.unchanged, failed=found.unreachable + found.failures)
    for failure in found.failures:
        stages.store(catalog, failure)
    catalog.set_missing(work.returned, missing=False)
    catalog.set_missing(work.vanished, missing=True)
    report.missing = len(work.vanished)
    return Run(catalog, info, work, report, started)


def _count(report: IndexReport, result: stages.Result) -> None:
    if isinstance(result, stages.Analysis):
        report.indexed += 1
        report.audio_seconds += result.duration
    elif isinstance(result, stages.Unchanged):
        report.unchanged += 1
    else:
        report.failed.append(result)


def _progress_line(done: int, total: int, result: stages.Result) -> str:
    """``[12/44] indexed /music/cue.flac (3:05)`` or ``[13/44] failed /music/x.mp3: reason``."""
    if isinstance(result, stages.Analysis):
        minutes, seconds = divmod(int(round(result.duration)), 60)
        what = f"indexed {result.path} ({minutes}:{seconds:02d})"
    elif isinstance(result, stages.Unchanged):
        what = f"unchanged {result.path}"
    else:
        what = f"failed {result.path}: {result.reason}"
    return f"[{done}/{total}] {what}"


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="track", disable=not enabled or None, dynamic_ncols=True)


def _check_here(info, tasks) -> None:
    stages.check_model(info)


class _Workers:
    """Where the tasks run: this process (one job, or one task), or a pool of worker
    processes, started when the model is checked so that the check runs in a worker
    that has loaded it; this process then never loads torch."""

    def __init__(self, jobs: int, measure: bool):
        self.jobs, self.measure = jobs, measure
        self.info = None
        self.pool = None

    def check(self, info, tasks: list[stages.FileTask]) -> None:
        self.info = info
        self.jobs = max(1, min(self.jobs, len(tasks) or 1))
        if self.jobs == 1:
            stages.check_model(info)
            return
        args = (str(info.path), info.model_id, 1, self.measure)
        self.pool = spawn_pool(self.jobs, _init_worker, args)
        self.pool.apply(stages.check_model, (info,))  # raises its ModelFileError here

    def analyse(self, tasks: list[stages.FileTask]):
        """The tasks' results as they come (in any order)."""
        if not tasks:
            return
        if self.pool is not None:
            yield from self.pool.imap_unordered(_work, tasks, chunksize=1)
            return
        _init_worker(str(self.info.path), self.info.model_id, threads=0, measure=self.measure)
        yield from map(_work, tasks)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


_MODEL: tuple[str, str] | None = None  # this worker's (model path, model id)
_BROKEN: str | None = None  # why this worker could not load the model
_MEASURE = True  # whether this worker measures descriptors


def _init_worker(model_path: str, model_id: str, threads: int, measure: bool = True) -> None:
    """Load the model once per worker. A failure is kept, not raised: a pool replaces a
    worker whose initializer raises, for ever; the first task reports it instead."""
    global _MODEL, _BROKEN, _MEASURE
    _MODEL, _MEASURE = (model_path, model_id), measure
    try:
        if threads:
            limit_threads(threads)
        tagger = stages.tagger_for(model_path, model_id)
    except Exception as err:  # any failure stops the run with its reason
        _BROKEN = str(err) or type(err).__name__
        return
    if measure and threads:  # a pool's worker (threads=0: this process) gets a head start;
        # a file's own measuring reports whatever fails
        with contextlib.suppress(Exception):
            stages.warm_descriptors(tagger.features)


def _work(task: stages.FileTask) -> stages.Result:
    if _BROKEN is not None:  # raised in the coordinator, which stops the pool
        raise WorkerError(f"a worker could not load the model: {_BROKEN}")
    return stages.analyse(task, stages.tagger_for(*_MODEL), measure=_MEASURE)


class WorkerError(CuefinderError):
    """A worker process could not start its work; the run stops with this reason."""
