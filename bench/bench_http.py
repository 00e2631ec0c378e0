"""Search endpoint latency and throughput under concurrent clients, real and synthetic catalogs.

    python bench/bench_http.py [--catalog DB] [--synthetic 100000] [--clients 50] [--seconds 15]
                               [--client httpx|raw] [--think 0 1]

Each catalog is served by a real ``cuefinder serve`` process on a free port;
``--clients`` asyncio clients (httpx, one connection each) send search requests
for ``--seconds`` after a warm-up: back to back (think 0: the saturation test,
where latency is the queue of 50 clients over the server's throughput), and
with a pause after each answer (think 1: each client a person who reads the
results for about a second, exponentially distributed, before the next query).
Two query mixes: ``distinct`` (every request a query never sent before: random
genres, exclusions and weights) and ``repeated`` (ten everyday queries). The
real catalog defaults to the one ``make demo`` builds; the synthetic one is
built straight into the real schema through the catalog's own connection:
random but plausible per-segment scores (smooth, correlated genres), clearly
named as synthetic.
Clients and server share this machine's cores; "server ms" is the server
process's CPU time per request (the rest of the machine's time goes to the
clients and to whatever else runs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import numpy as np

from cuefinder.catalog import Catalog
from cuefinder.model import checkpoint

DEMO_CATALOG = Path.home() / ".cache" / "cuefinder" / "demo" / "catalog.db"
REPEATED = (
    "romance comedy -action horror:0.3",
    "a little scary love",
    "action adventure",
    "sci fi thriller -comedy",
    "very sad drama",
    "funny space",
    "horror mystery",
    "war history -comedy",
    "family fantasy",
    "crime thriller noir",
)


def build_synthetic(path: Path, n: int, seed: int = 0) -> None:
    """``n`` synthetic tracks with the built-in model's genres, in the real schema."""
    info = checkpoint.read_info(checkpoint.default_model_path())
    rng = np.random.default_rng(seed)
    width, dim = len(info.genres), info.config.embedding_dim
    with Catalog(path) as catalog:
        catalog.add_model(info)
        with catalog.transaction() as db:
            for first in range(0, n, 5000):
                block = range(first, min(n, first + 5000))
                rows = [_synthetic_row(i, info, rng, width, dim) for i in block]
                db.executemany(
                    "INSERT INTO tracks(path, path_bytes, content_hash, size, mtime, duration,"
                    " title, artist, album, model_id, segment_seconds, track_scores,"
                    " segment_scores, embedding, indexed_at, missing)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)",
                    rows,
                )


def _synthetic_row(i: int, info, rng, width: int, dim: int) -> tuple:
    duration = float(rng.uniform(20, 300))
    segments = max(1, int(duration // 3.072))
    leaning = rng.normal(-1.0, 1.2, width)  # the track's genre character
    drift = rng.normal(0, 0.35, (segments, width)).cumsum(axis=0) * 0.3  # slow change
    scores = 1 / (1 + np.exp(-(leaning + drift)))  # (segments, genres)
    embedding = rng.normal(size=dim).astype(np.float32)
    embedding /= np.linalg.norm(embedding)
    return (
        f"/synthetic/library/album-{i // 12:05d}/cue-{i:06d}.flac", None, f"{i:032x}",
        int(duration * 100_000), 1.7e9, duration, f"Synthetic cue {i}", f"Composer {i % 977}",
        f"Synthetic album {i // 12}", info.model_id, 3.072,
        scores.mean(axis=0).astype(np.float32).tobytes(), scores.astype(np.float16).tobytes(),
        embedding.tobytes(), 1.7e9 + i,
    )  # fmt: skip


def distinct_queries(genres: tuple[str, ...], seed: int = 1):
    """An endless stream of different queries: 1 to 4 genres, some excluded, odd weights."""
    rng = random.Random(seed)
    while True:
        picked = rng.sample(genres, rng.randint(1, 4))
        terms = [f"{g}:{rng.uniform(0.1, 3):.3f}" for g in picked]
        if len(terms) > 1 and rng.random() < 0.5:
            terms[-1] = "-" + terms[-1]
        yield " ".join(terms)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(catalog: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "cuefinder", "--catalog", str(catalog), "serve"]
    server = subprocess.Popen(
        [*command, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(url + "/api/status", timeout=1).raise_for_status()
            return server, url
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"server for {catalog} did not start")


async def load(
    url: str, queries, clients: int, seconds: float, kind: str = "httpx", think: float = 0.0
) -> tuple[list[float], int]:
    """Latencies (s) of requests completed in ``seconds`` by ``clients`` clients; errors.

    ``think`` > 0: each client pauses a random time (exponential, that mean) after each
    answer, as a person reading results does, and starts at a random moment in the first
    ``think`` seconds; 0: back to back, the most the server can be asked.
    """
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    rng = random.Random(7)

    async def pause(first: bool = False) -> None:
        if think > 0:
            await asyncio.sleep(rng.uniform(0, think) if first else rng.expovariate(1 / think))

    async def client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            await pause(first=True)
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await http.get("/api/search", params={"q": next(queries), "limit": 10})
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200
                await pause()

    async def raw_client() -> None:
        """The same requests on one kept-alive connection, with next to no client-side work."""
        nonlocal errors
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        await pause(first=True)
        while time.perf_counter() < deadline:
            target = "/api/search?" + urlencode({"q": next(queries), "limit": 10})
            started = time.perf_counter()
            writer.write(f"GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            errors += not head.startswith("http/1.1 200")
            await pause()
        writer.close()

    await asyncio.gather(*((client if kind == "httpx" else raw_client)() for _ in range(clients)))
    return latencies, errors


def measure(
    label: str, catalog: Path, clients: int, seconds: float, kind: str, thinks: list[float]
) -> None:
    with Catalog(catalog, create=False) as db:
        tracks, genres = db.count(), db.active_model().genres
    server, url = serve(catalog)
    try:
        mixes = {"distinct": distinct_queries(genres), "repeated": _cycle(REPEATED)}
        for mix, queries in mixes.items():
            asyncio.run(load(url, queries, min(clients, 4), 2.0))  # warm-up: table in memory
            for think in thinks:
                cpu = cpu_seconds(server.pid)
                latencies, errors = asyncio.run(load(url, queries, clients, seconds, kind, think))
                cpu_ms = (cpu_seconds(server.pid) - cpu) * 1000 / max(len(latencies), 1)
                ms = np.percentile(np.array(latencies) * 1000, [50, 95, 99])
                pace = f"{think:g} s" if think else "none"
                print(
                    f"{label:<34}{tracks:>8}  {mix:<9}{pace:>7}{ms[0]:>8.1f}{ms[1]:>8.1f}"
                    f"{ms[2]:>8.1f}{len(latencies) / seconds:>9.0f}{cpu_ms:>10.2f}{errors:>7}",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cycle(items):
    while True:
        yield from items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=DEMO_CATALOG, help="the real catalog")
    parser.add_argument("--synthetic", type=int, default=100_000, help="synthetic tracks (0: none)")
    parser.add_argument("--synthetic-db", type=Path, help="keep the synthetic catalog here")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--client", choices=("httpx", "raw"), default="httpx",
                        help="httpx.AsyncClient, or a bare asyncio HTTP/1.1 client that costs "
                        "the shared cores a tenth as much")  # fmt: skip
    parser.add_argument("--think", type=float, nargs="+", default=[0.0, 1.0],
                        help="mean pause (s) of each client between requests; 0: back to back "
                        "(default: both 0 and 1)")  # fmt: skip
    args = parser.parse_args()
    print(f"{args.clients} concurrent {args.client} clients, {args.seconds:g} s per run, "
          f"{os.cpu_count()} cores shared by clients and server; latency in ms")  # fmt: skip
    print(f"{'catalog':<34}{'tracks':>8}  {'queries':<9}{'think':>7}{'p50':>8}{'p95':>8}{'p99':>8}"
          f"{'req/s':>9}{'server ms':>10}{'errors':>7}")  # fmt: skip
    if args.catalog.exists():
        measure("real (game soundtracks)", args.catalog, args.clients, args.seconds, args.client,
                args.think)  # fmt: skip
    else:
        print(f"no real catalog at {args.catalog}: run 'make demo' or pass --catalog")
    if args.synthetic:
        with tempfile.TemporaryDirectory() as tmp:
            path = args.synthetic_db or Path(tmp) / "synthetic.db"
            if not path.exists():
                build_synthetic(path, args.synthetic)
            measure(
                "SYNTHETIC (random plausible rows)",
                path,
                args.clients,
                args.seconds,
                args.client,
                args.think,
            )


if __name__ == "__main__":
    main()
