"""The ``cuefinder`` command in its own process group, killed at chosen points, and its
output read as a user would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .common import ERROR_PREFIX, Section

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
