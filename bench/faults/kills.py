"""Sections ``kills`` and ``concurrent``: ``cuefinder index`` SIGKILLed at chosen points and
at random, and two indexers at once."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .command import command, judge_output
from .common import Library, Scale, Section
from .verdict import quick_state, record_verdict, verify


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
