"""The reliability suite (issue 15, point 5): the fault campaign, kept running.

    python bench/reliability.py --long -o docs/reliability.md   # the long run (minutes)
    python bench/reliability.py                                   # the short run
    python bench/reliability.py --only kills probes --kills 60    # some sections, more kills

``tests/test_reliability.py`` runs the short scale of every section in the test suite (the
api section's is ``tests/test_api_fuzz.py``); this script runs the long one and writes the
report the README links. Everything is
real: the ``cuefinder`` command in its own process group, killed with SIGKILL; the
built-in model, the decoder, the SQLite catalog and its vector index; the HTTP app with
real requests; game soundtracks for audio (``cuefinder.datasets.games``, cached outside the
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

A kill point is a line in a launcher around the real command (``faults.command.LAUNCHER``):
after the Nth track's commit, after the vector index is written to its temporary file
(before the rename), right after the rename (before the catalog records it). There the
process sends SIGKILL to its own process group, workers included; nothing in cuefinder
changes. The sections live in ``bench/faults/``, one module each (kills and concurrent
share ``kills.py``, grammar and api ``fuzz.py``).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from faults import SECTIONS
from faults.command import command, judge_output
from faults.common import LONG, SHORT, Scale, Section, Skip, sources
from faults.disk import mount
from faults.report import report, summary
from faults.verdict import connected, verify

__all__ = [
    "LONG",
    "SECTIONS",
    "SHORT",
    "Scale",
    "Section",
    "Skip",
    "command",
    "connected",
    "judge_output",
    "main",
    "mount",
    "run_all",
    "sources",
    "verify",
]


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


if __name__ == "__main__":
    sys.exit(main())
