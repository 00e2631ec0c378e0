"""musicnn in PyTorch: checkpoint load time and tagging throughput, at 2 and 1 torch threads.

    python bench/bench_musicnn.py [--model MSD_musicnn] [--file AUDIO] [--seconds 60]

Default audio: the funnyboat soundtrack (fetched into the games cache like the tests').
Throughput is given two ways: 3 s patches per second through the network alone
(batches of 32), and seconds of audio per wall-clock second through ``taggram``
(log-mel front end + network, back-to-back patches, decoding excluded).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from cuefinder import audio
from cuefinder.model import musicnn


def timed(fn, repeats: int) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs, after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="MSD_musicnn", choices=list(musicnn.TAGS))
    parser.add_argument("--file", help="audio file (default: the funnyboat soundtrack)")
    parser.add_argument("--seconds", type=float, default=60.0, help="audio length to tag")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    if args.file is None:
        from cuefinder.train import games

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
    print(f"{'threads':>7} {'patches/s':>10} {'audio s/s':>10} {'front end s/s':>14}")
    for threads in (2, 1):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            net = timed(lambda: model(batch), args.repeats)
        whole = timed(lambda: musicnn.taggram(model, samples), args.repeats)
        front = timed(lambda: musicnn.musicnn_features(samples), args.repeats)
        print(
            f"{threads:>7} {len(batch) / net:>10.1f} {seconds / whole:>10.1f} "
            f"{seconds / front:>14.0f}"
        )
    assert np.isfinite(musicnn.taggram(model, samples).tags).all()


if __name__ == "__main__":
    main()
