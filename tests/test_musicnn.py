"""musicnn in PyTorch equals musicnn in TensorFlow, on real music.

The reference (tests/data/musicnn_reference.{npz,json}) is musicnn's own extractor
run by TensorFlow 2.21 on three excerpts of the game soundtracks; its docstring in
tests/data/make_musicnn_reference.py says how to regenerate it. The excerpts are cut
again here from the cached soundtracks with the same function.

Tolerances (absolute): tag probabilities 1e-3 from audio (measured: under 1e-5), 1e-4
from TensorFlow's own input patches (measured: under 3e-6); the 200-value embedding the
same; ``max_pool`` (values up to ~100) 1e-5 of its largest value.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cuefinder.errors import FeatureError, ModelFileError
from cuefinder.model import musicnn, tf_checkpoint

pytestmark = pytest.mark.slow  # not in `make test-fast`

DATA = Path(__file__).parent / "data"
MODELS = tuple(musicnn.TAGS)


@functools.cache
def _reference_script():
    spec = importlib.util.spec_from_file_location("make_ref", DATA / "make_musicnn_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference() -> tuple[dict, dict]:
    meta = json.loads((DATA / "musicnn_reference.json").read_text())
    with np.load(DATA / "musicnn_reference.npz") as arrays:
        return meta, dict(arrays)


@pytest.fixture(scope="module")
def excerpts(music_root, reference) -> list[np.ndarray]:
    script, (meta, _) = _reference_script(), reference
    out = []
    for source in meta["excerpts"]:
        samples = script.cut_excerpt(music_root, source["file"], source["start"], source["seconds"])
        out.append(samples)
    return out


@pytest.fixture(scope="module")
def models() -> dict[str, musicnn.Musicnn]:
    return {name: musicnn.load(name) for name in MODELS}


def _provenance(samples: np.ndarray, source: dict) -> str:
    """For failure messages: whether the decoder still gives the reference's samples."""
    same = _reference_script().digest(samples) == source["sha256_float32"]
    return f"{source['file']}: audio {'identical to' if same else 'DIFFERENT from'} the reference's"


def _hop_frames(source: dict) -> int:
    hop = source["hop_seconds"]
    return musicnn.PATCH_FRAMES if hop is None else musicnn._seconds_to_frames(hop)


def test_tag_lists_are_musicnns():
    from musicnn import configuration  # plain constants, no TensorFlow

    assert musicnn.TAGS["MSD_musicnn"] == tuple(configuration.MSD_LABELS)
    assert musicnn.TAGS["MTT_musicnn"] == tuple(configuration.MTT_LABELS)
    assert all(len(tags) == len(set(tags)) == 50 for tags in musicnn.TAGS.values())


def test_features_match_the_extractor(excerpts, reference):
    """Same frames and values, but for a few mels rounded to the other float16 neighbour.

    A mel value one float16 step (2**-10 relative at most) away moves its log by up to
    log10(1 + 2**-10) < 4.3e-4; the result's own float16 rounding adds one step more.
    """
    meta, arrays = reference
    for i, (samples, source) in enumerate(zip(excerpts, meta["excerpts"], strict=True)):
        ours, theirs = musicnn.musicnn_features(samples), arrays[f"input_{i}"]
        assert ours.shape == theirs.shape == (1 + len(samples) // 256, 96)
        bound = 4.3e-4 + np.spacing(theirs).astype(np.float32)
        error = np.abs(ours - theirs.astype(np.float32))
        assert np.all(error <= bound), _provenance(samples, source)
        assert np.mean(error == 0) > 0.999, _provenance(samples, source)


@pytest.mark.parametrize("name", MODELS)
def test_network_matches_tensorflow_on_its_own_input(name, models, reference):
    meta, arrays = reference
    for i, source in enumerate(meta["excerpts"]):
        batch = musicnn.patches(arrays[f"input_{i}"].astype(np.float32), _hop_frames(source))
        with torch.inference_mode():
            out = models[name].layers(torch.from_numpy(batch))
        tf = {key: arrays[f"{name}_{key}_{i}"] for key in ("tags", "penultimate", "max_pool")}
        np.testing.assert_allclose(torch.sigmoid(out["logits"]), tf["tags"], rtol=0, atol=1e-4)
        np.testing.assert_allclose(out["penultimate"], tf["penultimate"], rtol=0, atol=1e-4)
        scale = np.abs(tf["max_pool"]).max()
        np.testing.assert_allclose(out["max_pool"], tf["max_pool"], rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("name", MODELS)
def test_taggram_matches_tensorflow_on_real_audio(name, models, excerpts, reference):
    meta, arrays = reference
    for i, (samples, source) in enumerate(zip(excerpts, meta["excerpts"], strict=True)):
        result = musicnn.taggram(models[name], samples, hop_seconds=source["hop_seconds"])
        tags, embedding = arrays[f"{name}_tags_{i}"], arrays[f"{name}_penultimate_{i}"]
        assert result.tags.shape == tags.shape and result.embeddings.shape == embedding.shape
        why = _provenance(samples, source)
        np.testing.assert_allclose(result.tags, tags, rtol=0, atol=1e-3, err_msg=why)
        np.testing.assert_allclose(result.embeddings, embedding, rtol=0, atol=1e-3, err_msg=why)
        assert result.labels == musicnn.TAGS[name]
        assert result.starts[1] == pytest.approx(_hop_frames(source) * 256 / 16000)
    assert len(set(np.round(result.tags[:, 0], 4))) > 1  # patches are told apart


def test_loud_music_stays_finite_where_the_extractor_overflows(models, funnyboat):
    """At full level, float16 ``10000 * mel`` overflows; our features keep float32 there."""
    from cuefinder import audio

    samples = audio.load(funnyboat, sample_rate=16000, max_seconds=40)[16000 * 20 :]
    features = musicnn.musicnn_features(samples)
    assert np.isfinite(features).all()
    assert features.max() > np.log10(65504)  # bins the extractor would have made inf
    result = musicnn.taggram(models["MSD_musicnn"], samples)
    assert np.isfinite(result.tags).all() and np.ptp(result.tags, axis=0).max() > 0.01


def test_forward_shapes_and_any_length(models):
    model = models["MSD_musicnn"]
    with torch.inference_mode():
        tags, embedding = model(torch.zeros(2, 300, 96))
    assert tags.shape == (2, 50) and embedding.shape == (2, 200)
    assert not model.training
    with pytest.raises(ValueError, match="96"):
        model(torch.zeros(2, 96, 187))


@pytest.mark.parametrize(
    "audio, match",
    [
        (np.zeros(16000 * 2, np.float32), "at least 3 s"),
        (np.full(16000 * 4, np.nan, np.float32), "not finite"),
        (np.zeros((16000 * 4, 2), np.float32), "mono"),
    ],
)
def test_bad_audio_raises_feature_error(models, audio, match):
    with pytest.raises(FeatureError, match=match):
        musicnn.taggram(models["MSD_musicnn"], audio)


def test_unknown_model_name():
    with pytest.raises(ModelFileError, match="MSD_musicnn"):
        musicnn.load("MSD_vggish")


def test_musicnn_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "musicnn", None)  # makes `import musicnn` fail
    with pytest.raises(ModelFileError, match="pip install --no-deps musicnn==0.1.0"):
        musicnn.load()


def _copy_checkpoint(tmp_path: Path) -> Path:
    source = Path(musicnn._wheel_checkpoint("MSD_musicnn"))
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
        musicnn.load("MSD_musicnn", path=prefix)


def test_checkpoint_of_another_network_is_refused(tmp_path):
    prefix = tmp_path / "vgg"
    source = Path(musicnn._wheel_checkpoint("MSD_musicnn")).parent / "MSD_vgg"
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(source / suffix, f"{prefix}{suffix}")
    with pytest.raises(ModelFileError, match="vgg.index"):
        musicnn.load("MSD_musicnn", path=prefix)


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
        shared = len(next((p for p in (key[:n] for n in range(len(key), -1, -1))
                           if previous.startswith(p)), b""))  # fmt: skip
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
