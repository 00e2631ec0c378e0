"""Section ``damage``: the catalog's derived files and the catalog itself damaged each way
the campaign did, and a clock stepped back."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

from .command import command, judge_output
from .common import Library, Scale, Section
from .disk import readers
from .verdict import connected, record_verdict, verify


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
