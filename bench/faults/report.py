"""The suite's figures summed, and the Markdown report the README links."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from .common import Scale, Section

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


FOUND = (  # what the suite found, each with its test (test_reliability.py unless it says)
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
    "a hard link inside an index root to a file outside it was indexed from the web (the "
    "probes section noted it) and served: a file with hard links the walk did not meet is "
    "now a failure there (test in `tests/test_bounds.py`)",
    "a file of the catalogued one's size and modification time renamed or hard-linked over "
    "it was served: audio is served only while its bytes hash to what was indexed (checked "
    "once per device, inode, size and times; test in `tests/test_bounds.py`)",
    "two indexers starting on a new catalog at once: the second could be refused ('database "
    "is locked'), as SQLite does not wait for the lock it needs to make the file WAL; the "
    "open now waits for it (test in `tests/test_index.py`)",
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
    lines += ["", "Defects the suite found, fixed, each with its test (in "
              "`tests/test_reliability.py` unless it says):", ""]  # fmt: skip
    lines += [f"- {line}" for line in FOUND]
    from . import SECTIONS

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
