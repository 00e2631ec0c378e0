"""The musicnn reference implementation beside cuefinder's local and Ray runners, one table.

    python bench/bench_reference.py [FILES_OR_FOLDERS...] [--tf-env /tmp/tfenv] [--jobs N]
        [--reference-model MTT_musicnn] [--batch-size 1] [--gain 0.1] [--no-ray] [--every N]

Default input: the files of ``make bench`` (the demo game soundtracks, ``bench_index.py``).
The reference is musicnn's own code, ``musicnn.extractor.extractor(file, model)``:
librosa decodes and resamples to 16 kHz, computes the log-mel, and TensorFlow 1-style
graph code tags 3 s patches. TensorFlow is never a dependency of cuefinder: the script
runs the extractor in a throwaway environment (``--tf-env``), made on first use by

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install "tensorflow-cpu==2.21.*" tf_keras librosa
    /tmp/tfenv/bin/pip install --no-deps musicnn==0.1.0

and reused afterwards (as ``tests/data/make_musicnn_reference.py`` builds it).

What each row times:
- musicnn reference: one process of that environment, from its start to its last file:
  Python and TensorFlow's import, then per file everything ``extractor`` does (building
  the graph and restoring the checkpoint, which it does for every call; decoding,
  resampling and the log-mel with librosa; the network over back-to-back patches, tags
  only). TensorFlow's own threads use every core. The import, decode + log-mel
  (``batch_data``) and graph + network shares are printed below it.
- cuefinder, local runner: ``cuefinder index`` into a fresh catalog with ``--jobs`` worker
  processes (discovery, hashing, decoding, log-mel, the network, the descriptors, the
  catalog writes); again without the descriptors.
- cuefinder, Ray runner: the same on a local Ray, its start and stop included; then on
  a Ray already running (started before and stopped after, untimed, as a cluster's Ray
  outlives an index run).

``configuration.BATCH_SIZE`` stays at musicnn's default of 1 (patches per session run): its
taggram is right at any size (only its features go wrong, which are not asked for here),
and larger batches were no faster here. The extractor computes its log-mel in float16,
which overflows to inf above a mel power of about 6.55 (common at full level) and then
tags such patches alike; ``--gain`` (default -20 dB) scales the decoded samples before the
log-mel so its tags are well defined, at no measurable cost. The patches that still
overflowed are counted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TF_PACKAGES = (["tensorflow-cpu==2.21.*", "tf_keras", "librosa"], ["--no-deps", "musicnn==0.1.0"])
TF_MODULES = ("tensorflow", "tf_keras", "librosa", "musicnn")
TF_ENVIRON = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def tf_python(env: Path) -> Path:
    """The Python of the TensorFlow env at ``env``, made (and filled) only if it lacks a
    module; exits with the failing command and its last lines when it cannot be made."""
    python = env / "bin" / "python"
    probe = "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in %r))"
    if python.exists() and subprocess.run([python, "-c", probe % (TF_MODULES,)]).returncode == 0:
        return python
    print(f"making the TensorFlow env at {env} (TensorFlow, librosa, musicnn)", flush=True)
    steps = [] if python.exists() else [[sys.executable, "-m", "venv", str(env)]]
    steps += [[str(python), "-m", "pip", "install", "--quiet", *p] for p in TF_PACKAGES]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            told = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            command = " ".join(step)
            sys.exit(f"cannot make the reference's TensorFlow env at {env}: `{command}` failed "
                     f"(exit {done.returncode}):\n{told}\ncuefinder itself needs no TensorFlow;"
                     " the reference needs this env (or --tf-env PATH of one)")  # fmt: skip
    return python


def reference(python: Path, files: list[str], model: str, batch: int, gain: float) -> dict:
    """Run the extractor over ``files`` in the TensorFlow env; its figures, ``wall``
    (the whole process) included."""
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"files": files, "model": model, "batch": batch, "gain": gain}))
        started = time.monotonic()
        command = [str(python), __file__, "--tf-stage", str(job)]
        done = subprocess.run(command, env=os.environ | TF_ENVIRON, capture_output=True, text=True)
        wall = time.monotonic() - started
        if done.returncode != 0:
            told = "\n".join(done.stderr.strip().splitlines()[-20:])
            sys.exit(f"the musicnn reference failed (exit {done.returncode}):\n{told}")
        return json.loads(job.with_suffix(".out.json").read_text()) | {"wall": wall}


def tf_stage(job_file: Path) -> None:
    """In the TensorFlow env: musicnn's extractor over the job's files, timed."""
    import contextlib
    import io
    import platform

    started = time.monotonic()
    import librosa
    import numpy as np
    import tensorflow as tf
    from musicnn import configuration, extractor

    imported = time.monotonic() - started
    job = json.loads(job_file.read_text())
    configuration.BATCH_SIZE = job["batch"]
    gain = np.float32(job["gain"])
    figures = {"audio": 0.0, "decode": 0.0, "extractor": 0.0, "patches": 0, "overflowed": 0}
    load, batch_data = librosa.load, extractor.batch_data

    def attenuated(*args, **kwargs):
        samples, rate = load(*args, **kwargs)
        figures["audio"] += len(samples) / rate
        return samples * gain, rate

    def timed_batch_data(*args):
        began = time.monotonic()
        batch, log_mel = batch_data(*args)
        figures["decode"] += time.monotonic() - began
        figures["patches"] += len(batch)
        figures["overflowed"] += int((~np.isfinite(batch)).any(axis=(1, 2)).sum())
        return batch, log_mel

    librosa.load, extractor.batch_data = attenuated, timed_batch_data
    failed, tagged = [], 0
    for path in job["files"]:
        began = time.monotonic()
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # its "Computing ..." lines
                extractor.extractor(path, model=job["model"], extract_features=False)
            tagged += 1
        except Exception as err:  # e.g. shorter than one patch: batch_data makes no batch
            failed.append(f"{path}: {type(err).__name__}: {err}")
        figures["extractor"] += time.monotonic() - began
    versions = {"tensorflow": tf.__version__, "librosa": librosa.__version__,
                "numpy": np.__version__, "python": platform.python_version()}  # fmt: skip
    figures |= {"import": imported, "tagged": tagged, "failed": failed, "versions": versions}
    job_file.with_suffix(".out.json").write_text(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--tf-env", type=Path, default=Path("/tmp/tfenv"),
                        help="the throwaway TensorFlow env (made if missing)")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=os.cpu_count(),
                        help="cuefinder's worker processes")  # fmt: skip
    parser.add_argument("--model", type=Path, help="cuefinder model (default: built-in)")
    parser.add_argument("--reference-model", default="MTT_musicnn",
                        help="musicnn model (the extractor's default)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=1,
                        help="musicnn's configuration.BATCH_SIZE (its default)")  # fmt: skip
    parser.add_argument("--gain", type=float, default=0.1,
                        help="sample scale before the float16 log-mel (1: as decoded)")  # fmt: skip
    parser.add_argument("--no-ray", action="store_true", help="leave out the Ray runner")
    parser.add_argument(
        "--every", type=int, default=1, metavar="N", help="every Nth file found, in path order"
    )
    parser.add_argument("--tf-stage", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tf_stage:
        tf_stage(args.tf_stage)
        return
    python = tf_python(args.tf_env)  # before anything slow: a missing env fails first

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_index import demo_paths, local_run, ray_run, sample

    from cuefinder.model import checkpoint

    paths = args.paths or demo_paths()
    model = args.model or checkpoint.default_model_path()
    files, paths = sample(paths, args.every)
    print(f"{len(files)} files, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the start", flush=True)  # fmt: skip
    rows = []  # (label, files tagged, failed, audio s, wall s)
    for descriptors in (True, False):
        report = local_run(paths, model, args.jobs, descriptors=descriptors)
        label = f"cuefinder, local runner ({args.jobs} jobs{'' if descriptors else ', no descr.'})"
        rows.append((label, report.indexed, len(report.failed), report.audio_seconds,
                     report.wall_seconds))  # fmt: skip
    if not args.no_ray:
        for running, what in ((False, "local Ray"), (True, "Ray running")):
            report, wall = ray_run(paths, model, running=running)
            label = f"cuefinder, Ray runner ({what}, {os.cpu_count()} CPUs)"
            rows.append((label, report.indexed, len(report.failed), report.audio_seconds, wall))
    ref = reference(python, files, args.reference_model, args.batch_size, args.gain)
    rows.append((f"musicnn reference ({args.reference_model}, TensorFlow)", ref["tagged"],
                 len(ref["failed"]), ref["audio"], ref["wall"]))  # fmt: skip

    print(f"{'runner':<50}{'files':>7}{'failed':>8}{'audio min':>11}{'wall s':>9}"
          f"{'x real time':>13}{'vs ref':>8}")  # fmt: skip
    ref_speed = ref["audio"] / ref["wall"]
    for label, tagged, failed, audio, wall in rows:
        speed = audio / wall
        print(f"{label:<50}{tagged:>7}{failed:>8}{audio / 60:>11.1f}{wall:>9.1f}"
              f"{speed:>13.0f}{speed / ref_speed:>7.1f}x")  # fmt: skip
    network = ref["extractor"] - ref["decode"]
    print(f"  reference: TensorFlow import {ref['import']:.1f} s, decode + log-mel (librosa) "
          f"{ref['decode']:.1f} s, graph + checkpoint + network {network:.1f} s; "
          f"{ref['patches']} patches, {ref['overflowed']} with an overflowed float16 log-mel "
          f"(gain {args.gain:g}); BATCH_SIZE {args.batch_size}")  # fmt: skip
    versions = ", ".join(f"{k} {v}" for k, v in ref["versions"].items())
    print(f"  reference env: {args.tf_env} ({versions})")
    for line in ref["failed"]:
        print(f"  reference failed: {line}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
