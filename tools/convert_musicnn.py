"""Convert musicnn's TensorFlow-1 checkpoints to the safetensors files cuefinder loads.

Run once; its output is committed (``cuefinder/model/weights/``)::

    .venv/bin/python tools/convert_musicnn.py          # (re)write the two files
    .venv/bin/python tools/convert_musicnn.py --check  # compare them, write nothing

It reads the taggers MSD_musicnn and MTT_musicnn from the ``musicnn==0.1.0`` wheel
(``pip install --no-deps musicnn==0.1.0``, which ``make dev`` runs: its pins are
obsolete and TensorFlow is not needed) with ``tf_checkpoint.py``, renames and transposes
each tensor to ``cuefinder.model.musicnn.Musicnn``'s layout, and writes one safetensors
file per tagger whose metadata name the source checkpoint (and its digest) and the
licence. ``tests/test_convert_musicnn.py`` checks the committed files equal a fresh
conversion, tensor for tensor.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tf_checkpoint import read_checkpoint  # noqa: E402 (beside this script)

from cuefinder.errors import ModelFileError  # noqa: E402
from cuefinder.model.musicnn import TAGS, WEIGHTS, Musicnn  # noqa: E402

INSTALL_HINT = "pip install --no-deps musicnn==0.1.0"
DATA_FILE = ".data-00000-of-00001"

# TF variable scopes (in creation order, as musicnn's models.py makes them) -> modules
_CONV_BN = [(f"conv2d_{i}" if i else "conv2d", f"batch_normalization_{i + 1}") for i in range(8)]
_MODULES = [f"frontend.{i}" for i in range(5)] + [f"midend.{i}" for i in range(3)]
_BN_FIELDS = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}
_BATCH_NORMS = {"batch_normalization": "input_norm", "batch_normalization_9": "pool_norm"}
_BATCH_NORMS |= {"batch_normalization_10": "dense_norm"}
_BATCH_NORMS |= {bn: f"{module}.norm" for (_, bn), module in zip(_CONV_BN, _MODULES)}
_LINEARS = {"dense": "dense", "dense_1": "classifier"}
_CONVS = {conv: f"{module}.conv" for (conv, _), module in zip(_CONV_BN, _MODULES)}
TF_NAMES = [f"{scope}/{field}" for scope in _BATCH_NORMS for field in _BN_FIELDS]
TF_NAMES += [f"{scope}/{field}" for scope in (*_LINEARS, *_CONVS) for field in ("kernel", "bias")]


def wheel_checkpoint(name: str) -> str:
    """The checkpoint prefix of tagger ``name`` inside the installed musicnn wheel.

    A string ending in the folder's separator: the files are ``<prefix>.index`` and
    ``<prefix>.data-00000-of-00001``.
    """
    try:
        folder = importlib.resources.files("musicnn") / name
    except ModuleNotFoundError as err:
        raise ModelFileError(f"musicnn is not installed: {INSTALL_HINT}") from err
    return os.fspath(folder) + os.sep  # the wheel's prefix is the folder itself


def convert(name: str, prefix: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict of ``Musicnn(name)`` from the TF-1 checkpoint at ``prefix``.

    Raises ModelFileError naming the file when it is missing, corrupt or holds
    another network.
    """
    if name not in TAGS:
        raise ModelFileError(f"unknown musicnn model {name!r}; choose one of {', '.join(TAGS)}")
    prefix = os.fspath(prefix)
    weights = read_checkpoint(prefix, TF_NAMES)
    try:
        state = _torch_state(weights)
    except RuntimeError as err:  # a kernel of the wrong rank
        raise ModelFileError(f"{prefix}.index: not a {name} checkpoint ({err})") from err
    expected = Musicnn(name).state_dict()
    for key, tensor in expected.items():
        if key not in state:  # num_batches_tracked: not in TF, unused in eval mode
            state[key] = tensor
        elif tensor.shape != state[key].shape:
            raise ModelFileError(
                f"{prefix}.index: {key} has shape {tuple(state[key].shape)}, "
                f"expected {tuple(tensor.shape)} (not a {name} checkpoint)"
            )
    return {key: state[key] for key in expected}


def _torch_state(weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """TF layouts to torch: conv (kh, kw, in, out) -> (out, in, kh, kw), dense (in, out) -> T."""
    state = {}
    for scope, module in _BATCH_NORMS.items():
        for field, attr in _BN_FIELDS.items():
            state[f"{module}.{attr}"] = torch.from_numpy(weights[f"{scope}/{field}"])
    for scope, module in _LINEARS.items():
        state[f"{module}.weight"] = torch.from_numpy(weights[f"{scope}/kernel"]).T.contiguous()
        state[f"{module}.bias"] = torch.from_numpy(weights[f"{scope}/bias"])
    for scope, module in _CONVS.items():
        kernel = torch.from_numpy(weights[f"{scope}/kernel"]).permute(3, 2, 0, 1)
        if module.startswith("midend"):  # a conv over (frames, all channels) is a 1-D conv
            kernel = kernel.squeeze(1).permute(0, 2, 1)  # (out, 1, 7, in) -> (out, in, 7)
        state[f"{module}.weight"] = kernel.contiguous()
        state[f"{module}.bias"] = torch.from_numpy(weights[f"{scope}/bias"])
    return state


def metadata(name: str, prefix: str) -> dict[str, str]:
    """Where the weights came from, stored in the safetensors header."""
    digest = hashlib.sha256(Path(f"{prefix}{DATA_FILE}").read_bytes()).hexdigest()
    return {
        "model": name,
        "source": f"musicnn==0.1.0 (PyPI), musicnn/{name}/{DATA_FILE}",
        "source_sha256": digest,
        "license": "ISC, Music Technology Group, Universitat Pompeu Fabra 2019 "
        "(MUSICNN_LICENSE.md beside this file)",
        "converted_by": "tools/convert_musicnn.py",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="folder (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    from safetensors.torch import load_file, save_file

    differ = []
    for name in TAGS:
        prefix = wheel_checkpoint(name)
        state, path = convert(name, prefix), args.out / f"{name}.safetensors"
        if args.check:
            stored = load_file(path)
            same = stored.keys() == state.keys() and all(
                torch.equal(stored[k], state[k]) for k in state
            )
            print(f"{path}: {'equal to' if same else 'DIFFERENT from'} {prefix}")
            differ += [] if same else [name]
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            save_file(state, path, metadata=metadata(name, prefix))
            print(f"{path}: {path.stat().st_size / 1e6:.2f} MB from {prefix}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
