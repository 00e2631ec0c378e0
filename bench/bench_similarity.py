"""How well "sounds like this" retrieves: precision@10 where a hit is a track of the same game.

Compares, on the same tracks and queries, the embeddings a catalog holds (the
model's) with MFCC and spectral statistics of the same log-mel features
(standardised, cosine similarity), and chance. Each track in turn is the query;
the rest of the collection is searched; its own game's other tracks are hits.

The built-in model was trained on some of these games, whose tracks it has
learnt to tell apart; its held-out games (read from the model file) give the
fair figure, and are reported separately.

    cuefinder dataset games -o games.csv
    cuefinder --catalog games.db index ~/.cache/cuefinder/games/music
    python bench/bench_similarity.py --catalog games.db --manifest games.csv
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from cuefinder.catalog import Catalog
from cuefinder.features import FeatureConfig
from cuefinder.model import checkpoint
from cuefinder.train import baselines, dataset

K = 10


def precision_at_k(vectors: np.ndarray, groups: np.ndarray, queries: np.ndarray) -> float:
    """Mean over query rows of the share of same-group tracks among the k nearest others."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = unit[queries] @ unit.T
    similarity[np.arange(len(queries)), queries] = -np.inf  # not itself
    top = np.argsort(-similarity, axis=1)[:, :K]
    return float((groups[top] == groups[queries][:, None]).mean())


def chance(groups: np.ndarray, queries: np.ndarray) -> float:
    counts = Counter(groups.tolist())
    return float(np.mean([(counts[groups[q]] - 1) / (len(groups) - 1) for q in queries]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=checkpoint.DEFAULT_MODEL,
                        help="the model whose held-out games to report")  # fmt: skip
    parser.add_argument("--cache", type=Path, help="feature cache folder")
    parser.add_argument("--musicnn", action="store_true", help="also musicnn's embeddings")
    args = parser.parse_args()

    data, skipped = dataset.load(args.manifest, FeatureConfig(), max_seconds=600.0,
                                 cache_dir=args.cache, progress=True)  # fmt: skip
    catalog = Catalog(args.catalog, create=False)
    model = catalog.active_model()
    ids, embeddings = catalog.embeddings(model)
    by_path = {catalog.track(int(i)).path: row for row, i in enumerate(ids)}
    keep = [i for i, p in enumerate(data.paths) if p in by_path]
    groups = np.array([data.groups[i] for i in keep])
    learned = embeddings[[by_path[data.paths[i]] for i in keep]]
    stats = baselines.track_statistics([data.features[i] for i in keep])
    stats = (stats - stats.mean(axis=0)) / np.maximum(stats.std(axis=0), 1e-9)
    columns = {"catalog": learned, "MFCC": stats}
    if args.musicnn:
        columns["musicnn"] = musicnn_embeddings(args, [data.paths[i] for i in keep])

    held_out = set(checkpoint.read_info(args.model).training.get("groups", {}).get("test", []))
    everyone = np.arange(len(keep))
    fair = np.array([i for i in everyone if groups[i] in held_out], int)
    sets = [("all games", everyone)]
    if len(fair):
        sets.append((f"the model's {len(held_out)} held-out games", fair))
    print(f"{len(keep)} tracks of {len(set(groups))} games in both the manifest and the catalog "
          f"(model {model.model_id}); precision@{K}, hit = same game")  # fmt: skip
    print(f"{'queries':<34} {'n':>5} " + " ".join(f"{c:>8}" for c in columns) + "   chance")
    for name, queries in sets:
        cells = " ".join(f"{precision_at_k(v, groups, queries):>8.3f}" for v in columns.values())
        print(f"{name:<34} {len(queries):>5} {cells} {chance(groups, queries):>8.3f}")
    print(
        "catalog: the embeddings the catalog's model stored; musicnn: the pretrained "
        "musicnn's penultimate layer, mean over up to 40 patches (trained on no game)"
    )


def musicnn_embeddings(args, paths: list[str]) -> np.ndarray:
    """The pretrained MSD musicnn's penultimate layer per track (mean over patches)."""
    import torch

    from cuefinder.features import MUSICNN_FEATURES
    from cuefinder.model import build
    from cuefinder.model.transfer import musicnn_config
    from cuefinder.train import heads
    from cuefinder.train.manifest import read_manifest

    rows = {str(r.path): r for r in read_manifest(args.manifest)}
    data, _ = dataset.load(args.manifest, MUSICNN_FEATURES, max_seconds=600.0,
                           cache_dir=args.cache, progress=True)  # fmt: skip
    where = {p: i for i, p in enumerate(data.paths)}
    assert all(p in rows and p in where for p in paths)
    model = build(musicnn_config(data.genres, train="head"), pretrained=True).eval()
    pooled = heads.pooled(model, [data.features[where[p]] for p in paths])
    with torch.inference_mode():
        return np.stack([
            model.backbone.back_end(torch.from_numpy(r)).mean(dim=0).numpy() for r in pooled
        ])  # fmt: skip


if __name__ == "__main__":
    main()
