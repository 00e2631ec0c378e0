"""Read TensorFlow checkpoints (TensorBundle V2) with numpy alone, no TensorFlow.

A tool, not part of the package: ``convert_musicnn.py`` reads musicnn's checkpoints
with it once, and cuefinder loads the safetensors files it writes.

A checkpoint saved by ``tf.compat.v1.train.Saver`` under the prefix ``P`` is two files:

- ``P.index``: a LevelDB-format sorted table (SSTable) mapping each tensor name to a
  ``BundleEntryProto`` (dtype, shape, shard, byte offset and size); the empty key holds
  the ``BundleHeaderProto`` (number of shards, endianness).
- ``P.data-00000-of-00001`` (one per shard): the tensors' raw bytes, back to back.

Only what TF-1 savers write is supported: uncompressed table blocks, whole (unsliced)
numeric tensors. The checksums of the index blocks are checked; those of the tensor
bytes are not (CRC-32C over megabytes in pure Python would cost seconds), but every
entry's size is checked against its shape and the data file's length.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cuefinder.errors import ModelFileError

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # two block handles padded to 40 bytes, then the 8-byte magic
BLOCK_TRAILER_SIZE = 5  # compression type (1 byte) and masked CRC-32C (4 bytes)

DTYPES = {  # tensorflow/core/framework/types.proto -> numpy, little-endian
    1: np.dtype("<f4"),
    2: np.dtype("<f8"),
    3: np.dtype("<i4"),
    4: np.dtype("u1"),
    5: np.dtype("<i2"),
    6: np.dtype("i1"),
    9: np.dtype("<i8"),
    10: np.dtype("?"),
    19: np.dtype("<f2"),
}


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lies in the data files (a decoded ``BundleEntryProto``)."""

    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int


def read_checkpoint(prefix: str | os.PathLike, names: Iterable[str] | None = None) -> dict:
    """The named tensors (all when ``names`` is None) of the checkpoint at ``prefix``.

    Parameters
    ----------
    prefix : the checkpoint prefix: ``prefix + ".index"`` is the index file
    names : tensor names to read, e.g. ``"model/dense/kernel"``

    Returns
    -------
    dict mapping name to a writable ``np.ndarray`` of the stored dtype and shape

    Raises
    ------
    ModelFileError
        naming the file, when a file is missing, truncated or malformed, or a
        requested tensor is absent or of an unsupported kind.
    """
    prefix = os.fspath(prefix)
    shards, index = read_index(prefix)
    wanted = list(index) if names is None else list(names)
    missing = [name for name in wanted if name not in index]
    if missing:
        raise ModelFileError(f"{prefix}.index: no tensor named {', '.join(missing)}")
    out = {}
    for shard in sorted({index[name].shard for name in wanted}):
        path = f"{prefix}.data-{shard:05d}-of-{shards:05d}"
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as err:
            raise ModelFileError(f"{path}: cannot read checkpoint data ({err.strerror})") from err
        for name in wanted:
            if index[name].shard == shard:
                out[name] = _tensor(data, index[name], f"{path}: tensor {name}")
    return out


def read_index(prefix: str | os.PathLike) -> tuple[int, dict[str, TensorEntry]]:
    """The number of data shards and every tensor's entry, from ``prefix + ".index"``."""
    path = os.fspath(prefix) + ".index"
    try:
        with open(path, "rb") as handle:
            table = handle.read()
    except OSError as err:
        raise ModelFileError(f"{path}: cannot read checkpoint index ({err.strerror})") from err
    try:
        records = dict(_table_records(table))
        if b"" not in records:
            raise ValueError("no bundle header")
        header = _fields(records.pop(b""))
        shards = _first(header, 1, 1)
        if _first(header, 2, 0) != 0:
            raise ValueError("big-endian bundles are not supported")
        index = {key.decode(): _entry(value) for key, value in records.items()}
    except (ValueError, IndexError, struct.error, UnicodeDecodeError) as err:
        raise ModelFileError(f"{path}: not a TensorFlow checkpoint index ({err})") from err
    if shards < 1 or any(not 0 <= entry.shard < shards for entry in index.values()):
        raise ModelFileError(f"{path}: shard numbers out of range")
    return shards, index


def _tensor(data: bytes, entry: TensorEntry, where: str) -> np.ndarray:
    if entry.dtype not in DTYPES:
        raise ModelFileError(f"{where}: unsupported dtype code {entry.dtype}")
    dtype = DTYPES[entry.dtype]
    count = int(np.prod(entry.shape, dtype=np.int64))
    if entry.size != count * dtype.itemsize or entry.offset + entry.size > len(data):
        raise ModelFileError(
            f"{where}: {entry.size} bytes at offset {entry.offset} do not hold shape "
            f"{entry.shape} of {dtype} in a file of {len(data)} bytes (truncated or corrupt)"
        )
    values = np.frombuffer(data, dtype, count, entry.offset)
    return values.reshape(entry.shape).astype(dtype.newbyteorder("="))


# --- BundleEntryProto, BundleHeaderProto: the few protobuf fields we need --------------


def _entry(value: bytes) -> TensorEntry:
    fields = _fields(value)
    if 7 in fields:
        raise ValueError("sliced (partitioned) tensors are not supported")
    shape = _fields(_first(fields, 2, b""))
    dims = tuple(_first(_fields(dim), 1, 0) for dim in shape.get(2, []))
    return TensorEntry(
        dtype=_first(fields, 1, 0),
        shape=dims,
        shard=_first(fields, 3, 0),
        offset=_first(fields, 4, 0),
        size=_first(fields, 5, 0),
    )


def _fields(message: bytes) -> dict[int, list]:
    """Protobuf wire format: field number -> values (ints or bytes), in order."""
    fields: dict[int, list] = {}
    pos = 0
    while pos < len(message):
        tag, pos = _varint(message, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(message, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", message, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(message, pos)
            value, pos = message[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", message, pos)[0], pos + 4
        else:
            raise ValueError(f"protobuf wire type {wire} not supported")
        if pos > len(message):
            raise ValueError("truncated protobuf message")
        fields.setdefault(number, []).append(value)
    return fields


def _first(fields: dict[int, list], number: int, default):
    return fields[number][0] if number in fields else default


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


# --- the sorted table (LevelDB format, as in tensorflow/core/lib/io/table.cc) --------


def _table_records(table: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Every (key, value) of the table, in key order."""
    if len(table) < FOOTER_SIZE:
        raise ValueError(f"{len(table)} bytes is shorter than a table footer")
    footer = table[-FOOTER_SIZE:]
    if struct.unpack("<Q", footer[-8:])[0] != TABLE_MAGIC:
        raise ValueError("bad table magic number")
    _, pos = _handle(footer, 0)  # the metaindex block: empty in checkpoints
    index_handle, _ = _handle(footer, pos)
    for _, value in _block_records(_block(table, index_handle)):
        handle, _ = _handle(value, 0)
        yield from _block_records(_block(table, handle))


def _handle(data: bytes, pos: int) -> tuple[tuple[int, int], int]:
    offset, pos = _varint(data, pos)
    size, pos = _varint(data, pos)
    return (offset, size), pos


def _block(table: bytes, handle: tuple[int, int]) -> bytes:
    """The contents of one block, its trailer's compression type and checksum checked."""
    offset, size = handle
    end = offset + size
    if end + BLOCK_TRAILER_SIZE > len(table) - FOOTER_SIZE:
        raise ValueError(f"block at {offset} runs past the end of the table")
    kind, crc = struct.unpack_from("<BI", table, end)
    if kind != 0:
        raise ValueError(f"compressed table blocks (type {kind}) are not supported")
    if _unmask(crc) != crc32c(table[offset : end + 1]):
        raise ValueError(f"checksum mismatch in the block at {offset}")
    return table[offset:end]


def _block_records(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Records of a block: keys share a prefix with the previous key (restart points ignored)."""
    if len(block) < 4:
        raise ValueError("block too short")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 * (restarts + 1)
    if limit < 0:
        raise ValueError("bad restart count")
    key, pos = b"", 0
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + length > limit:
            raise ValueError("malformed block record")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + length]
        pos += length


# --- CRC-32C (Castagnoli), as LevelDB masks it ---------------------------------------


@lru_cache(maxsize=1)
def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return tuple(table)


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (pure Python: for the small index blocks only)."""
    table, crc = _crc_table(), 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _unmask(masked: int) -> int:
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF
