"""Nearest-neighbour search: latency, recall@10 against exact search, and memory.

Two collections, side by side with exact (brute-force) search on the same vectors:

* the real catalog: the track vectors of a catalog made by ``cuefinder index`` (the
  model's and the sound embedding joined: ``catalog.vectors.joined``);
* 1,000,000 SYNTHETIC vectors of the same dimension (labelled so in the output),
  drawn around the catalog's real *segment* embeddings (every ~3 s of every
  track), each joined with its track's sound embedding: each draw is a random
  real segment plus Gaussian jitter of half the median distance between
  neighbouring real segments, so the collection has the real embeddings' shape and
  local density; the queries are fresh draws that are
  not in the index. (Resampling a few hundred track vectors with isotropic noise
  instead makes clusters of thousands of nearly equidistant points, where
  "the 10 nearest" is decided by noise: a test of ties, not of search.)

The HNSW settings are cuefinder's own (``cuefinder.catalog.vectors.new_index``).
Memory is the saved index's size and the process's RSS growth while loading it.

    python bench/bench_ann.py --catalog ~/.cache/cuefinder/demo/catalog.db [--million 1000000]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from cuefinder.catalog import Catalog
from cuefinder.catalog.vectors import VectorIndex, joined, new_index


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def neighbour_scale(vectors: np.ndarray, rng, sample: int = 2000) -> float:
    """Median distance from a vector to its nearest other vector (on a sample)."""
    picks = vectors[rng.choice(len(vectors), min(sample, len(vectors)), replace=False)]
    distances = np.sqrt(np.maximum(2 - 2 * picks @ vectors.T, 0))
    distances[distances < 1e-6] = np.inf  # the vector itself (and exact duplicates)
    return float(np.median(distances.min(axis=1)))


def draw(bases: np.ndarray, n: int, jitter: float, rng) -> np.ndarray:
    """``n`` unit vectors: random ``bases`` moved by Gaussian jitter of norm ~``jitter``."""
    out = np.empty((n, bases.shape[1]), np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        noise = rng.normal(0, jitter / np.sqrt(bases.shape[1]), (stop - start, bases.shape[1]))
        out[start:stop] = unit(bases[rng.integers(0, len(bases), stop - start)] + noise)
    return out


def measure(index, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> dict:
    """Latency of one-at-a-time ANN queries, and recall@k against exact search."""
    latencies, recalls = [], []
    exact_top = []
    for start in range(0, len(queries), 256):  # exact in blocks: (256, n) similarities
        block = queries[start : start + 256] @ vectors.T
        exact_top += list(np.argpartition(-block, k, axis=1)[:, :k])
    exact_times = []
    for q in queries[:50]:
        t = time.perf_counter()
        s = vectors @ q
        np.argpartition(-s, k)[:k]
        exact_times.append(time.perf_counter() - t)
    for q, truth in zip(queries, exact_top):
        t = time.perf_counter()
        found = index.search(q, k).keys
        latencies.append(time.perf_counter() - t)
        recalls.append(len(set(np.asarray(found).tolist()) & set(truth.tolist())) / k)
    q = statistics.quantiles(latencies, n=100)
    return {
        "p50_ms": q[49] * 1e3,
        "p95_ms": q[94] * 1e3,
        "recall": float(np.mean(recalls)),
        "exact_p50_ms": statistics.median(exact_times) * 1e3,
    }


def report(name: str, n: int, dim: int, build_s: float | None, size_mb: float, rss: float, m):
    built = f", built in {build_s:.1f} s" if build_s is not None else ""
    print(f"{name}: {n:,} vectors x {dim}{built}")
    print(
        f"  ANN   p50 {m['p50_ms']:.3f} ms  p95 {m['p95_ms']:.3f} ms  recall@10 {m['recall']:.3f}"
    )
    print(f"  exact p50 {m['exact_p50_ms']:.3f} ms (brute force, same vectors)")
    print(f"  index file {size_mb:.0f} MB; RSS growth loading it {rss:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--million", type=int, default=1_000_000, help="synthetic size")
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    catalog = Catalog(args.catalog, create=False)
    model = catalog.active_model()
    vectors = VectorIndex(catalog, model)
    sync = vectors.sync()
    ids, real = vectors.vectors()  # what the index holds: model and sound embeddings
    path = vectors.path
    before = rss_mb()
    index = new_index(real.shape[1])
    index.load(str(path))
    grown = rss_mb() - before
    lookup = {int(k): i for i, k in enumerate(ids)}
    order = np.array([lookup[int(k)] for k in np.asarray(index.keys)])
    assert sorted(order.tolist()) == list(range(len(ids))), "index and catalog disagree"
    queries = unit(real + rng.normal(0, 0.05, real.shape).astype(np.float32))
    m = measure(_Keyed(index, lookup), real, queries)
    report(f"real catalog {args.catalog.name} (synced: +{sync.added} -{sync.removed})",
           len(real), real.shape[1], None, path.stat().st_size / 2**20, grown, m)  # fmt: skip

    n = args.million
    segments = unit(np.concatenate([segment_vectors(t) for t in catalog.tracks()]))
    jitter = neighbour_scale(segments, rng) / 2
    print(f"\nbuilding {n:,} SYNTHETIC vectors around {len(segments):,} real segment "
          f"embeddings (jitter {jitter:.3f} per vector)...")  # fmt: skip
    synthetic = draw(segments, n, jitter, rng)
    before = rss_mb()
    index = new_index(real.shape[1])
    started = time.perf_counter()
    for start in range(0, n, 100_000):
        index.add(np.arange(start, min(n, start + 100_000)), synthetic[start : start + 100_000],
                  threads=os.cpu_count() or 1)  # fmt: skip
    build = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "million.usearch"
        index.save(str(file))
        size = file.stat().st_size / 2**20
        del index
        before = rss_mb()
        index = new_index(real.shape[1])
        index.load(str(file))
        grown = rss_mb() - before
        queries = draw(segments, args.queries, jitter, rng)
        m = measure(index, synthetic, queries)
    report("SYNTHETIC", n, real.shape[1], build, size, grown, m)


def segment_vectors(track) -> np.ndarray:
    """A track's segment embeddings, each beside the track's sound embedding, joined."""
    heard = track.sound_embedding
    if heard is not None:
        heard = np.repeat(heard[None], len(track.segment_embeddings), axis=0)
    return joined(track.segment_embeddings, heard)


class _Keyed:
    """Search an index keyed by track id, answering positions in the catalog's order."""

    def __init__(self, index, lookup):
        self.index, self.lookup = index, lookup

    def search(self, q, k):
        found = self.index.search(q, k)
        return _Keys([self.lookup[int(x)] for x in np.asarray(found.keys)])


class _Keys:
    def __init__(self, keys):
        self.keys = keys


if __name__ == "__main__":
    main()
