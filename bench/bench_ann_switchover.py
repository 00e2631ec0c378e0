"""Recall of the approximate index where it takes over from exact search, on clustered data.

Below ``vectors.EXACT_BELOW`` tracks a "sounds like" search is exact; at that size the
HNSW index (``vectors.new_index``) takes over, so its recall there is what a growing
catalog gets first. A library is clustered (albums, series, stems and alternate mixes
of one cue), which is where an HNSW graph loses neighbours. The collection here is
**SYNTHETIC** (labelled so in the output): ``--clusters`` centres drawn from a real
catalog's segment embeddings (each beside its track's sound embedding), each with
``EXACT_BELOW / clusters`` members jittered by ``--spread`` times the median distance
between neighbouring real segments; queries are fresh draws from the same clusters, not in
the index.

For each ``expansion_search`` (the search-time beam) it prints recall@10 against exact
search, by identity (the same 10 ids) and by distance (a returned vector counts when it
is no further than the exact 10th: ties inside a tight cluster are equally good
answers), and the median latency; cuefinder's setting is marked.

    python bench/bench_ann_switchover.py --catalog catalog.db [--clusters 200] [--spread 0.25]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from cuefinder.catalog import Catalog
from cuefinder.catalog import vectors as ann

GOAL = 0.95


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def segment_vectors(track) -> np.ndarray:
    """A track's segment embeddings, each beside the track's sound embedding, joined as the
    index joins a track's (``vectors.joined``)."""
    heard = track.sound_embedding
    if heard is not None:
        heard = np.repeat(heard[None], len(track.segment_embeddings), axis=0)
    return ann.joined(track.segment_embeddings.astype(np.float32), heard)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, required=True, help="a catalog (real segments)")
    parser.add_argument("--size", type=int, default=ann.EXACT_BELOW)
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--spread", type=float, default=0.25, help="x the neighbour distance")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--beams", type=int, nargs="+", default=[32, 64, 96, 128, 192, 256, 512])
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    catalog = Catalog(args.catalog, create=False)
    segments = unit(np.concatenate([segment_vectors(t) for t in catalog.tracks()]))
    sample = segments[rng.choice(len(segments), min(2000, len(segments)), replace=False)]
    similarity = sample @ sample.T
    np.fill_diagonal(similarity, -1)
    scale = float(np.median(np.sqrt(np.maximum(0, 2 - 2 * similarity.max(axis=1)))))
    jitter = args.spread * scale / np.sqrt(segments.shape[1])
    centres = segments[rng.choice(len(segments), args.clusters, replace=False)]
    member = rng.integers(0, args.clusters, args.size)
    data = unit(centres[member] + rng.normal(0, jitter, (args.size, segments.shape[1])))
    asked = rng.integers(0, args.clusters, args.queries)
    queries = unit(centres[asked] + rng.normal(0, jitter, (args.queries, segments.shape[1])))
    print(f"SYNTHETIC clustered collection: {args.size:,} vectors (dim {data.shape[1]}) in "
          f"{args.clusters} clusters around real segment embeddings of {args.catalog.name}, "
          f"jitter {args.spread} x the neighbour distance ({scale:.3f}); "
          f"{args.queries} queries; {os.cpu_count()} cores")  # fmt: skip

    exact = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    tenth = np.take_along_axis(queries @ data.T, exact[:, 9:10], axis=1)[:, 0]
    index = ann.new_index(data.shape[1])
    started = time.perf_counter()
    index.add(np.arange(len(data)), data, threads=os.cpu_count() or 1)
    print(f"built in {time.perf_counter() - started:.1f} s (connectivity {ann.CONNECTIVITY}, "
          f"expansion_add {ann.EXPANSION_ADD})\n")  # fmt: skip
    print(f"{'expansion_search':>16} {'recall@10 (ids)':>16} {'recall@10 (distance)':>21} "
          f"{'p50 ms':>8}")  # fmt: skip
    for beam in args.beams:
        index.expansion_search = beam
        ids_hit = distance_hit = 0
        times = []
        for q, want, bound in zip(queries, exact, tenth, strict=True):
            started = time.perf_counter()
            found = index.search(q, 10)
            times.append((time.perf_counter() - started) * 1000)
            keys = np.asarray(found.keys)
            ids_hit += len(set(keys.tolist()) & set(want.tolist()))
            distance_hit += int(np.sum(data[keys] @ q >= bound - 1e-3))
        total = 10 * len(queries)
        mark = "  <- cuefinder" if beam == ann.EXPANSION_SEARCH else ""
        goal = "" if distance_hit / total >= GOAL else f"  (below {GOAL})"
        print(f"{beam:>16} {ids_hit / total:>16.3f} {distance_hit / total:>21.3f} "
              f"{statistics.median(times):>8.3f}{goal}{mark}")  # fmt: skip


if __name__ == "__main__":
    main()
