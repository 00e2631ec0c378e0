"""Index throughput: seconds of audio tagged per wall-clock second, beside the decode+log-mel floor.

    python bench/bench_index.py [FILES_OR_FOLDERS...] [--jobs N] [--model M.safetensors ...]
        [--without-descriptors] [--ray] [--repeat N] [--every N] [--cpu]

Default input: the demo game soundtracks (fetched by `make demo`). Both runs
use the same files and the same number of worker processes; the index run
includes discovery, hashing, the CNN and the catalog writes into a fresh
catalog. Several ``--model`` files are measured one after another on the same
files (default: the built-in model), each beside the floor of its own front end.
``--architecture musicnn-frozen`` (repeatable) adds a network of that recipe
with the built-in model's genres and an untrained genre head: what indexing
with such a model costs, whatever its head learnt (the head is a few hundred
of its weights). ``--ray`` adds the Ray runner twice: on a local Ray it starts and
stops (both timed, as ``cuefinder index --engine ray`` does), and on a Ray already
running (as on a cluster: ``ray.init`` and ``ray.shutdown`` not timed).
``--repeat N`` runs the index rows N times, interleaved, each line with the load
average (1 min) before it: a shared machine is noisy. ``--every N`` takes every Nth
file found, in path order (the sample ``bench_reference.py --every N`` takes).
``--cpu`` adds, under each index row, the CPU seconds every process on the machine
spent during it (read from /proc five times a second, so that workers that exit are
counted), by process: where a runner's time goes beyond the work itself.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from cuefinder import audio
from cuefinder.catalog import Catalog
from cuefinder.features import FeatureConfig, stream_log_mel
from cuefinder.model import checkpoint
from cuefinder.pipeline import stages
from cuefinder.pipeline.local import index

DEMO = (
    "funnyboat",
    "scorched3d-data",
    "xblast-tnt-musics",
    "abe-data",
    "pax-britannica-data",
    "drascula-music",
)


def floor_one(args: tuple[str, FeatureConfig]) -> float:
    """Decode and log-mel one file; return its seconds of audio."""
    from cuefinder.processes import limit_threads

    limit_threads(1)  # as the indexing workers
    path, config = args
    samples = 0

    def counted():
        nonlocal samples
        for chunk in audio.stream(path, sample_rate=config.sample_rate):
            samples += len(chunk)
            yield chunk

    try:
        for _ in stream_log_mel(counted(), config):
            pass
    except Exception:
        return 0.0
    return samples / config.sample_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--model", type=Path, action="append", help="repeatable")
    parser.add_argument("--architecture", action="append", default=[],
                        help="also an untrained network of this recipe (repeatable)")  # fmt: skip
    parser.add_argument("--ray", action="store_true",
                        help="also the Ray runner on a local Ray, side by side")  # fmt: skip
    parser.add_argument("--without-descriptors", action="store_true",
                        help="also index without tempo, key, loudness, side by side")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="index rows N times, interleaved")
    parser.add_argument(
        "--every", type=int, default=1, metavar="N", help="every Nth file found, in path order"
    )
    parser.add_argument(
        "--cpu", action="store_true", help="also each process's CPU seconds under each index row"
    )
    args = parser.parse_args()
    args.paths = args.paths or demo_paths()
    files, args.paths = sample(args.paths, args.every)
    print(f"{len(files)} files, {args.jobs} worker processes, {os.cpu_count()} cores")
    print(f"{'stage':<44}{'wall s':>9}{'x real time':>14}   load average before")
    floors: dict[FeatureConfig, float] = {}
    models = args.model or ([] if args.architecture else [checkpoint.default_model_path()])
    scratch = tempfile.TemporaryDirectory()
    models += [untrained(name, Path(scratch.name)) for name in args.architecture]
    for model in models:
        info = checkpoint.read_info(model)
        if info.features not in floors:
            load, started = os.getloadavg()[0], time.monotonic()
            with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
                work = [(f, info.features) for f in files]
                seconds = sum(pool.map(floor_one, work, chunksize=1))
            floors[info.features] = time.monotonic() - started
            label = f"decode + log-mel (floor, {info.features.n_fft}/{info.features.scale})"
            speed = seconds / floors[info.features]
            print(f"{label:<44}{floors[info.features]:>9.1f}{speed:>14.0f}   load {load:.1f}")
        for _ in range(args.repeat):
            index_rows(args, model, info)


def index_rows(args, model: Path, info) -> None:
    """One round of the index rows: local (with and without descriptors), Ray (twice)."""
    for measure in (True, False) if args.without_descriptors else (True,):
        load = os.getloadavg()[0]
        with CpuMeter(args.cpu) as cpu:
            report = local_run(args.paths, model, args.jobs, descriptors=measure)
        what = "" if measure else ", no descriptors"
        label = f"full index ({model.name}, {info.config.architecture}{what})"
        row(label, report, report.wall_seconds, load, cpu=cpu)
    if args.ray:
        load = os.getloadavg()[0]
        cpu = CpuMeter(args.cpu)
        report, wall = ray_run(args.paths, model, cpu=cpu)
        label = f"full index, Ray runner (local Ray, {os.cpu_count()} CPUs)"
        row(label, report, wall, load, "Ray's start and stop included", cpu=cpu)
        load = os.getloadavg()[0]
        cpu = CpuMeter(args.cpu)
        report, wall = ray_run(args.paths, model, running=True, cpu=cpu)
        note = "Ray started before and settled, stopped after: not timed"
        row("full index, Ray runner (Ray already running)", report, wall, load, note, cpu=cpu)


def row(label: str, report, wall: float, load: float, note: str = "", cpu=None) -> None:
    print(f"{label:<44}{wall:>9.1f}{report.audio_seconds / wall:>14.0f}   load {load:.1f}")
    note = f" ({note})" if note else ""
    minutes, failed = report.audio_seconds / 60, len(report.failed)
    print(f"  audio: {minutes:.1f} min, {report.indexed} indexed, {failed} failed{note}")
    if cpu is not None and cpu.enabled:
        print(f"  {cpu.summary()}")
    sys.stdout.flush()


class CpuMeter:
    """CPU seconds each process spent while the block ran, from /proc (Linux), sampled
    every ``every`` seconds so that processes that exit during it are counted up to their
    last sample; a process is named by its title (a Ray worker's names its task)."""

    def __init__(self, enabled: bool = True, every: float = 0.2):
        self.enabled, self.every = enabled, every
        self.seen: dict[int, float] = {}
        self.names: dict[int, Counter] = {}

    def __enter__(self):
        if self.enabled:
            self.start = self._read()
            self.stopping = threading.Event()
            self.thread = threading.Thread(target=self._watch, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.stopping.set()
            self.thread.join()
            self._sample()

    def _watch(self) -> None:
        while not self.stopping.wait(self.every):
            self._sample()

    def _sample(self) -> None:
        for pid, (name, seconds) in self._read().items():
            self.seen[pid] = seconds
            self.names.setdefault(pid, Counter())[name] += 1

    @staticmethod
    def _read() -> dict[int, tuple[str, float]]:
        tick = os.sysconf("SC_CLK_TCK")
        out = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # exited meanwhile
                continue
            out[int(entry.name)] = (command.strip(), (int(fields[11]) + int(fields[12])) / tick)
        return out

    def summary(self, most: int = 6) -> str:
        """``CPU s: T in all; NAME S, ...`` for the processes that used the most."""
        spent = []
        for pid, seconds in self.seen.items():
            used = seconds - self.start.get(pid, ("", 0.0))[1]
            if used >= 0.05:
                spent.append((used, self._name(pid)))
        spent.sort(reverse=True)
        total = sum(used for used, _ in spent)
        parts = ", ".join(f"{name} {used:.1f}" for used, name in spent[:most])
        return f"CPU s: {total:.1f} in all; {parts}"

    def _name(self, pid: int) -> str:
        if pid == os.getpid():
            return "this process"
        titles = [t for t, _ in self.names[pid].most_common() if t != "ray::IDLE"]
        title = titles[0] if titles else next(iter(self.names[pid]), "")
        if "multiprocessing.spawn" in title:
            return "worker process"
        if title.startswith("ray::"):
            return title
        return os.path.basename(title.split(" ")[0]) or f"pid {pid}"


def sample(paths: list[Path], every: int = 1) -> tuple[list[str], list[Path]]:
    """The files found under ``paths``, and what to index: ``paths`` themselves, or with
    ``every`` > 1 every Nth file in path order (the same sample in every bench script)."""
    files = [t.path for t in stages.discover(paths).files]
    if every <= 1:
        return files, paths
    files = sorted(files)[::every]
    return files, [Path(f) for f in files]


def demo_paths() -> list[Path]:
    """The demo game soundtracks' folders (fetched into the games cache if missing)."""
    from cuefinder.datasets import games

    music = games.fetch_games(DEMO)
    return [music / p for p in DEMO]


def local_run(paths, model: Path | None, jobs: int | None, *, descriptors: bool = True):
    """The local runner over ``paths`` into a fresh catalog; its IndexReport."""
    with tempfile.TemporaryDirectory() as tmp, Catalog(Path(tmp) / "b.db") as catalog:
        return index(paths, catalog, model=model, jobs=jobs, progress=False,
                     descriptors=descriptors)  # fmt: skip


def ray_run(paths, model: Path | None, *, running: bool = False, cpu: CpuMeter | None = None):
    """The Ray runner (a local Ray) over ``paths`` into a fresh catalog: (IndexReport,
    wall seconds with Ray's start and stop included; with ``running``, Ray is started
    before, left to settle (its own start done, as on a cluster that is up) and stopped
    after, untimed, as a cluster's Ray outlives an index run). ``cpu`` is measured over
    the timed part."""
    import ray

    from cuefinder.pipeline import ray_runner

    if running:
        ray.init(num_cpus=os.cpu_count(), **ray_runner.INIT_OPTIONS)
        settle()
    try:
        with (
            cpu or CpuMeter(enabled=False),
            tempfile.TemporaryDirectory() as tmp,
            Catalog(Path(tmp) / "r.db") as catalog,
        ):
            started = time.monotonic()
            report = ray_runner.index(paths, catalog, model=model, progress=False)
            return report, time.monotonic() - started
    finally:
        if running:
            ray.shutdown()


def settle(quiet: float = 0.2, most: float = 15.0) -> None:
    """Wait until the machine's CPUs are busy less than ``quiet`` of a quarter second (a
    Ray just started prestarts workers, which import for seconds), at most ``most`` s."""

    def busy_and_all() -> tuple[int, int]:
        with open("/proc/stat") as handle:
            ticks = [int(x) for x in handle.readline().split()[1:]]
        return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle and iowait aside

    deadline = time.monotonic() + most
    busy, total = busy_and_all()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        busy_now, total_now = busy_and_all()
        if busy_now - busy < quiet * max(1, total_now - total):
            return
        busy, total = busy_now, total_now


def untrained(architecture: str, folder: Path) -> Path:
    """A model file of ``architecture`` with the built-in genres; pretrained parts stay so."""
    from cuefinder.model import build, features_for
    from cuefinder.train.trainer import TrainConfig, model_config

    genres = checkpoint.read_info(checkpoint.default_model_path()).genres
    config = model_config(tuple(genres), architecture, TrainConfig())
    path = folder / f"untrained-{architecture}.safetensors"
    checkpoint.save(path, build(config, pretrained=True), features_for(config))
    return path


if __name__ == "__main__":
    main()
