"""The Ray runner: the local runner's stages on a Ray cluster, through Ray Data.

Only the driver differs from the local runner. This process walks the folders and
plans the work exactly as ``local.prepare`` does (unchanged files are skipped), then
hands the files to Ray Data. The model is checked before it is trusted by each model
actor as it loads it (``stages.check_model``, as the local runner checks it in a worker:
the driver never loads torch), and the driver waits for the first result, which has
passed a checked actor, before it stores anything or makes the model active; a refused
model comes back as its one-line reason and the pipeline is stopped. So the model is
checked where it runs (on a cluster's GPU, if the actors have one) and loaded once per
actor. (The check was a Ray task of its own before, which loaded the model once more;
on 2 cores the two ways measured the same, 11.7-12.9 s against 12.1-12.7 s a run.)
A refusal waits for the first decoding task's files (the smallest: ``in_order``).

1. ``stages.decode`` in CPU tasks (hash, decode, log-mel, descriptors; one CPU each),
   several files to a task (``files_per_task``: the gap between one task and the next on
   a worker, 0.15-0.2 s measured on a loaded 2-core machine, is paid per task, not per
   file), the smallest files in the first task, then the largest first (``in_order``);
2. ``stages.tag`` in a pool of model actors, each loading the model once
   (``map_batches`` with a callable class and ``ActorPoolStrategy``; a GPU each
   when the cluster has them), so decoding and tagging overlap;
3. the results stream back to this process, which stores each in the catalog in its
   own transaction (a run killed part-way and run again finishes every track exactly
   once: the catalog is keyed by path, and the rerun's plan skips what was stored) and,
   with ``shards``, also writes them as Parquet shards (``pipeline.shards``) that
   ``cuefinder catalog import`` merges into any catalog.

Actors never take a CPU from the decoding tasks (Ray Data's reads starve otherwise): a
model actor reserves none (``TAG_CPUS``; with the built-in model, tagging costs about
an eighth of decoding, so one actor per ``CPUS_PER_ACTOR`` CPUs at most, from one up as
Ray Data sees them wait), and the decoding tasks reserve one CPU each, so on ``C`` CPUs
``C`` files decode at once beside the actors.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cuefinder.catalog import Catalog
from cuefinder.errors import ModelFileError
from cuefinder.pipeline import shards, stages
from cuefinder.pipeline.local import IndexReport, prepare

DECODE_CPUS = 1.0  # a decode task is one thread: one CPU each
TAG_CPUS = 0.0  # model actors reserve none (not the decoders' 1, or Ray fuses the stages)
CPUS_PER_ACTOR = 4  # the most model actors: one per this many CPUs (at least one)
TASKS_PER_SLOT = 4  # decode tasks per task slot, at least (a short tail)
MAX_FILES_PER_TASK = 8  # files per decode task, at most
SHARD_ROWS = 256  # tracks per Parquet shard
STOP_SECONDS = 30.0  # how long a stopped pipeline may take to reach its next result
STREAM_THREAD = "cuefinder-ray-results"  # the thread that pulls the pipeline's results
# a local Ray's settings: no dashboard, workers' logs not streamed to this terminal
INIT_OPTIONS = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)


def index(
    paths: Iterable[str | os.PathLike],
    catalog: Catalog | None = None,
    *,
    model: str | os.PathLike | None = None,
    address: str | None = None,
    actors: int | None = None,
    shard_dir: str | os.PathLike | None = None,
    progress: bool = True,
    on_result: Callable[[stages.Result], None] | None = None,
    descriptors: bool = True,
) -> IndexReport:
    """Index files and folders on Ray (``address``: "auto", "ray://HOST:PORT", or None
    for a local Ray on this machine's cores); see the module docstring."""
    session = _Session(address, actors, descriptors)
    try:
        run = prepare(paths, catalog or Catalog(), model, check=session.check)
        results = session.results() if run.plan.tasks else iter(())
        if shard_dir is not None:
            meta = shards.model_meta(run.catalog, run.info.model_id)
            results = _sharded(results, meta, Path(shard_dir))
        return run.finish(results, progress, on_result)
    finally:
        session.close()


class _Session:
    """This run's Ray: joined, or started on this machine's cores, when the model is
    checked (by the pipeline's model actors: the driver never loads torch), and stopped
    after the run if it was started here."""

    def __init__(self, address: str | None, actors: int | None = None, measure: bool = True):
        self.address = address
        self.actors, self.measure = actors, measure
        self.started_here = False
        self.stream: _Stream | None = None

    def start(self) -> None:
        import ray
        import ray.data  # its import sets its logger to print every step: set it back after

        if not ray.is_initialized():
            options = (
                {"address": self.address} if self.address else {"num_cpus": os.cpu_count() or 1}
            )
            ray.init(**options, **INIT_OPTIONS)
            self.started_here = True
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        # its warning that progress bars are off: the runner's own bar and summary show
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)

    def check(self, info, tasks) -> None:
        """Start the tasks' pipeline and wait for its first result: the model actors check
        the model as they load it (where nothing needs doing: here, without starting Ray).
        A refused model's ModelFileError is raised here, and the pipeline stopped."""
        if not tasks:
            stages.check_model(info)
            return
        self.start()
        self.stream = _Stream(_dataset(tasks, info, self.actors, self.measure))
        try:
            self.stream.first()
        except BaseException:
            self.stream.stop()
            raise

    def results(self) -> Iterator[stages.Result]:
        """The checked tasks' results, as they come."""
        if self.stream is None:
            raise RuntimeError("results before the model was checked")
        return iter(self.stream)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.stop()  # after a failed check or a failure here: the pipeline ends
        if self.started_here:
            import ray

            ray.shutdown()
            self.started_here = False


class _Stream:
    """A dataset's results, pulled by a thread of this process from the moment it is
    made, handed over in order; a model actor's refusal is raised as its
    ModelFileError, whenever it comes (first, unless actors start later)."""

    _END = object()

    def __init__(self, dataset):
        self.items: queue.Queue = queue.Queue()
        self.head: object | None = None  # the first item, once ``first`` has seen it
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self._pull, args=(dataset,), name=STREAM_THREAD, daemon=True
        )
        self.thread.start()

    def _pull(self, dataset) -> None:
        try:
            for batch in dataset.iter_batches(batch_size=1, batch_format="numpy"):
                if self.stopping.is_set():
                    break  # ends the iteration: Ray Data stops the pipeline
                for blob in batch["result"]:
                    self.items.put(pickle.loads(blob))
        except BaseException as err:  # the run's failure, raised where results are read
            self.items.put(err)
        finally:
            self.items.put(self._END)

    def first(self) -> None:
        """Wait for the first item; raise the failure or refusal it is."""
        self.head = self.items.get()
        self._raise(self.head)

    def __iter__(self) -> Iterator[stages.Result]:
        item, self.head = (self.head if self.head is not None else self.items.get()), None
        while item is not self._END:
            self._raise(item)
            yield item
            item = self.items.get()

    @staticmethod
    def _raise(item) -> None:
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, _Refused):
            raise ModelFileError(item.reason)

    def stop(self, wait: float = STOP_SECONDS) -> None:
        """End the pipeline at its next result (or its failure) and wait for that, up to
        ``wait`` seconds: a Ray stopped under a running pipeline prints tracebacks."""
        self.stopping.set()
        self.thread.join(wait)


@dataclass(frozen=True)
class _Refused:
    """A model actor's answer to every batch when its check refused the model."""

    reason: str


def _dataset(tasks, info, actors, measure):
    """The tasks as a Ray Data pipeline: decode tasks, then the model actors."""
    import ray

    cpus = ray.cluster_resources().get("CPU", 1)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    pool = _actor_pool(ray.data.ActorPoolStrategy, cpus, gpus, actors)
    slots = max(1, int(cpus // DECODE_CPUS))  # decode tasks at once
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the runner's own bar and summary
    per_task = files_per_task(len(tasks), slots)
    items = [{"task": pickle.dumps(t)} for t in in_order(tasks, per_task)]
    dataset = ray.data.from_items(items, override_num_blocks=min(len(items), 200))
    dataset = dataset.map_batches(
        _decode, fn_kwargs={"features": info.features.to_dict(), "measure": measure},
        batch_size=per_task, num_cpus=DECODE_CPUS,
    )  # fmt: skip
    return dataset.map_batches(
        _Tag,
        fn_constructor_args=(info,),
        batch_size=1,
        compute=pool,
        num_cpus=0 if gpus else TAG_CPUS,
        num_gpus=1 if gpus else 0,
    )


def _actor_pool(strategy, cpus: float, gpus: int, actors: int | None):
    """``actors`` model actors, or one per GPU; without GPUs, from one up to one per
    ``CPUS_PER_ACTOR`` CPUs as Ray Data sees them wait (the built-in model's tagging
    costs about an eighth of decoding; a heavier model's pool grows)."""
    if actors or gpus:
        return strategy(size=actors or gpus)
    most = max(1, int(cpus // CPUS_PER_ACTOR))
    return strategy(size=1) if most == 1 else strategy(min_size=1, max_size=most)


def in_order(tasks: list[stages.FileTask], per_task: int) -> list[stages.FileTask]:
    """The order files are decoded in: the smallest ``per_task`` first (the first result,
    which the driver waits for before it stores anything, comes soon, and the model
    actors start tagging early), then the rest largest first (the run ends on small
    ones)."""
    by_size = sorted(tasks, key=lambda t: -t.size)
    if len(by_size) <= 2 * per_task:
        return by_size
    return by_size[::-1][:per_task] + by_size[: len(by_size) - per_task]


def files_per_task(files: int, slots: int) -> int:
    """Files per decode task: about ``TASKS_PER_SLOT`` tasks for each task slot (a short
    tail), at most ``MAX_FILES_PER_TASK`` (each result waits for its task's last file)."""
    return max(1, min(MAX_FILES_PER_TASK, files // (TASKS_PER_SLOT * slots)))


def _decode(batch: dict, features: dict, measure: bool) -> dict:
    """Decode stage (CPU tasks): ``stages.decode`` of each file."""
    from cuefinder.features import FeatureConfig
    from cuefinder.processes import limit_threads

    limit_threads(1)  # a task of one CPU: no thread pools of its own
    config = FeatureConfig.from_dict(features)
    out = [pickle.dumps(stages.decode(pickle.loads(blob), config, measure=measure))
           for blob in batch["task"]]  # fmt: skip
    return {"item": np.array(out, dtype=object)}


class _Tag:
    """Tag stage: one loaded model per actor, checked as it loads (``stages.check_model``;
    a refused model makes every answer a ``_Refused``); decoded files are tagged, the
    rest pass."""

    def __init__(self, info):
        from cuefinder.processes import limit_threads

        limit_threads(1)
        try:
            stages.check_model(info)
        except ModelFileError as err:
            self.tagger, self.refused = None, _Refused(str(err))
        else:
            self.tagger, self.refused = stages.tagger_for(info.path, info.model_id), None

    def __call__(self, batch: dict) -> dict:
        out = []
        for blob in batch["item"]:
            found = self.refused or pickle.loads(blob)
            if isinstance(found, stages.Decoded):
                found = stages.tag(found, self.tagger)
            out.append(pickle.dumps(found))
        return {"result": np.array(out, dtype=object)}


def _sharded(results: Iterator[stages.Result], meta: dict, folder: Path):
    """Pass results through, writing every ``SHARD_ROWS`` analyses as a Parquet shard."""
    folder.mkdir(parents=True, exist_ok=True)
    run_id = os.urandom(4).hex()
    pending, count = [], 0
    for result in results:
        yield result
        if isinstance(result, stages.Analysis):
            pending.append(result)
        if len(pending) == SHARD_ROWS:
            shards.write_results(pending, meta, folder / f"tracks-{run_id}-{count:05d}.parquet")
            pending, count = [], count + 1
    if pending:
        shards.write_results(pending, meta, folder / f"tracks-{run_id}-{count:05d}.parquet")
