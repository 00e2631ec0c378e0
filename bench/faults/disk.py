"""Section ``disk``: a small filesystem filled while indexing, full at the vector index's
save, and mounted read-only."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from .command import command, judge_output
from .common import READERS, Library, Scale, Section, Skip
from .verdict import quick_state, record_verdict, verify


def mount(folder: Path, options: str) -> str | None:
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
    why = mount(disk, "size=2m")
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
