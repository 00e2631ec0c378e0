"""The reliability suite (issue 15, point 5): the fault campaign, kept running.

    python bench/reliability.py --long -o docs/reliability.md   # the long run (minutes)
    python bench/reliability.py                                   # the short run
    python bench/reliability.py --only kills probes --kills 60    # some sections, more kills

``tests/test_reliability.py`` runs the short scale of every section in the test suite (the
api section's is ``tests/test_api_fuzz.py``); this script runs the long one and writes the
report the README links. Everything is
real: the ``cuefinder`` command in its own process group, killed with SIGKILL; the
built-in model, the decoder, the SQLite catalog and its vector index; the HTTP app with
real requests; game soundtracks for audio (``cuefinder.train.games``, cached outside the
repository). Sections:

kills       ``cuefinder index`` killed at random moments and at chosen points, over a
            library that changes between runs (files re-recorded, renamed, deleted,
            added); then rerun: every file exactly once, content and vector current,
            ``catalog check`` clean, no temporary file left behind.
concurrent  two indexers at once on overlapping folders (and one of them killed).
disk        a small filesystem (a tmpfs) filled while indexing, full at the moment of the
            vector index's save, and mounted read-only: one line, nothing lost, and
            searching still works.
damage      derived files and the catalog damaged every way the campaign did (garbled,
            truncated, emptied, an older index put back, a clock stepped back, the
            catalog garbled): detected, one line, recovered.
grammar     Hypothesis over the query grammar and the Python API (``parse_query``,
            ``search``, ``similar``): no exception but ``CuefinderError``'s.
api         schemathesis over the OpenAPI schema: no 5xx, no traceback, no invalid JSON.
probes      path traversal, encoded slashes and symbolic links against a running server
            (audio, track, static and page routes; web indexing through links out of
            the index root; a hard link or a link swapped in for a catalogued file).
bomb        small files that decode to hours of audio: as uploads (bound 30 min), as a
            reference on the command line, and (``--long``) in an index run (bound 6 h).

A kill point is a line in a launcher around the real command (``LAUNCHER``): after the
Nth track's commit, after the vector index is written to its temporary file (before the
rename), right after the rename (before the catalog records it). There the process
sends SIGKILL to its own process group, workers included; nothing in cuefinder changes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SOURCES = {  # package: files, the shortest real tracks of the test set's games
    "chromium-bsu-data": ("music_game.wav", "music_menu.wav"),
    "xblast-tnt-musics": ("xbsng2.wav", "xbsng3.wav", "xbsng4.wav", "xbsng6.wav"),
    "scorched3d-data": ("mix3_loop3.ogg",),
    "abe-data": ("game.ogg",),
}
CUT_SECONDS = 12.0  # the longer sources are cut to this (real audio, shorter to index)
ERROR_PREFIX = "cuefinder: error: "
# what no response may hold: /etc/passwd, a catalog, the marked outside file, Python source
LEAKS = (b"root:x:0:0", b"SQLite format 3", b"SECRET-OUTSIDE", b"from __future__", b"Traceback")


@dataclass(frozen=True)
class Scale:
    """How much of each section a run does."""

    name: str
    kills: int  # kill-loop rounds (each a run killed at a point or at random)
    verify_every: int  # a clean rerun and a full check after this many kills
    library: int  # files in the kill loop's library
    concurrent: int  # rounds of two indexers at once
    grammar: int  # Hypothesis examples per target (parse_query, search, similar)
    api: int  # schemathesis examples per operation
    probe_depths: tuple[int, ...]  # how many "../" in a traversal probe
    index_bomb: bool  # the 6 h bomb in an index run (about two minutes of CPU)
    damage: tuple[int, ...] | None  # which damage cases (None: all)
    clock: tuple[float, ...]  # clock shifts, in turn, of the moved-clock case
    readers: tuple[str, ...]  # commands run against damaged catalogs and full disks
    full: bool  # the slower extra cases (the bomb as a reference on the command line)


SHORT = Scale("short", kills=4, verify_every=4, library=6, concurrent=1, grammar=150, api=0,
              probe_depths=(3,), index_bomb=False, damage=(0, 7, 9), clock=(),
              readers=("search", "show"), full=False)  # fmt: skip
LONG = Scale("long", kills=30, verify_every=5, library=12, concurrent=6, grammar=2000, api=50,
             probe_depths=(1, 2, 3, 5, 8), index_bomb=True, damage=None,
             clock=(3600.0, -3600.0, 0.0), readers=("search", "show", "similar", "export",
                                                     "catalog"), full=True)  # fmt: skip
# the reading commands' arguments (show and similar are given a catalogued file)
READERS = {
    "search": ["search", "action"],
    "export": ["export", "--format", "json"],
    "catalog": ["catalog", "check"],
}


@dataclass
class Section:
    """One section's figures, its problems (each a line), and what it could not do."""

    name: str
    figures: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = None

    def add(self, key: str, n: float = 1) -> None:
        self.figures[key] = self.figures.get(key, 0) + n

    def problem(self, text: str) -> None:
        self.problems.append(text)


# -- real audio -------------------------------------------------------------------


def sources(music_root: Path | None = None, folder: Path | None = None) -> list[Path]:
    """Eight real tracks of distinct content, each at most ``CUT_SECONDS`` long (cut from
    the game soundtracks of the test set, fetched once into the user cache)."""
    import soundfile

    if music_root is None:
        from cuefinder.train import games

        music_root = games.fetch_games(tuple(SOURCES))
    folder = folder or Path(tempfile.mkdtemp(prefix="cuefinder-reliability-src-"))
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for package, names in SOURCES.items():
        for name in names:
            original = music_root / package / name
            made = folder / f"{Path(name).stem}.wav"
            if not made.exists():
                data, rate = soundfile.read(str(original), frames=int(44100 * CUT_SECONDS),
                                            dtype="int16")  # fmt: skip
                soundfile.write(str(made), data[: int(rate * CUT_SECONDS)], rate)
            out.append(made)
    return out


def audio_files(roots: Iterable[Path]) -> set[str]:
    """The catalog names of the audio files under ``roots`` (links not followed)."""
    from cuefinder.audio import AUDIO_EXTENSIONS
    from cuefinder.pipeline.stages import display_path

    found = set()
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                path = os.path.join(folder, name)
                if os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS and os.path.isfile(path):
                    found.add(display_path(os.path.abspath(path)))
    return found


# -- the command, killed ----------------------------------------------------------------

LAUNCHER = r"""
import json, os, signal, sys
plan = json.loads(sys.argv[1])
def crash():
    os.killpg(os.getpgid(0), signal.SIGKILL)
if plan.get("shift"):  # the clock stepped back (or on) by this many seconds
    import time
    real_time = time.time
    time.time = lambda: real_time() - plan["shift"]
point = plan.get("point")
if point == "commit":  # after the Nth track's transaction has committed
    from cuefinder.catalog import db
    put, seen = db.Catalog.put_analysis, [0]
    def counted(self, *a, **k):
        put(self, *a, **k)
        seen[0] += 1
        if seen[0] >= plan["after"]:
            crash()
    db.Catalog.put_analysis = counted
elif point in ("ann-save", "disk-full-at-ann-save"):
    from usearch.index import Index
    save = Index.save
    def saving(self, path=None, *a, **k):
        if point == "disk-full-at-ann-save":  # every byte left on the disk taken first
            with open(plan["filler"], "ab", buffering=0) as f:
                for size in (1 << 16, 1 << 12, 1 << 9, 1):
                    try:
                        while True:
                            f.write(bytes(size))
                    except OSError:
                        pass
            return save(self, path, *a, **k)
        save(self, path, *a, **k)  # written to its temporary file, not yet renamed
        crash()
    Index.save = saving
elif point in ("swap", "pause-after-swap"):  # the new index renamed into place
    replace = os.replace
    def replacing(src, dst, *a, **k):
        replace(src, dst, *a, **k)
        if os.fspath(dst).endswith(".usearch"):
            if point == "swap":
                crash()
            import time
            time.sleep(plan["seconds"])  # another run gets this long to do its own save
    os.replace = replacing
from cuefinder.cli import main
sys.exit(main(sys.argv[2:]))
"""


@dataclass
class Done:
    """A finished (or killed) command: exit status, output, whether SIGKILL ended it."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    killed: bool
    seconds: float
    peak_mb: float = 0.0
    timed_out: bool = False


def command(*args, catalog: Path | None = None, plan: dict | None = None,
            kill_after: float | None = None, timeout: float = 600) -> Done:  # fmt: skip
    """Run ``cuefinder ARGS`` (through the launcher with ``plan``) in its own process
    group; with ``kill_after`` seconds, SIGKILL the group then if it is still running."""
    words = [*(["--catalog", str(catalog)] if catalog else []), *map(os.fsdecode, args)]
    argv = [sys.executable, "-c", LAUNCHER, json.dumps(plan or {}), *words]
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err, start_new_session=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        killed_here = timed_out = False
        deadline = started + (kill_after if kill_after is not None else timeout)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() >= deadline:
                _kill_group(process.pid)
                killed_here, timed_out = kill_after is not None, kill_after is None
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        process.returncode = os.waitstatus_to_exitcode(status)
        _kill_group(process.pid)  # workers left by a process that killed only itself
        out.seek(0)
        err.seek(0)
        text = (out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))
    killed = killed_here or (process.returncode == -signal.SIGKILL and not timed_out)
    return Done(words, process.returncode, *text, killed, time.monotonic() - started,
                usage.ru_maxrss / 1024, timed_out)  # fmt: skip


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def judge_output(section: Section, done: Done, what: str, *, may_fail: bool = True,
                 reports: bool = False) -> None:  # fmt: skip
    """A user's view of a command: never a traceback; a failure is one error line (with
    ``reports``, exit 1 with findings on stdout and nothing on stderr is an answer too)."""
    section.add("commands run")
    if done.timed_out:
        section.problem(f"{what}: still running after {done.seconds:.0f} s (killed)")
        return
    if "Traceback" in done.stdout or "Traceback" in done.stderr:
        section.add("tracebacks")
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        section.problem(f"{what}: a traceback ({' '.join(tail)[:200]})")
        return
    if done.killed or done.returncode == 0:
        return
    errors = [line for line in done.stderr.splitlines() if line.startswith(ERROR_PREFIX)]
    if reports and done.returncode == 1 and not done.stderr.strip() and done.stdout.strip():
        return
    if not may_fail:
        section.problem(f"{what}: exit {done.returncode}: {done.stderr.strip()[:300]}")
    elif done.returncode not in (1, 2) or len(errors) != 1:
        section.problem(f"{what}: exit {done.returncode} with {len(errors)} error lines: "
                        f"{done.stderr.strip()[:300]}")  # fmt: skip


# -- what must hold ---------------------------------------------------------------------


@contextlib.contextmanager
def connected(db: Path, *, readonly: bool = False):
    """A plain SQLite connection to ``db``, committed and closed at the end (an open one
    would keep the file busy: a read-only remount fails)."""
    raw = sqlite3.connect(f"file:{db}?mode=ro" if readonly else db, uri=readonly)
    try:
        with raw:
            yield raw
    finally:
        raw.close()


def quick_state(db: Path) -> list[str]:
    """What must hold even right after a kill: an intact database, no damaged or repeated
    row."""
    from cuefinder.catalog import Catalog, health

    if not db.exists():
        return []
    with connected(db, readonly=True) as raw:
        integrity = [r[0] for r in raw.execute("PRAGMA quick_check")]
        repeated = raw.execute("SELECT count(*) - count(DISTINCT path) FROM tracks").fetchone()[0]
    problems = [f"integrity: {line}" for line in integrity if line != "ok"]
    if repeated:
        problems.append(f"{repeated} paths stored twice")
    if not problems:
        with Catalog(db, create=False) as catalog:
            problems += [
                f"damaged row {i} ({p}): {why}" for i, p, why in health.damaged_rows(catalog)
            ]
    return problems


@dataclass
class Verdict:
    """A catalog against its folders: every count must be 0 and ``check`` clean."""

    files: int = 0
    lost: int = 0  # files in the folders with no track
    duplicated: int = 0  # a path stored twice, or a vector held twice
    ghosts: int = 0  # tracks listed as present whose file is gone (renamed, deleted)
    stale_rows: int = 0  # a track whose stored content is not the file's
    stale_vectors: int = 0  # a vector missing, extra, or not the track's embedding
    temp_files: int = 0  # temporary files left beside the catalog
    check: str = "clean"  # `cuefinder catalog check`'s answer when not clean

    def problems(self) -> list[str]:
        bad = [f"{k.replace('_', ' ')}: {v}" for k, v in vars(self).items()
               if k not in ("files", "check") and v]  # fmt: skip
        return bad + ([f"catalog check: {self.check}"] if self.check != "clean" else [])


def verify(db: Path, roots: Iterable[Path]) -> Verdict:
    """Compare the catalog with the audio files under ``roots`` (which must be all it was
    given), its vector index with its rows, and run ``cuefinder catalog check``."""
    from cuefinder.catalog.vectors import file_digest, new_index
    from cuefinder.pipeline.stages import content_hash

    expected = audio_files(roots)
    verdict = Verdict(files=len(expected))
    with connected(db, readonly=True) as raw:
        rows = raw.execute("SELECT id, path, path_bytes, content_hash, model_id, embedding"
                           " FROM tracks WHERE missing = 0").fetchall()  # fmt: skip
        active = raw.execute("SELECT value FROM meta WHERE key = 'active_model'").fetchone()
        state = raw.execute("SELECT value FROM meta WHERE key = ?",
                            (f"vectors:{active[0]}" if active else "",)).fetchone()  # fmt: skip
        dim = raw.execute("SELECT embedding_dim FROM models WHERE id = ?",
                          (active[0] if active else "",)).fetchone()  # fmt: skip
    paths = [r[1] for r in rows]
    verdict.lost = len(expected - set(paths))
    verdict.duplicated = len(paths) - len(set(paths))
    for _, path, raw_path, digest, _, _ in rows:
        name = os.fsdecode(raw_path) if raw_path is not None else path
        if path not in expected:
            verdict.ghosts += 1
        elif content_hash(name) != digest:
            verdict.stale_rows += 1
    verdict.temp_files = len(list(db.parent.glob(f".{db.name}.*.tmp")))
    if active:
        ours = {r[0]: np.frombuffer(r[5], np.float32) for r in rows if r[4] == active[0]}
        index_file = db.with_name(f"{db.name}.{active[0]}.usearch")
        if not index_file.exists() or state is None:
            verdict.stale_vectors = len(ours)
        else:
            recorded = json.loads(state[0]).get("digest")
            index = new_index(dim[0])
            index.load(str(index_file))
            keys = np.asarray(index.keys, np.int64).tolist() if len(index) else []
            verdict.duplicated += len(keys) - len(set(keys))
            verdict.stale_vectors += len(set(keys) ^ set(ours))
            if recorded is not None and file_digest(index_file) != recorded:
                verdict.stale_vectors += 1
            for key in set(keys) & set(ours):
                held = np.asarray(index.get(key, dtype=np.float32)).reshape(-1)
                cosine = held @ ours[key] / max(np.linalg.norm(held) * np.linalg.norm(ours[key]),
                                                1e-12)  # fmt: skip
                verdict.stale_vectors += int(not cosine > 0.99)
    done = command("catalog", "check", catalog=db, timeout=120)
    if done.returncode != 0 or "no problem found" not in done.stdout:
        verdict.check = (done.stdout + done.stderr).strip().replace("\n", " | ")[:300]
    return verdict


def record_verdict(section: Section, verdict: Verdict, what: str) -> bool:
    """Add a verdict's counts to the section's figures; True when it is clean."""
    section.add("full checks")
    section.add("tracks lost", verdict.lost)
    section.add("tracks duplicated", verdict.duplicated)
    for key in ("ghosts", "stale_rows", "stale_vectors", "temp_files"):
        if getattr(verdict, key):
            section.add(key.replace("_", " "), getattr(verdict, key))
    for line in verdict.problems():
        section.problem(f"{what}: {line}")
    return not verdict.problems()


# -- a library that changes between runs -------------------------------------------------


class Library:
    """A folder of real tracks (renamed copies of ``pool``) that a random walk changes:
    files re-recorded (another track's bytes under the name), renamed, deleted, added."""

    def __init__(self, folder: Path, pool: list[Path], size: int, rng: random.Random):
        self.folder, self.pool, self.size, self.rng = folder, pool, size, rng
        self.made = 0
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(size):
            self.add()

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*") if p.is_file())

    def add(self) -> None:
        self.made += 1
        source = self.rng.choice(self.pool)
        shutil.copy(source, self.folder / f"{self.made:03d}-{source.name}")

    def change(self, n: int = 2) -> list[str]:
        """Make ``n`` changes; returns what was done."""
        done = []
        for _ in range(n):
            files = self.files()
            kind = self.rng.choice(("rerecord", "rename", "delete", "add"))
            if kind == "delete" and len(files) <= self.size // 2:
                kind = "add"
            if kind == "add" and len(files) >= self.size * 3 // 2:
                kind = "rerecord"
            victim = self.rng.choice(files)
            if kind == "rerecord":
                other = self.rng.choice(
                    [p for p in self.pool if p.read_bytes() != victim.read_bytes()]
                )
                shutil.copy(other, victim)
            elif kind == "rename":
                self.made += 1
                victim.rename(victim.with_name(f"{self.made:03d}-{victim.name.split('-', 1)[1]}"))
            elif kind == "delete":
                victim.unlink()
            else:
                self.add()
            done.append(kind)
        return done


# -- sections ------------------------------------------------------------------------------


def kill_loop(work: Path, pool: list[Path], scale: Scale, rng: random.Random,
              section: Section) -> None:  # fmt: skip
    """Kill ``cuefinder index`` at chosen points (after a commit, during the vector index's
    save, right after its rename) and at random moments, with the clock sometimes an hour
    off, while the library changes between runs; after every few kills a clean rerun must
    leave every file exactly once, every vector current and ``catalog check`` clean."""
    library = Library(work / "library", pool, scale.library, rng)
    db = work / "kills.db"
    points = ["commit", "ann-save", "swap", "random", "commit", "random"]
    clean = command("index", "-q", "-j", "1", library.folder, catalog=db)
    judge_output(section, clean, "the first index run", may_fail=False)
    typical = clean.seconds  # how long a run takes, for random kills: the shortest seen
    since_check = 0
    for round_ in range(scale.kills):
        section.add("library changes", len(library.change(rng.randint(1, 3))))
        library.add()  # at least one track to decode, tag and commit
        point = points[round_ % len(points)]
        jobs = rng.choice(("1", "2"))
        plan, kill_after = {"shift": rng.choice((0, 0, 0, 3600, -3600))}, None
        if point == "random":
            kill_after = rng.uniform(0.2, typical * 0.95)
        elif point == "commit":
            plan |= {"point": "commit", "after": rng.randint(1, 2)}
        else:
            plan |= {"point": point}
        if plan["shift"]:
            section.add("runs with the clock an hour off")
        done = command("index", "-q", "-j", jobs, library.folder, catalog=db, plan=plan,
                       kill_after=kill_after)  # fmt: skip
        judge_output(section, done, f"index killed at {point}")
        if done.killed:
            section.add("kills")
            section.add(f"kills at {point}")
            since_check += 1
            if point in ("ann-save", "swap"):  # the end of a run: how long one takes
                typical = min(typical, done.seconds)
        else:
            section.add("runs that ended before their kill")
            typical = min(typical, done.seconds)
        for line in quick_state(db):
            section.problem(f"right after a kill at {point}: {line}")
        if since_check >= scale.verify_every or round_ == scale.kills - 1:
            rerun = command("index", "-q", "-j", "1", library.folder, catalog=db)
            judge_output(section, rerun, "the rerun after kills", may_fail=False)
            typical = min(typical, rerun.seconds)
            if record_verdict(section, verify(db, [library.folder]), f"after round {round_ + 1}"):
                section.add("kills survived", since_check)
            since_check = 0


def concurrent(work: Path, pool: list[Path], scale: Scale, rng: random.Random,
               section: Section) -> None:  # fmt: skip
    """Two indexers at once on overlapping folders (A+shared, shared+B); in every other
    round one of them is killed at random and the run repeated."""
    top = work / "together"
    parts = {name: Library(top / name, pool, max(2, scale.library // 3), rng)
             for name in ("a", "shared", "b")}  # fmt: skip
    db = work / "together.db"
    typical = None  # how long the second indexer takes when left alone
    for round_ in range(scale.concurrent):
        for part in parts.values():
            part.change(1)
        parts["shared"].add()  # work for both at once
        first = ["index", "-q", "-j", "1", parts["a"].folder, parts["shared"].folder]
        second = ["index", "-q", "-j", "1", parts["shared"].folder, parts["b"].folder]
        kill = round_ % 2 == 1 and typical is not None
        with ThreadPoolExecutor(2) as both:
            started = {
                "first": both.submit(command, *first, catalog=db),
                "second": both.submit(command, *second, catalog=db, kill_after=rng.uniform(
                    0.3, 0.9) * typical if kill else None),
            }  # fmt: skip
        results = {name: future.result() for name, future in started.items()}
        if not kill:
            typical = min(typical or 1e9, results["second"].seconds)
        section.add("rounds")
        for name, done in results.items():
            judge_output(section, done, f"round {round_ + 1}, {name} indexer", may_fail=False)
            if done.killed:
                section.add("kills")
        if results["second"].killed:  # what the killed one did not finish, done again
            rerun = command(*second, catalog=db)
            judge_output(section, rerun, f"round {round_ + 1}, rerun", may_fail=False)
        roots = [p.folder for p in parts.values()]
        if record_verdict(section, verify(db, roots), f"round {round_ + 1}") and kill:
            section.add("kills survived", int(results["second"].killed))


def _mount(folder: Path, options: str) -> str | None:
    """Mount a tmpfs at ``folder``; None, or why it could not be mounted."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as err:
        return str(err)
    return None if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


def _fill(path: Path) -> int:
    """Take every byte left on ``path``'s filesystem; returns how many were taken."""
    taken = 0
    with open(path, "ab", buffering=0) as out:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            try:
                while True:
                    taken += out.write(bytes(size))
            except OSError:
                pass
    return taken


def small_disk(work: Path, pool: list[Path], scale: Scale, rng: random.Random,
               section: Section) -> None:  # fmt: skip
    """The catalog on a 2 MB tmpfs: filled while indexing, full at the vector index's save,
    read-only; each time one line, the catalog intact and still searchable, and the run
    complete once there is room again."""
    disk = work / "disk"
    why = _mount(disk, "size=2m")
    if why:
        raise Skip(f"a 2 MB tmpfs could not be mounted ({why}); the section needs root")
    try:
        _small_disk(disk, work, pool, scale, rng, section)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def readers(scale: Scale, library: Library) -> list[list]:
    """The reading commands a scale runs: search, show, similar, export, catalog check."""
    victim = library.files()[0]
    return [READERS.get(name, [name, victim]) for name in scale.readers]


def _readers_work(section: Section, db: Path, library: Library, what: str, scale: Scale) -> None:
    """Searching, showing, exporting and checking a catalog on a full or read-only disk."""
    for args in readers(scale, library):
        done = command(*args, catalog=db, timeout=120)
        judge_output(section, done, f"{args[0]} {what}", may_fail=False)
        section.add("reads on a full or read-only disk")


def _small_disk(disk, work, pool, scale, rng, section) -> None:
    db = disk / "catalog.db"
    library = Library(work / "library", pool, scale.library, rng)
    # 1. full while indexing: room for the database's first pages, not for every track
    first = command("index", "-q", "-j", "1", library.files()[0], catalog=db)
    judge_output(section, first, "a first track on the small disk", may_fail=False)
    filler = disk / "filler"
    _fill(filler)
    with open(filler, "r+b") as f:  # give back a little: the next commits fill it again
        f.truncate(max(filler.stat().st_size - 96 * 1024, 0))
    section.add("cases")
    done = command("index", "-q", "-j", "1", library.folder, catalog=db)
    judge_output(section, done, "index on a disk that fills")
    if done.returncode == 0:
        section.notes.append("the disk did not fill during the index run (it had room)")
    elif "disk is full" not in done.stderr and "No space" not in done.stderr:
        section.problem(f"index on a full disk: {done.stderr.strip()[:200]}")
    for line in quick_state(db):
        section.problem(f"after the disk filled: {line}")
    _fill(filler)
    _readers_work(section, db, library, "on a full disk", scale)
    filler.unlink()
    rerun = command("index", "-q", "-j", "1", library.folder, catalog=db)
    judge_output(section, rerun, "index once there is room", may_fail=False)
    record_verdict(section, verify(db, [library.folder]), "after a full disk")

    # 2. full at the moment the vector index is saved
    library.change(2)
    before = {p.name: p.read_bytes() for p in disk.glob("*.usearch")}
    section.add("cases")
    done = command("index", "-q", "-j", "1", library.folder, catalog=db,
                   plan={"point": "disk-full-at-ann-save", "filler": str(filler)})  # fmt: skip
    judge_output(section, done, "index with the disk full at the vector index's save")
    if done.returncode != 1 or "cannot save the vector index" not in done.stderr:
        section.problem(
            f"disk full at the save: exit {done.returncode}, {done.stderr.strip()[:200]}"
        )
    after = {p.name: p.read_bytes() for p in disk.glob("*.usearch")}
    if after != before:
        section.problem("disk full at the save: the previous vector index was not kept as it was")
    if list(disk.glob(".*.tmp")):
        section.problem("disk full at the save: a temporary file was left")
    _readers_work(section, db, library, "after a failed save", scale)
    filler.unlink()
    rerun = command("index", "-q", "-j", "1", library.folder, catalog=db)
    judge_output(section, rerun, "index after the failed save", may_fail=False)
    record_verdict(section, verify(db, [library.folder]), "after the failed save")

    # 3. read-only: the catalog still answers; writing is one line
    subprocess.run(["sync"], capture_output=True)
    remount = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True,
                             text=True)  # fmt: skip
    if remount.returncode != 0:
        section.notes.append(f"read-only case not run: remount failed ({remount.stderr.strip()})")
        return
    try:
        section.add("cases")
        _readers_work(section, db, library, "on a read-only disk", scale)
        library.change(1)
        done = command("index", "-q", "-j", "1", library.folder, catalog=db)
        judge_output(section, done, "index on a read-only disk")
        if done.returncode == 0:
            section.problem("index on a read-only disk exited 0")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], capture_output=True)
    rerun = command("index", "-q", "-j", "1", library.folder, catalog=db)
    judge_output(section, rerun, "index once writable again", may_fail=False)
    record_verdict(section, verify(db, [library.folder]), "after the read-only mount")


# -- damaged files ---------------------------------------------------------------------------


def _garble(path: Path, start: float, length: float, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    first, size = int(len(data) * start), max(int(len(data) * length), 1)
    data[first : first + size] = rng.randbytes(len(data[first : first + size]))
    path.write_bytes(bytes(data))


# what `catalog check` says of a damaged database file (either names it and the damage)
CATALOG_DAMAGED = "the database itself is damaged|not a usable catalog"


def _vector_file(db: Path) -> Path:
    return next(db.parent.glob(f"{db.name}.*.usearch"))


def damaged(work: Path, pool: list[Path], scale: Scale, rng: random.Random,
            section: Section) -> None:  # fmt: skip
    """Damage the catalog's derived files and the catalog itself each way the campaign did;
    every command answers in one line (or works), ``catalog check`` names the damage, and
    the catalog is whole again after the way back the message names."""
    library = Library(work / "library", pool, scale.library, rng)
    base = work / "base"
    base.mkdir()
    db = base / "catalog.db"
    held_back = library.files()[-2:]
    for f in held_back:
        f.rename(f.with_suffix(f.suffix + ".later"))  # indexed after the older index is kept
    judge_output(section, command("index", "-q", "-j", "1", library.folder, catalog=db),
                 "building the base", may_fail=False)  # fmt: skip
    older = _vector_file(db).read_bytes()
    for f in held_back:
        f.with_suffix(f.suffix + ".later").rename(f)
    judge_output(section, command("index", "-q", "-j", "1", library.folder, catalog=db),
                 "building the base", may_fail=False)  # fmt: skip
    backup = command("catalog", "repair", catalog=db)  # also the backup the catalog cases use
    judge_output(section, backup, "catalog repair on a sound catalog", may_fail=False)
    saved = Path(backup.stdout.split("backed up to ", 1)[1].splitlines()[0])
    with connected(db) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def vectors(how: Callable[[Path], None]):
        return lambda case: how(_vector_file(case))

    def raw_sql(sql: str):
        def run(case: Path) -> None:
            with connected(case) as raw:
                raw.execute(sql)

        return run  # fmt: skip

    def older_index(case: Path) -> None:
        _vector_file(case).write_bytes(older)

    def garble_catalog(start: float, length: float):
        return lambda case: _garble(case, start, length, rng)

    def truncate_catalog(case: Path) -> None:
        os.truncate(case, case.stat().st_size // 2)

    def wal_garbage(case: Path) -> None:
        case.with_name(case.name + "-wal").write_bytes(rng.randbytes(64 * 1024))

    def cut_row(case: Path) -> None:
        with connected(case) as raw:
            raw.execute("UPDATE tracks SET segment_scores = x'000102' WHERE id = "
                        "(SELECT min(id) FROM tracks)")  # fmt: skip

    # (name, damage, what `catalog check` must say (None: nothing to find), the way back)
    cases = [
        ("vector index garbled in the middle", vectors(lambda p: _garble(p, 0.4, 0.2, rng)),
         "not the vector index", "index"),
        ("vector index truncated to half", vectors(lambda p: os.truncate(p, p.stat().st_size // 2)),
         "not the vector index", "index"),
        ("vector index emptied (0 bytes)", vectors(lambda p: os.truncate(p, 0)),
         "not the vector index", "repair"),
        ("vector index replaced by random bytes", vectors(lambda p: p.write_bytes(
            rng.randbytes(p.stat().st_size))), "not the vector index", "index"),
        ("an older vector index put back (stale)", older_index, "not the vector index", "index"),
        ("vector index deleted", vectors(lambda p: p.unlink()), None, "index"),
        ("the catalog's record of its vector index lost",
         raw_sql("DELETE FROM meta WHERE key LIKE 'vectors:%'"), None, "index"),
        ("a track row cut short", cut_row, "segment arrays are cut short", "repair"),
        ("garbage in place of the write-ahead log", wal_garbage, None, "index"),
        ("the catalog garbled past its first page", garble_catalog(0.05, 0.9), CATALOG_DAMAGED,
         "backup"),
        ("the catalog's header garbled", garble_catalog(0.0, 0.002), CATALOG_DAMAGED, "backup"),
        ("the catalog truncated to half", truncate_catalog, CATALOG_DAMAGED, "backup"),
    ]  # fmt: skip
    for n, (name, damage, expected, way_back) in enumerate(cases):
        if scale.damage is not None and n not in scale.damage:
            continue
        folder = work / f"case-{n:02d}"
        shutil.copytree(base, folder)
        case = folder / db.name
        damage(case)
        section.add("cases")
        _damaged_case(section, case, library, name, expected, scale)
        if way_back == "backup":
            for extra in folder.glob(f"{case.name}*"):
                extra.unlink()
            shutil.copy(saved, case)
        elif way_back == "repair":
            judge_output(section, command("catalog", "repair", catalog=case),
                         f"{name}: catalog repair", may_fail=False)  # fmt: skip
        rerun = command("index", "-q", "-j", "1", library.folder, catalog=case)
        judge_output(section, rerun, f"{name}: index to recover", may_fail=False)
        if record_verdict(section, verify(case, [library.folder]), name):
            section.add("recovered")
        shutil.rmtree(folder)
    _moved_clock(section, work, library, scale)


def _damaged_case(section: Section, case: Path, library: Library, name: str,
                  expected: str | None, scale: Scale) -> None:  # fmt: skip
    check = command("catalog", "check", catalog=case, timeout=120)
    judge_output(section, check, f"{name}: catalog check", reports=True)
    told = (check.stdout + check.stderr).strip().splitlines()
    named = [line for line in told if expected and any(e in line for e in expected.split("|"))]
    if expected is None:
        if check.returncode != 0:
            section.problem(f"{name}: catalog check found {told}")
    elif check.returncode != 1 or not named:
        section.problem(f"{name}: catalog check did not name it: exit {check.returncode}, {told}")
    elif len(named) != 1:
        section.problem(f"{name}: more than one line for one damage: {told}")
    else:
        section.add("detected")
    for args in readers(scale, library):
        if args[0] != "catalog":
            judge_output(section, command(*args, catalog=case, timeout=120), f"{name}: {args[0]}")


def _moved_clock(section: Section, work: Path, library: Library, scale: Scale) -> None:
    """A file re-recorded and indexed while the clock is an hour behind (then ahead, then
    right again): its vector must follow it."""
    if not scale.clock:
        return
    db = work / "clock.db"
    judge_output(section, command("index", "-q", "-j", "1", library.folder, catalog=db),
                 "indexing before the clock moves", may_fail=False)  # fmt: skip
    names = {3600.0: "an hour behind", -3600.0: "an hour ahead", 0.0: "right again"}
    for shift in scale.clock:
        name = names.get(shift, f"{shift:+g} s off")
        library.change(1)
        victim = library.files()[0]
        other = next(p for p in library.pool if p.read_bytes() != victim.read_bytes())
        shutil.copy(other, victim)
        done = command("index", "-q", "-j", "1", library.folder, catalog=db,
                       plan={"shift": shift})  # fmt: skip
        judge_output(section, done, f"index with the clock {name}", may_fail=False)
        section.add("cases")
        if record_verdict(section, verify(db, [library.folder]), f"the clock {name}"):
            section.add("recovered")


# -- Hypothesis over the query grammar and the Python API --------------------------------------

ODD_NUMBERS = ("0", "-0", "-1", "1e309", "-1e309", "1e-320", "nan", "NaN", "inf", "-inf",
               "Infinity", "0x10", "1_0", "0.3.4", "", ".", "-", "1-", "-5", "110-90", "90-110",
               "9" * 400, "\u0663", "\uff11", "1e", "+3", " 2")  # fmt: skip
ODD_TEXT = ('"', "'", ":", "-", "--", ":::", "\x00", "\n", "\r\n", "\t", "\u200b", "\ufeff",
            "\udcff", "\ud800", "\u0130", "\uff41\uff43\uff54\uff49\uff4f\uff4e", "ACTION",
            "action" * 60, "%s%n", "'; DROP TABLE tracks; --", "\\", "%", "_", "*",
            "?")  # fmt: skip
FIELDS = ("bpm", "tempo", "key", "energy", "title", "artist", "album", "file", "name", "BPM")


def grammar(work: Path, pool: list[Path], scale: Scale, rng: random.Random,
            section: Section) -> None:  # fmt: skip
    """Hypothesis-made queries and arguments for ``parse_query``, ``search`` and
    ``similar``: each answers, or raises a ``CuefinderError``; never anything else, and
    never a score that is not a finite number."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as seeded
    from hypothesis import strategies as st

    import cuefinder
    from cuefinder.catalog import Catalog
    from cuefinder.errors import CuefinderError
    from cuefinder.find.grammar import FILLER, NEGATORS, SOFTENERS, vocabulary

    library = Library(work / "library", pool, 4, rng)
    db = work / "grammar.db"
    built = command("index", "-q", "-j", "1", library.folder, catalog=db)
    judge_output(section, built, "building the catalog", may_fail=False)
    catalog = Catalog(db, create=False)
    model = catalog.active_model()
    tracks = list(catalog.tracks())
    words = sorted(vocabulary(model.genres, model.tags)) + sorted(NEGATORS) + sorted(SOFTENERS)
    words += sorted(FILLER)[:8] + [t.path.rsplit("/", 1)[1].split(".")[0] for t in tracks]
    numbers = st.sampled_from(ODD_NUMBERS) | st.floats().map(repr) | st.integers().map(str)
    word = st.sampled_from(words)
    kinds = {
        "word": word,
        "weighted": st.tuples(word, numbers).map(":".join),
        "excluded": word.map("-{}".format),
        "field": st.tuples(st.sampled_from(FIELDS), numbers | st.sampled_from(ODD_TEXT) | st.text(
            max_size=8) | st.sampled_from(("Am", "F#", "A-minor", "high", '"living caves"',
                                           "90-110"))).map(":".join),
        "odd": st.sampled_from(ODD_TEXT),
        "text": st.text(max_size=10),
    }  # fmt: skip
    # mostly words the grammar knows (one_of would weigh a repeated branch once)
    token = st.sampled_from(["word"] * 16 + ["excluded"] * 3 + list(kinds)).flatmap(kinds.get)
    joined = st.lists(token, min_size=1, max_size=6).map(" ".join)
    queries = st.sampled_from((joined,) * 4 + (st.text(max_size=60),)).flatmap(lambda q: q)

    def mostly(usual, *others):
        """``usual`` three times in four, else one of ``others``."""
        return st.sampled_from((usual,) * 3 * len(others) + others).flatmap(lambda q: q)

    unset = st.none()
    maybe_number = mostly(unset, st.floats(), st.integers(-(2**70), 2**70))
    limits = mostly(st.integers(1, 20), st.integers(-3, 2**70))
    seed_ = rng.randrange(2**32)
    sloppy = settings(max_examples=scale.grammar, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip

    def attempt(target: str, call: Callable, shown) -> None:
        section.add("cases")
        section.add(f"cases: {target}")
        try:
            results = call()
        except CuefinderError:
            section.add("refused with a CuefinderError")
            return
        except Exception as err:  # the defect this section looks for
            section.add("other exceptions")
            section.problem(f"{target}({ascii(shown)[:200]}): {type(err).__name__}: "
                            f"{ascii(str(err))[:160]}")  # fmt: skip
            return
        section.add(f"answered: {target}")
        for result in results if isinstance(results, list) else ():
            if not np.isfinite(result.score) or (result.fit is not None
                                                 and not np.isfinite(result.fit)):  # fmt: skip
                section.problem(f"{target}({ascii(shown)[:200]}): a score that is not finite")
                return

    @seeded(seed_)
    @sloppy
    @given(text=queries)
    def parse(text):
        attempt("parse_query", lambda: cuefinder.parse_query(text, model.genres, model.tags),
                text)  # fmt: skip

    @seeded(seed_)
    @sloppy
    @given(text=queries, limit=limits, low=maybe_number, high=maybe_number,
           length=maybe_number, tempo=mostly(unset, st.tuples(maybe_number, maybe_number)),
           key=mostly(unset, st.sampled_from(ODD_TEXT + ("Am", "C", "F#m")), st.text(max_size=5)),
           energy=mostly(unset, st.sampled_from(("high", "low", "HIGH", "", "x"))),
           )  # fmt: skip
    def search(text, limit, low, high, length, tempo, key, energy):
        attempt("search", lambda: cuefinder.search(
            text, catalog, limit=limit, min_duration=low, max_duration=high, length=length,
            tempo=tempo, key=key, energy=energy), (text, limit, low, high, length, tempo, key,
                                                   energy))  # fmt: skip

    fifo = work / "pipe.wav"
    os.mkfifo(fifo)
    references = st.one_of(
        st.sampled_from([t.id for t in tracks] + [t.path for t in tracks]),
        st.sampled_from([t.id for t in tracks]),
        st.sampled_from([t.path[-12:] for t in tracks] + [str(pool[-1]), str(fifo),
                         "/dev/zero", "/dev/null", "/etc/passwd", "/", str(work), "", " ", "..",
                         "no/such/file.wav", "a\x00b", "\udcff.wav", str(library.folder) + "/"]),
        st.integers(-(2**70), 2**70),
        st.text(max_size=20),
        st.booleans(),
    )  # fmt: skip

    nothing = st.just([])

    @seeded(seed_)
    @settings(sloppy, max_examples=max(scale.grammar // 3, 10))
    @given(ref=references | st.lists(references, max_size=3),
           away=mostly(nothing, st.lists(references, max_size=2)),
           start=maybe_number, end=maybe_number, length=maybe_number,
           limit=limits)  # fmt: skip
    def like(ref, away, start, end, limit, length):
        attempt("similar", lambda: cuefinder.similar(
            ref, catalog, not_=away, start=start, end=end, limit=limit, length=length),
            (ref, away, start, end, limit, length))  # fmt: skip

    for target in (parse, search, like):
        target()
    catalog.close()
    _merge_problems(section)


def _merge_problems(section: Section) -> None:
    """The same defect found by many examples is one problem, with its count."""
    seen: dict[str, int] = {}
    firsts: dict[str, str] = {}
    for line in section.problems:
        kind = line.split("): ", 1)[-1][:80]
        seen[kind] = seen.get(kind, 0) + 1
        firsts.setdefault(kind, line)
    section.problems = [firsts[k] + (f" (and {n - 1} more like it)" if n > 1 else "")
                        for k, n in seen.items()]  # fmt: skip


# -- a running server ----------------------------------------------------------------------------


class Served:
    """The real app under uvicorn in a thread of this process, on a free port."""

    def __init__(self, app):
        import socket
        import threading

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="critical"))  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        import httpx

        self.thread.start()
        for _ in range(400):
            try:
                httpx.get(self.url + "/api/status", timeout=2)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the server did not come up")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def raw(self, method: str, target: str, headers: dict | None = None,
            body: bytes | None = None) -> tuple[int, dict, bytes]:  # fmt: skip
        """A request with its target sent exactly as given (no client-side normalising)."""
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            from urllib.parse import quote

            target = "".join(c if ord(c) < 128 else quote(c) for c in target)  # UTF-8, escaped
            connection.putrequest(method, target, skip_accept_encoding=True)
            for key, value in (headers or {}).items():
                connection.putheader(key, value)
            if body is not None:
                connection.putheader("content-length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    response.read())  # fmt: skip
        finally:
            connection.close()


def judge_response(section: Section, what: str, status: int, body: bytes,
                   leaks: tuple[bytes, ...] = LEAKS) -> None:  # fmt: skip
    """A response a user sees: never a 5xx, a traceback or a leaked file."""
    section.add("responses")
    if status >= 500:
        section.add("5xx")
        section.problem(f"{what}: {status} {body[:160]!r}")
    if b"Traceback" in body or b'File "/' in body:
        section.add("tracebacks")
        section.problem(f"{what}: a traceback in the response")
    leaked = [marker for marker in leaks if marker in body]
    if leaked:
        section.add("leaks")
        section.problem(f"{what}: the response holds {leaked} ({status})")


# -- schemathesis over the OpenAPI schema ---------------------------------------------------------


def api_fuzz(work: Path, pool: list[Path], scale: Scale, rng: random.Random,
             section: Section) -> None:  # fmt: skip
    """Every operation of the OpenAPI schema, with requests schemathesis makes from it, on
    a real catalog: no 5xx, no traceback, and JSON that is JSON (no NaN)."""
    if not scale.api:
        raise Skip("not at this scale (tests/test_api_fuzz.py runs it in the test suite)")
    import schemathesis

    from cuefinder.serve import create_app

    library = Library(work / "library", pool, 5, rng)
    db = work / "api.db"
    judge_output(section, command("index", "-q", "-j", "1", library.folder, catalog=db),
                 "building the catalog", may_fail=False)  # fmt: skip
    judge_output(section, command("brief", "fuzzed", "--new", catalog=db), "a brief",
                 may_fail=False)  # fmt: skip
    app = create_app(db, allowed_hosts=("*",), index_roots=[str(library.folder)])
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = 0
    for result in schema.get_all_operations():
        operations += 1
        _fuzz_operation(section, result.ok(), scale, rng)
    section.figures["operations"] = operations
    _merge_problems(section)


def _fuzz_operation(section: Section, operation, scale: Scale, rng: random.Random) -> None:
    """``scale.api`` generated requests to one operation, each judged as a user would."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as seeded

    name = f"{operation.method.upper()} {operation.path}"

    @seeded(rng.randrange(2**32))
    @settings(max_examples=scale.api, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=operation.as_strategy())
    def fuzz(case):
        response = case.call()
        section.add("cases")
        judge_response(section, f"{name} {case.path_parameters} {case.query}",
                       response.status_code, response.content, (b"Traceback",))  # fmt: skip
        if "json" in response.headers.get("content-type", ""):
            try:
                json.loads(response.content, parse_constant=_no_constant)
            except ValueError as err:
                section.add("invalid JSON")
                section.problem(f"{name}: invalid JSON ({err})")

    fuzz()


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


# -- traversal and link probes against a running server ------------------------------------------

DOTS = ("..", "%2e%2e", "%2E%2E", ".%2e", "%252e%252e", "%c0%ae%c0%ae", "..%00", "....")
SLASHES = ("/", "%2f", "%2F", "%252f", "\\", "%5c", "%c0%af", "//")
TARGETS = ("etc/passwd", "outside/secret.wav", "catalog.db", "cuefinder/serve/app.py")
ROUTES = ("/api/tracks/{}", "/api/tracks/{}/audio", "/api/tracks/{}/similar", "/static/{}",
          "/tracks/{}", "/briefs/{}", "/api/briefs/{}/export", "/api/docs/assets/{}",
          "/{}")  # fmt: skip
ODD_IDS = ("0", "-1", "9223372036854775807", "9223372036854775808", "1e3", "1.0", "0x1",
           "%00", "1%00", "1%20", "%201", "\uff11", "1;2", "1,2", "1/", "/etc/passwd",
           "%2fetc%2fpasswd",
           "..%2f1", "1/..", "9" * 5000, "\u00b2", "\u0661", "1e400", "nan")  # fmt: skip


def probes(work: Path, pool: list[Path], scale: Scale, rng: random.Random,
           section: Section) -> None:  # fmt: skip
    """Traversal, encoded slashes and symbolic links against ``cuefinder serve``'s app on a
    real port: nothing outside the catalogued files is ever served, indexed or named."""
    from cuefinder.serve import create_app

    root = work / "root"
    library = Library(root / "library", pool, 4, rng)
    outside = work / "outside"
    outside.mkdir()
    secret = outside / "secret.wav"
    secret.write_bytes(pool[0].read_bytes() + b"SECRET-OUTSIDE")  # real audio, marked
    (outside / "notes.txt").write_bytes(b"SECRET-OUTSIDE")
    db = work / "catalog.db"
    judge_output(section, command("index", "-q", "-j", "1", library.folder, catalog=db),
                 "building the catalog", may_fail=False)  # fmt: skip
    links = root / "links"  # made after indexing; the web indexer meets them
    links.mkdir()
    (links / "escape.wav").symlink_to(secret)
    (links / "out").symlink_to(outside)
    (links / "nested" / "deeper").mkdir(parents=True)
    (links / "nested" / "deeper" / "etc").symlink_to("/etc")
    (links / "nested" / "up").symlink_to("../../../outside")
    (links / "loop").symlink_to(links)
    os.link(secret, links / "hard.wav")  # a hard link is the file itself: inside, by name
    app = create_app(db, index_roots=[str(root)])
    with Served(app) as server:
        _get_probes(section, server, scale, db)
        _web_index_probes(section, server, root, outside, links)
        _swap_probes(section, server, db, library, secret)
        for host in ("attacker.example", "127.0.0.1.attacker.example", "localhost.", "[::2]",
                     "", "127.0.0.1:80@evil"):  # fmt: skip
            status, _, body = server.raw("GET", "/api/status", {"host": host})
            section.add("probes")
            judge_response(section, f"Host {host!r}", status, body)
            if status != 400:
                section.problem(f"Host {host!r}: {status}, not 400")
    with connected(db) as raw:
        stored = [r[0] for r in raw.execute("SELECT path FROM tracks WHERE missing = 0")]
        tags = b" ".join(str(r).encode() for r in raw.execute("SELECT * FROM tracks"))
    real_root = os.path.realpath(root)
    escaped = [p for p in stored if not os.path.realpath(p).startswith(real_root + os.sep)]
    section.figures["tracks catalogued from outside the root"] = len(escaped)
    if escaped:
        section.problem(f"catalogued from outside the index root: {escaped}")
    if any(p.endswith("hard.wav") for p in stored):
        section.notes.append("a hard link inside the index root to a file outside it is "
                             "indexed: it is that file, under a name inside the root")  # fmt: skip
    if b"SECRET-OUTSIDE" in tags:
        section.problem("the catalog holds text of a file outside the root")


def _get_probes(section: Section, server: Served, scale: Scale, db: Path) -> None:
    with connected(db) as raw:  # what audio may be served: the catalogued files
        served = {Path(r[0]).read_bytes() for r in raw.execute("SELECT path FROM tracks")}
    payloads = set(ODD_IDS)
    for dots in DOTS:
        for slash in SLASHES:
            for depth in scale.probe_depths:
                for target in TARGETS:
                    payloads.add((dots + slash) * depth + target.replace("/", slash))
    for route in ROUTES:
        for payload in sorted(payloads):
            target = route.format(payload)
            for method in ("GET", "HEAD") if route.endswith("audio") else ("GET",):
                status, headers, body = server.raw(method, target)
                section.add("probes")
                section.add("traversal probes")
                judge_response(section, f"{method} {target[:120]}", status, body)
                if status == 200 and route.endswith("audio") and method == "GET" \
                        and body not in served:  # fmt: skip
                    section.problem(f"{target[:120]}: served bytes that are no catalogued file")


def _web_index_probes(section: Section, server: Served, root: Path, outside: Path,
                      links: Path) -> None:  # fmt: skip
    """POST /api/index with paths out of the root, through links, and malformed."""
    import httpx

    paths = [str(root) + "/../outside", "/etc", "/", str(outside), str(links / "out"),
             str(links / "nested" / "deeper" / "etc"), str(links / "nested" / "up"),
             "relative/folder", "", "~", "~root", str(root) + "\x00/etc", "\x00",
             str(root) + "/%2e%2e/outside", "//etc", str(root) + "/" + "x" * 5000,
             str(root) + "\n/etc", str(root / "no-such-folder"), str(links / "escape.wav"),
             str(links / "loop" / "loop" / "loop"), str(links), str(root)]  # fmt: skip
    for path in paths:
        for body in (json.dumps({"path": path}).encode(), path.encode("utf-8", "replace")):
            status, _, answer = server.raw("POST", "/api/index",
                                           {"content-type": "application/json"}, body)  # fmt: skip
            section.add("probes")
            section.add("web index probes")
            judge_response(section, f"POST /api/index {path[:80]!r}", status, answer)
            if status == 202:
                _wait_for_index(server.url)
    status = httpx.get(server.url + "/api/status", timeout=30).json()
    shown = json.dumps(status)
    for failure in status["indexing"]["failed"]:
        if str(outside) in failure["reason"] or "/etc" in failure["reason"]:
            section.problem(f"a failure names a link's target: {failure}")
    if "SECRET-OUTSIDE" in shown:
        section.problem("the status shows text of a file outside the root")
    reasons = {f["path"].rsplit("/", 1)[-1]: f["reason"] for f in status["failed"]}
    if "escape.wav" not in reasons:
        section.problem("the link out of the root was not listed as a failure")


def _wait_for_index(url: str) -> None:
    import httpx

    for _ in range(1200):
        if httpx.get(url + "/api/status", timeout=30).json()["indexing"]["state"] != "running":
            return
        time.sleep(0.1)
    raise RuntimeError("a web index run did not finish in two minutes")


def _swap_probes(section: Section, server: Served, db: Path, library: Library,
                 secret: Path) -> None:  # fmt: skip
    """A catalogued file replaced by a link out, a hard link to another file, a FIFO, its
    folder by a link: refused (403/404/409), quickly, naming no target."""
    with connected(db) as raw:
        track_id, path = raw.execute(
            "SELECT id, path FROM tracks WHERE missing = 0 AND path LIKE ? ORDER BY id",
            (f"{library.folder}%",),
        ).fetchone()
    victim = Path(path)
    kept = victim.with_name(victim.name + ".kept")

    def with_file(make: Callable[[], None], name: str) -> None:
        victim.rename(kept)
        try:
            make()
            started = time.monotonic()
            status, _, body = server.raw("GET", f"/api/tracks/{track_id}/audio")
            section.add("probes")
            section.add("swap probes")
            judge_response(section, f"audio of a file {name}", status, body)
            if status not in (403, 404, 409):
                section.problem(f"audio of a file {name}: {status}")
            if str(secret.parent).encode() in body or b"/etc" in body:
                section.problem(f"audio of a file {name}: the answer names the target")
            if time.monotonic() - started > 10:
                section.problem(f"audio of a file {name}: took {time.monotonic() - started:.0f} s")
        finally:
            if victim.is_symlink() or victim.exists():
                victim.unlink()
            kept.rename(victim)

    with_file(lambda: victim.symlink_to(secret), "replaced by a link out of the root")
    with_file(lambda: victim.symlink_to("/etc/passwd"), "replaced by a link to /etc/passwd")
    with_file(lambda: os.link(secret, victim), "replaced by a hard link to another file")
    with_file(lambda: os.mkfifo(victim), "replaced by a named pipe")
    folder = library.folder
    moved = folder.with_name(folder.name + ".moved")
    folder.rename(moved)
    try:  # the file's folder swapped for a link to one outside
        folder.symlink_to(moved)
        status, _, body = server.raw("GET", f"/api/tracks/{track_id}/audio")
        section.add("probes")
        section.add("swap probes")
        judge_response(section, "audio through a folder swapped for a link", status, body)
        if status != 403:
            section.problem(f"audio through a folder swapped for a link: {status}")
    finally:
        folder.unlink()
        moved.rename(folder)


# -- decode bombs --------------------------------------------------------------------------------


def make_bomb(path: Path, seconds: float, rate: int = 8000) -> Path:
    """Digital silence as FLAC: a few hundred bytes a minute that decode to ``seconds``."""
    import soundfile

    block = np.zeros(rate * 60, np.int16)
    with soundfile.SoundFile(str(path), "w", rate, 1, "PCM_16", format="FLAC") as out:
        for _ in range(int(np.ceil(seconds / 60))):
            out.write(block)
    return path


def bombs(work: Path, pool: list[Path], scale: Scale, rng: random.Random,
          section: Section) -> None:  # fmt: skip
    """Small files that decode to hours: refused while decoding, with one line, in bounded
    time and memory, and everything else indexed beside them."""
    import httpx

    from cuefinder.find.similar import REFERENCE_MAX_SECONDS
    from cuefinder.pipeline.stages import MAX_SECONDS
    from cuefinder.serve import create_app

    library = Library(work / "library", pool, 3, rng)
    db = work / "catalog.db"
    judge_output(section, command("index", "-q", "-j", "1", library.folder, catalog=db),
                 "building the catalog", may_fail=False)  # fmt: skip
    upload = make_bomb(work / "upload-bomb.flac", REFERENCE_MAX_SECONDS + 600)
    section.figures["upload bomb"] = f"{upload.stat().st_size / 1024:.0f} KB, " \
        f"{(REFERENCE_MAX_SECONDS + 600) / 60:.0f} min"  # fmt: skip
    with Served(create_app(db)) as server:
        started = time.monotonic()
        sent = {"file": ("bomb.flac", upload.read_bytes(), "audio/flac")}
        response = httpx.post(server.url + "/api/similar/upload", files=sent, timeout=600)
        took = time.monotonic() - started
    section.add("cases")
    judge_response(section, "uploading the bomb", response.status_code, response.content)
    section.figures["upload bomb refused after (s)"] = round(took, 1)
    if response.status_code != 422 or "longer than" not in response.text:
        section.problem(f"the upload bomb: {response.status_code} {response.text[:200]}")
    if not scale.full:
        return
    done = command("similar", upload, catalog=db)
    section.add("cases")
    judge_output(section, done, "similar with the bomb as reference")
    section.figures["similar bomb refused after (s)"] = round(done.seconds, 1)
    if done.returncode == 0 or "longer than" not in done.stderr:
        section.problem(f"similar with the bomb: exit {done.returncode}, {done.stderr[:200]}")
    if not scale.index_bomb:
        return
    bomb = make_bomb(library.folder / "bomb.flac", MAX_SECONDS + 1800)
    section.figures["index bomb"] = f"{bomb.stat().st_size / 1024:.0f} KB, " \
        f"{(MAX_SECONDS + 1800) / 3600:.1f} h"  # fmt: skip
    library.add()
    done = command("index", "-q", "-j", "1", library.folder, catalog=db, timeout=900)
    section.add("cases")
    judge_output(section, done, "index with a bomb in the folder", reports=True)
    section.figures["index bomb refused after (s)"] = round(done.seconds, 1)
    section.figures["index bomb peak memory (MB)"] = round(done.peak_mb)
    if "bomb.flac: longer than" not in done.stdout or "indexed 1," not in done.stdout:
        section.problem(f"index with a bomb: {done.stdout.strip()[-300:]}")
    bomb.unlink()
    record_verdict(section, verify(db, [library.folder]), "after the bomb")


def run_all(scale: Scale, sections: list[str], seed: int, music_root: Path | None = None,
            work: Path | None = None,
            log: Callable[[str], None] = print) -> list[Section]:  # fmt: skip
    """Run the named sections at ``scale``; each gets its own folder under ``work``."""
    work = work or Path(tempfile.mkdtemp(prefix="cuefinder-reliability-"))
    pool = sources(music_root, work / "sources")
    out = []
    for name in sections:
        section = Section(name)
        rng = random.Random(f"{seed}-{name}")
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        log(f"{name}: running")
        try:
            SECTIONS[name](folder, pool, scale, rng, section)
        except Skip as why:
            section.skipped = str(why)
        section.seconds = time.monotonic() - started
        skipped = f"; skipped: {section.skipped}" if section.skipped else ""
        log(f"{name}: {section.seconds:.0f} s, {section.figures}, "
            f"{len(section.problems)} problems{skipped}")  # fmt: skip
        for line in section.problems[:20]:
            log(f"  problem: {line}")
        out.append(section)
    return out


class Skip(Exception):
    """A section that cannot run here (the reason goes into the report)."""


SECTIONS: dict[str, Callable] = {
    "kills": kill_loop,
    "concurrent": concurrent,
    "disk": small_disk,
    "damage": damaged,
    "grammar": grammar,
    "api": api_fuzz,
    "probes": probes,
    "bomb": bombs,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="the long run (the report's)")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), help="these sections")
    parser.add_argument("--kills", type=int, help="kill-loop rounds (default: the scale's)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("-o", "--output", type=Path, help="write the report (Markdown) here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    scale = LONG if args.long else SHORT
    if args.kills:
        from dataclasses import replace

        scale = replace(scale, kills=args.kills)
    work = Path(tempfile.mkdtemp(prefix="cuefinder-reliability-"))
    started = time.monotonic()
    try:
        results = run_all(scale, args.only or list(SECTIONS), args.seed, work=work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    totals = summary(results)
    print(json.dumps(totals))
    if args.output:
        shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--keep"]
        args.output.write_text(report(results, totals, scale, shown, time.monotonic() - started))
        print(f"wrote {args.output}")
    return 0 if not any(s.problems for s in results) else 1


HEADLINES = (  # (figure, what the report calls it)
    ("kills", "SIGKILLs of `cuefinder index` (chosen points and random moments)"),
    ("kills survived", "kills after which a rerun left every track exactly once, every "
     "vector current and `catalog check` clean"),
    ("tracks lost", "tracks lost"),
    ("tracks duplicated", "tracks duplicated"),
    ("fuzz cases", "fuzz cases (Hypothesis over the grammar and Python API, schemathesis)"),
    ("probes", "traversal, link and Host probes against a running server"),
    ("damage cases", "damaged files, full and read-only disks, decode bombs"),
    ("commands run", "`cuefinder` commands run, each read as a user would"),
    ("5xx", "responses 5xx"),
    ("tracebacks", "tracebacks shown to a user"),
    ("problems", "problems (each listed below)"),
)  # fmt: skip


FOUND = (  # what the suite found when it was written; each has its test in test_reliability.py
    "a kill while the vector index was being saved left its temporary file for ever (one per "
    "kill, hundreds of megabytes each on a big catalog): the next save removes orphans",
    "a file re-recorded while the clock was behind kept its old vector in the index, and "
    "`catalog check` saw nothing: writes are now stamped later than every earlier one",
    "on a full disk usearch writes an empty file and raises nothing: the empty file "
    "replaced the vector index; the save now checks the length written (one line, the "
    "previous file kept)",
    "two runs saving at once could leave one run's index file with the other's record "
    "(`catalog check` then called it damaged): the rename and the record now happen under "
    "the catalog's write lock",
    "a catalog on a read-only disk could not be opened at all ('unable to open database "
    "file'): it is opened read-only there, and search, show, similar, export, check and "
    "the server work",
    "a damaged row (one `catalog check` lists) gave tracebacks from search, show, export "
    "and similar, and 500s from the server: one line naming the track and `catalog "
    "repair`, a 503",
    "`/tracks/ID` and `/briefs/ID` pages with an id past SQLite's integers, 5,000 digits "
    "or `²`, and a NUL in `POST /api/index`'s path, were 500s: 404 and 422",
    "a name that is not UTF-8 and not catalogued (`similar $'\\xff.wav'`, `--not`, `show`, "
    "`brief --add`, `cuefinder.similar`) reached SQLite with surrogate escapes: a "
    "UnicodeEncodeError traceback; it is looked up as the catalog shows such names",
)  # fmt: skip


def summary(results: list[Section]) -> dict:
    def total(key: str, names: Iterable[str] | None = None) -> int:
        return int(sum(s.figures.get(key, 0) for s in results if names is None or s.name in names))

    totals = {k: total(k) for k in ("kills", "kills survived", "tracks lost",
                                    "tracks duplicated", "probes", "commands run", "5xx",
                                    "tracebacks")}  # fmt: skip
    totals["fuzz cases"] = total("cases", ("grammar", "api"))
    totals["damage cases"] = total("cases", ("disk", "damage", "bomb"))
    totals["problems"] = sum(len(s.problems) for s in results)
    return totals


def report(results: list[Section], totals: dict, scale: Scale, argv: list[str],
           seconds: float) -> str:  # fmt: skip
    """The Markdown report: the headline figures, then each section's."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip()  # fmt: skip
    import platform

    lines = [
        "# Reliability report",
        "",
        "Written by `python bench/reliability.py " + " ".join(argv) + "` (issue 15, point 5): "
        f"the {scale.name} run, {seconds / 60:.1f} min on a machine with {os.cpu_count()} "
        f"cores ({platform.system()} {platform.release()}, shared with other work), commit "
        f"{commit or 'unknown'}, {time.strftime('%Y-%m-%d')}. The short run of the same "
        "suite is `tests/test_reliability.py` in the test suite. The script's docstring says "
        "how each fault is made; everything is real (the command, the model, the decoder, "
        "the catalog, the HTTP app, game soundtracks).",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {label} | {totals.get(key, 0)} |" for key, label in HEADLINES]
    lines += ["", "Defects the suite found when it was written, fixed, each with its test in "
              "`tests/test_reliability.py`:", ""] + [f"- {line}" for line in FOUND]  # fmt: skip
    for section in results:
        doc = " ".join((SECTIONS[section.name].__doc__ or "").split()).replace("``", "`")
        lines += ["", f"## {section.name}", "", doc, ""]
        if section.skipped:
            lines += [f"Not run: {section.skipped}.", ""]
            continue
        lines += ["| figure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in section.figures.items()]
        lines += [f"| seconds | {section.seconds:.0f} |", ""]
        lines += [f"Problem: {p}" for p in section.problems] or ["No problem found."]
        lines += [f"\nNote: {n}" for n in section.notes]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
