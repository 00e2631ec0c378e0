"""Make tests/data/musicnn_reference.{npz,json}: musicnn's own TensorFlow code on real music.

``tests/test_musicnn.py`` checks ``cuefinder.model.musicnn`` against these outputs.
TensorFlow is never a dependency of cuefinder; it lives in a throwaway environment:

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install "tensorflow-cpu==2.21.*" tf_keras librosa
    /tmp/tfenv/bin/pip install --no-deps musicnn==0.1.0
    .venv/bin/python tests/data/make_musicnn_reference.py --tf-python /tmp/tfenv/bin/python

Stage 1 (the project's venv) fetches the game soundtracks as ``tests/conftest.py`` does,
cuts the EXCERPTS below with cuefinder's decoder (``cut_excerpt``, which the test calls
too, so both sides see the same samples) and writes them as 16 kHz float32 WAV files to
a temporary folder. Stage 2 (this script again, run by the TensorFlow env's Python with
``--tf-stage``) runs ``musicnn.extractor.extractor(wav, model=..., extract_features=True)``
on each and keeps its taggram, ``penultimate`` and ``max_pool`` features, plus the
log-mel input its ``batch_data`` computes. Only the outputs are committed, no audio.

The excerpts are attenuated by 20 dB: the extractor computes ``log10(10000 * mel + 1)``
in float16, which overflows to inf for mel power above ~6.55, common at full level, and
then gives every such patch the same tags. At -20 dB its output is well defined.

The extractor runs with ``configuration.BATCH_SIZE`` raised above the number of patches:
at its default of 1, the features it returns for every patch after the first are the
first patch's (it concatenates the variables of the first batch; the taggram is right).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "musicnn_reference"
SAMPLE_RATE = 16000
GAIN = 0.1  # -20 dB, see the module docstring
MODELS = ("MSD_musicnn", "MTT_musicnn")
FEATURES = ("penultimate", "max_pool")
EXCERPTS = (  # (file under the games' music folder, start s, length s, extractor hop s)
    ("funnyboat/JDruid-Trip_on_the_Funny_Boat.ogg", 20.0, 20.0, None),
    ("scorched3d-data/mix3_loop1.ogg", 40.0, 20.0, None),
    ("xblast-tnt-musics/xbsng1.wav", 10.0, 20.0, 1.0),
)
PACKAGES = sorted({name.split("/")[0] for name, *_ in EXCERPTS})
COMMAND = "python tests/data/make_musicnn_reference.py --tf-python /tmp/tfenv/bin/python"


def cut_excerpt(music_root: Path, name: str, start: float, seconds: float):
    """The excerpt as mono float32 at 16 kHz: cuefinder's decoder, then the gain."""
    import numpy as np

    from cuefinder import audio

    samples = audio.load(music_root / name, sample_rate=SAMPLE_RATE, max_seconds=start + seconds)
    begin = int(round(start * SAMPLE_RATE))
    excerpt = samples[begin : begin + int(round(seconds * SAMPLE_RATE))]
    assert len(excerpt) == int(round(seconds * SAMPLE_RATE)), f"{name} is too short"
    return (excerpt * np.float32(GAIN)).astype(np.float32)


def digest(samples) -> str:
    return hashlib.sha256(samples.tobytes()).hexdigest()


def make(tf_python: str) -> None:
    """Stage 1: cut the excerpts, run stage 2 on them, write the fixture."""
    import av
    import numpy as np
    import soundfile as sf

    from cuefinder.datasets import games

    music_root = games.fetch_games(PACKAGES)
    with tempfile.TemporaryDirectory() as tmp:
        sources = []
        for i, (name, start, seconds, hop) in enumerate(EXCERPTS):
            samples = cut_excerpt(music_root, name, start, seconds)
            sf.write(f"{tmp}/{i}.wav", samples, SAMPLE_RATE, subtype="FLOAT")
            sources.append(
                {"file": name, "start": start, "seconds": seconds, "hop_seconds": hop,
                 "gain": GAIN, "sha256_float32": digest(samples)}
            )  # fmt: skip
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
        subprocess.run([tf_python, __file__, "--tf-stage", tmp], check=True, env=env)
        arrays = dict(np.load(f"{tmp}/tf.npz"))
        versions = json.loads(Path(f"{tmp}/versions.json").read_text())
    np.savez_compressed(OUTPUT.with_suffix(".npz"), **arrays)
    meta = {
        "what": "musicnn.extractor.extractor(wav, model, input_overlap=hop_seconds or False, "
        "extract_features=True) on real game music, with musicnn.configuration.BATCH_SIZE "
        "= 4096; input_<i> is batch_data's log-mel",
        "command": COMMAND,
        "excerpts": sources,
        "models": list(MODELS),
        "features": list(FEATURES),
        "reference_env": versions,
        "excerpt_env": {"python": platform.python_version(), "av": av.__version__},
        "arrays": {key: [list(value.shape), str(value.dtype)] for key, value in arrays.items()},
    }
    OUTPUT.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {OUTPUT}.npz ({OUTPUT.with_suffix('.npz').stat().st_size} bytes) and .json")


def tf_stage(folder: str) -> None:
    """Stage 2, in the TensorFlow env: musicnn's own extractor on each excerpt."""
    import librosa
    import numpy as np
    import tensorflow as tf
    from musicnn import configuration, extractor

    configuration.BATCH_SIZE = 4096  # one batch: see the module docstring
    out = {}
    for i, (_, _, _, hop) in enumerate(EXCERPTS):
        wav = f"{folder}/{i}.wav"
        _, log_mel = extractor.batch_data(wav, 187, 187)
        if not np.isfinite(log_mel).all():
            sys.exit(f"excerpt {i}: the extractor's float16 log-mel overflows; lower GAIN")
        out[f"input_{i}"] = log_mel  # (frames, 96) float16
        for model in MODELS:
            tags, _, features = extractor.extractor(
                wav, model=model, input_overlap=hop or False, extract_features=True
            )
            out[f"{model}_tags_{i}"] = np.asarray(tags, np.float32)
            for key in FEATURES:
                out[f"{model}_{key}_{i}"] = np.asarray(features[key], np.float32)
    np.savez(f"{folder}/tf.npz", **out)
    versions = {
        "tensorflow": tf.__version__,
        "librosa": librosa.__version__,
        "numpy": np.__version__,
        "musicnn": "0.1.0",
        "python": platform.python_version(),
    }
    Path(f"{folder}/versions.json").write_text(json.dumps(versions))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tf-python", help="Python of an env with tensorflow, librosa, musicnn")
    parser.add_argument("--tf-stage", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tf_stage:
        tf_stage(args.tf_stage)
    elif args.tf_python:
        make(args.tf_python)
    else:
        parser.error("give --tf-python")
