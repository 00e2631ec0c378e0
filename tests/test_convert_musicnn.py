"""The shipped musicnn weights are musicnn's: tools/convert_musicnn.py and its reader.

These need the ``musicnn==0.1.0`` wheel (``make dev`` installs it with ``--no-deps``;
cuefinder itself does not): its TensorFlow-1 checkpoints are read again with
``tools/tf_checkpoint.py`` and compared, tensor for tensor, with the safetensors files
in ``cuefinder/model/weights/``, which ``tests/test_musicnn.py`` checks against
TensorFlow's outputs.
"""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import tf_checkpoint  # tools/, on pytest's pythonpath
import torch
from convert_musicnn import convert, main, metadata, wheel_checkpoint
from safetensors import safe_open
from safetensors.torch import load_file

from cuefinder.errors import ModelFileError
from cuefinder.model import musicnn

MODELS = tuple(musicnn.TAGS)


@pytest.mark.parametrize("name", MODELS)
def test_shipped_weights_are_the_checkpoints(name):
    converted = convert(name, wheel_checkpoint(name))
    shipped = load_file(musicnn.WEIGHTS / f"{name}.safetensors")
    assert shipped.keys() == converted.keys() == musicnn.Musicnn(name).state_dict().keys()
    for key, tensor in converted.items():
        assert shipped[key].dtype == tensor.dtype and torch.equal(shipped[key], tensor), key
    with safe_open(musicnn.WEIGHTS / f"{name}.safetensors", "pt") as handle:
        assert handle.metadata() == metadata(name, wheel_checkpoint(name))


def test_loaded_network_holds_the_checkpoints_weights():
    loaded = musicnn.load("MTT_musicnn").state_dict()
    for key, tensor in convert("MTT_musicnn", wheel_checkpoint("MTT_musicnn")).items():
        assert torch.equal(loaded[key], tensor), key


def test_the_tool_writes_the_files_and_checks_them(tmp_path, capsys):
    assert main(["--out", str(tmp_path)]) == 0
    written = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(written) == [f"{name}.safetensors" for name in sorted(MODELS)]
    assert main(["--out", str(tmp_path), "--check"]) == 0
    assert capsys.readouterr().out.count("equal to") == 2
    shutil.copy(tmp_path / "MSD_musicnn.safetensors", tmp_path / "MTT_musicnn.safetensors")
    assert main(["--out", str(tmp_path), "--check"]) == 1
    assert "MTT_musicnn.safetensors: DIFFERENT" in capsys.readouterr().out


def test_tag_lists_are_musicnns():
    from musicnn import configuration  # plain constants, no TensorFlow

    assert musicnn.TAGS["MSD_musicnn"] == tuple(configuration.MSD_LABELS)
    assert musicnn.TAGS["MTT_musicnn"] == tuple(configuration.MTT_LABELS)
    assert all(len(tags) == len(set(tags)) == 50 for tags in musicnn.TAGS.values())


def test_unknown_model_name():
    with pytest.raises(ModelFileError, match="MSD_musicnn"):
        convert("MSD_vggish", wheel_checkpoint("MSD_musicnn"))


def test_musicnn_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "musicnn", None)  # makes `import musicnn` fail
    with pytest.raises(ModelFileError, match="pip install --no-deps musicnn==0.1.0"):
        wheel_checkpoint("MSD_musicnn")


def _copy_checkpoint(tmp_path: Path) -> Path:
    source = Path(wheel_checkpoint("MSD_musicnn"))
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(source / suffix, tmp_path / f"ckpt{suffix}")
    return tmp_path / "ckpt"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, suffix",
    [
        (Path.unlink, ".index"),
        (Path.unlink, ".data-00000-of-00001"),
        (_truncate, ".index"),
        (_truncate, ".data-00000-of-00001"),
        (_flip_middle_byte, ".index"),
        (lambda path: path.write_bytes(b"not a checkpoint"), ".index"),
    ],
)
def test_damaged_checkpoint_names_the_file(tmp_path, damage, suffix):
    prefix = _copy_checkpoint(tmp_path)
    damage(Path(f"{prefix}{suffix}"))
    with pytest.raises(ModelFileError, match=f"ckpt{suffix}"):
        convert("MSD_musicnn", prefix)


def test_checkpoint_of_another_network_is_refused(tmp_path):
    prefix = tmp_path / "vgg"
    source = Path(wheel_checkpoint("MSD_musicnn")).parent / "MSD_vgg"
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(source / suffix, f"{prefix}{suffix}")
    with pytest.raises(ModelFileError, match="vgg.index"):
        convert("MSD_musicnn", prefix)


# --- the TensorBundle reader on a checkpoint written by hand --------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def _field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, bytes):
        return _varint(number << 3 | 2) + _varint(len(value)) + value
    return _varint(number << 3) + _varint(value)


def _block(records: list[tuple[bytes, bytes]]) -> bytes:
    """A table block with prefix-compressed keys and one restart point."""
    out, previous = bytearray(), b""
    for key, value in records:
        shared = max(n for n in range(len(key) + 1) if previous.startswith(key[:n]))
        out += _varint(shared) + _varint(len(key) - shared) + _varint(len(value))
        out += key[shared:] + value
        previous = key
    return bytes(out + struct.pack("<II", 0, 1))


def _with_trailer(block: bytes) -> bytes:
    crc = tf_checkpoint.crc32c(block + b"\0")
    masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    return block + struct.pack("<BI", 0, masked)


def _write_bundle(prefix: Path, tensors: dict[str, np.ndarray]) -> None:
    """A one-shard TensorBundle: two data blocks and an index block, as TF lays them out."""
    data, entries = b"", []
    for name, (code, array) in sorted(tensors.items()):
        shape = b"".join(_field(2, _field(1, n)) for n in array.shape)
        entry = _field(1, code) + _field(2, shape) + _field(4, len(data))
        entries.append((name.encode(), entry + _field(5, array.nbytes)))
        data += array.tobytes()
    header = _field(1, 1)  # num_shards
    table, index = b"", []
    for records in ([(b"", header), *entries[:2]], entries[2:]):
        block = _block(records)
        index.append((records[-1][0], _varint(len(table)) + _varint(len(block))))
        table += _with_trailer(block)
    index_block = _block(index)
    footer = _varint(0) + _varint(0) + _varint(len(table)) + _varint(len(index_block))
    table += _with_trailer(index_block)
    table += footer.ljust(40, b"\0") + struct.pack("<Q", tf_checkpoint.TABLE_MAGIC)
    Path(f"{prefix}.index").write_bytes(table)
    Path(f"{prefix}.data-00000-of-00001").write_bytes(data)


def test_reader_on_a_hand_made_bundle(tmp_path):
    tensors = {
        "layer/kernel": (1, np.arange(24, dtype="<f4").reshape(2, 3, 4) / 7),
        "layer/bias": (1, np.array([1.5, -2.0], "<f4")),
        "layer_1/moving_mean": (2, np.linspace(0, 1, 5)),
        "step": (9, np.array(123456789012, "<i8")),
    }
    _write_bundle(tmp_path / "hand", tensors)
    shards, index = tf_checkpoint.read_index(tmp_path / "hand")
    assert shards == 1 and set(index) == set(tensors)
    assert index["layer/kernel"].shape == (2, 3, 4) and index["step"].shape == ()
    read = tf_checkpoint.read_checkpoint(tmp_path / "hand")
    for name, (_, array) in tensors.items():
        assert read[name].dtype == array.dtype and np.array_equal(read[name], array), name
    with pytest.raises(ModelFileError, match="no tensor named nope"):
        tf_checkpoint.read_checkpoint(tmp_path / "hand", ["nope"])


def test_crc32c_known_value():
    assert tf_checkpoint.crc32c(b"123456789") == 0xE3069283
