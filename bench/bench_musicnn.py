"""musicnn in PyTorch: checkpoint load time and tagging throughput, at 2 and 1 torch threads.

    python bench/bench_musicnn.py [--model MSD_musicnn] [--file AUDIO] [--seconds 60]

Default audio: the funnyboat soundtrack (fetched into the games cache like the tests').
Throughput is given two ways: 3 s patches per second through the network alone
(batches of 32), and seconds of audio per wall-clock second through ``taggram``
(log-mel front end + network, back-to-back patches, decoding excluded). The CPU time
per patch (all threads) and the load average are printed too: on a shared machine the
wall-clock figures depend on what else runs, CPU time much less so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from cuefinder import audio
from cuefinder.model import musicnn


def timed(fn, repeats: int) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs, after one warm-up."""
    return statistics.median(_runs(fn, repeats, time.perf_counter))


def cpu_timed(fn, repeats: int) -> float:
    """Median CPU seconds of this process (all threads) for ``fn()``."""
    return statistics.median(_runs(fn, repeats, time.process_time))


def _runs(fn, repeats: int, clock) -> list[float]:
    fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="MSD_musicnn", choices=list(musicnn.TAGS))
    parser.add_argument("--file", help="audio file (default: the funnyboat soundtrack)")
    parser.add_argument("--seconds", type=float, default=60.0, help="audio length to tag")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    if args.file is None:
        from cuefinder.datasets import games

        path = next((games.fetch_games(["funnyboat"]) / "funnyboat").rglob("*.ogg"))
    else:
        path = args.file
    samples = audio.load(path, sample_rate=16000, max_seconds=args.seconds)
    seconds = len(samples) / 16000

    start = time.perf_counter()
    model = musicnn.load(args.model)
    first_load = time.perf_counter() - start
    load = timed(lambda: musicnn.load(args.model), args.repeats)
    print(f"{args.model}: load {first_load * 1000:.0f} ms first, {load * 1000:.0f} ms again")

    batch = torch.from_numpy(musicnn.patches(musicnn.musicnn_features(samples))[:32])
    print(f"audio: {path} ({seconds:.1f} s); network batches of {len(batch)} patches")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    header = ("threads", "patches/s", "CPU ms/patch", "audio s/s", "front end s/s")
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, (7, 10, 13, 10, 14))))
    for threads in (2, 1):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            net = timed(lambda: model(batch), args.repeats)
            cpu = cpu_timed(lambda: model(batch), args.repeats)
        whole = timed(lambda: musicnn.taggram(model, samples), args.repeats)
        front = timed(lambda: musicnn.musicnn_features(samples), args.repeats)
        print(
            f"{threads:>7} {len(batch) / net:>10.1f} {cpu / len(batch) * 1000:>13.0f} "
            f"{seconds / whole:>10.1f} {seconds / front:>14.0f}"
        )
    assert np.isfinite(musicnn.taggram(model, samples).tags).all()


if __name__ == "__main__":
    main()
