"""How long `cuefinder search` takes from the shell: process start, imports, query, print.

Runs the installed command-line entry point (the venv's ``cuefinder``) several times on
a catalog and prints the median and spread of the wall-clock time beside the goal, for
a genre query and (``--text``) a free-text one. The first run warms the file cache (and
the sentence model's phrase cache) and is not counted.

    make demo   # builds the demo catalog
    python bench/bench_cli.py --catalog ~/.cache/cuefinder/demo/catalog.db
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_SECONDS = 0.4  # issue 9: a genre search from the shell
TEXT_GOAL_SECONDS = 1.0  # issue 12: free text, after the first call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--query", default="romance comedy -action horror:0.3")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--text", help="also time this free-text query (search --text)")
    args = parser.parse_args()

    exe = Path(sys.executable).with_name("cuefinder")
    base = [str(exe) if exe.exists() else shutil.which("cuefinder") or "cuefinder",
            "--catalog", str(args.catalog), "search"]  # fmt: skip
    timed(base + [args.query], f"search {args.query!r}", args, GOAL_SECONDS)
    if args.text:
        timed(base + ["--text", args.text], f"search --text {args.text!r}", args,
              TEXT_GOAL_SECONDS)  # fmt: skip


def timed(command: list[str], label: str, args, goal: float) -> None:
    times = []
    for i in range(args.runs + 1):
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if result.returncode:
            sys.exit(f"bench_cli: {' '.join(command)} failed: {result.stderr.strip()}")
        if i:
            times.append(elapsed)
    print(f"`cuefinder {label}` on {args.catalog}, {args.runs} runs after a warm-up: "
          f"median {statistics.median(times):.3f} s (min {min(times):.3f}, max "
          f"{max(times):.3f}); goal under {goal} s")  # fmt: skip


if __name__ == "__main__":
    main()
