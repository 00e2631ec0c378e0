"""Resumable training state in one safetensors file (no pickle).

Tensors: the weights, the best weights so far, the optimiser's moments and
torch's random state. Metadata (JSON): history, best score, patience count,
the schedule, the optimiser's hyper-parameters and numpy's generator state.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class RunState:
    history: list[dict]
    best: float
    best_weights: dict[str, torch.Tensor] | None
    stale: int


def save(path: Path, run: RunState, model, optimiser, schedule, rng) -> None:
    """Write the whole training state atomically."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors |= {f"best.{k}": v for k, v in (run.best_weights or {}).items()}
    optim = optimiser.state_dict()
    for pid, slots in optim["state"].items():
        tensors |= {f"optim.{pid}.{k}": torch.as_tensor(v) for k, v in slots.items()}
    tensors["torch_rng"] = torch.get_rng_state()
    meta = {
        "history": run.history, "best": run.best, "stale": run.stale,
        "param_groups": optim["param_groups"], "schedule": schedule.state_dict(),
        "numpy_rng": rng.bit_generator.state,
    }  # fmt: skip
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"state": json.dumps(meta)})
    os.replace(tmp, path)


def load(path: Path, model, optimiser, schedule, rng) -> RunState:
    """Restore everything ``save`` wrote into the given objects; returns the run state."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = json.loads(handle.metadata()["state"])
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    model.load_state_dict(_prefixed(tensors, "model."))
    state: dict[int, dict] = {}
    for key, value in _prefixed(tensors, "optim.").items():
        pid, slot = key.split(".", 1)
        state.setdefault(int(pid), {})[slot] = value
    groups = [g | {"betas": tuple(g["betas"])} if "betas" in g else g for g in meta["param_groups"]]
    optimiser.load_state_dict({"state": state, "param_groups": groups})
    schedule.load_state_dict(meta["schedule"])
    torch.set_rng_state(tensors["torch_rng"])
    rng.bit_generator.state = meta["numpy_rng"]
    best = _prefixed(tensors, "best.") or None
    return RunState(meta["history"], meta["best"], best, meta["stale"])


def _prefixed(tensors: dict, prefix: str) -> dict:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
