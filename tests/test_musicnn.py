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
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cuefinder.errors import FeatureError, ModelFileError
from cuefinder.model import musicnn

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


def test_weights_load_without_the_musicnn_wheel(monkeypatch):
    """The shipped safetensors are all it reads: the wheel is a tool's, not the product's."""
    monkeypatch.setitem(sys.modules, "musicnn", None)  # makes `import musicnn` fail
    model = musicnn.load("MTT_musicnn")
    assert model.tags == musicnn.TAGS["MTT_musicnn"] and not model.training
    assert sorted(p.name for p in musicnn.WEIGHTS.glob("*.safetensors")) == [
        f"{name}.safetensors" for name in sorted(MODELS)
    ]
    assert (musicnn.WEIGHTS / "MUSICNN_LICENSE.md").is_file()


def _copy_weights(tmp_path: Path) -> Path:
    path = tmp_path / "weights.safetensors"
    shutil.copy(musicnn.WEIGHTS / "MSD_musicnn.safetensors", path)
    return path


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garble_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[8:40] = b"#" * 32  # inside the JSON header that follows its 8-byte length
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [Path.unlink, _truncate, _garble_header, lambda path: path.write_bytes(b"not weights")],
)
def test_damaged_weights_name_the_file(tmp_path, damage):
    path = _copy_weights(tmp_path)
    damage(path)
    with pytest.raises(ModelFileError, match="weights.safetensors"):
        musicnn.load("MSD_musicnn", path=path)


@pytest.mark.parametrize(
    "change",
    [
        lambda state: {},  # a network of another size
        lambda state: {k: v for k, v in state.items() if k != "classifier.bias"},
        lambda state: state | {"extra.weight": torch.zeros(1)},
    ],
)
def test_weights_of_another_network_are_refused(tmp_path, change):
    from safetensors.torch import save_file

    state = musicnn.Musicnn("MSD_musicnn").state_dict()
    other = change(state) or musicnn.Musicnn("MSD_musicnn", midend_filters=32).state_dict()
    save_file(other, tmp_path / "other.safetensors")
    with pytest.raises(ModelFileError, match="other.safetensors: not MSD_musicnn's weights"):
        musicnn.load("MSD_musicnn", path=tmp_path / "other.safetensors")
