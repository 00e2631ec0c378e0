"""How right the tempo estimate is on real music: the game soundtracks' tracker modules.

A tracker module (.mod, .s3m, .xm, .it; Scream Tracker 2 .stm is not parsed) states the
tempo it plays at: its header (for a .mod, the effects of its first row) sets a speed
(ticks per row) and a tempo (a tick lasts 2.5 / tempo s), and an .it file says how
many rows make a beat (its row highlight); the others assume 4, as trackers do. A row
lasts 2.5 * speed / tempo s and the reference is

    BPM = 24 * tempo / (speed * rows per beat)     (6 * tempo / speed at 4 rows a beat)

libopenmpt plays each module once (ctypes on libopenmpt.so, which ``openmpt123``
installs) and reports the speed and tempo in force every 10 ms: a module where one pair
holds under 99% of the time (Fxx, Txx, Axx effects mid-song) has no single reference and
is left out; where one pair holds throughout but is not the header's (the first row's
effects set it), that pair is the reference. libopenmpt's own BPM estimate, which also
reads the rows per beat, is checked against the formula. The audio is the file indexing
reads: the FLAC ``cuefinder dataset games`` rendered with ``openmpt123`` (or, for a
folder of modules given on the command line, rendered the same way), measured by
indexing's own decode stage (``stages.decode``: the model's log-mel, ``Accumulator``).

    python bench/bench_tempo.py [FOLDER] [--cache DIR] [--boot N] [--list]

Printed: how many modules and games, how many were left out and why, Accuracy1 (within
4% of the reference), Accuracy2 (within 4% of it, its half, double, third or triple:
the main figure, since the beat unit of a module is a convention), the median error,
each with a 95% interval from resampling games (tracks of one game share a composer);
a per-game table; and the same figures for librosa's ``beat.beat_track`` and
``feature.tempo`` on the same files (librosa's own loading at 22,050 Hz), and for
other priors of the index's estimator on the same onset envelope.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import io
import json
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import numpy as np
import soundfile

from cuefinder.datasets.game_audio import MODULE_SUFFIXES
from cuefinder.datasets.games import DEFAULT_CACHE

TOLERANCE = 0.04
MULTIPLES = (1.0, 2.0, 0.5, 3.0, 1 / 3)
SCAN_RATE = 8000  # Hz: libopenmpt plays each module this fast to follow its rows
SCAN_STEP = 80  # samples per read (10 ms): shorter than any row
STEADY = 0.99  # a module is steady when one speed and tempo hold this much of its time


# ------------------------------------------------------------------ module headers


@dataclass(frozen=True)
class Header:
    format: str  # "mod", "s3m", "xm", "it"
    speed: int  # ticks per row
    tempo: int  # a tick lasts 2.5 / tempo seconds
    rows_per_beat: int = 4  # stated by .it (row highlight); 4 elsewhere

    @property
    def bpm(self) -> float:
        return 24.0 * self.tempo / (self.speed * self.rows_per_beat)


def read_header(data: bytes) -> Header | None:
    """The initial speed, tempo and rows per beat a module states; None for a format
    not parsed here (.stm, 15-sample Soundtracker .mod) or a damaged header."""
    for parse in (_it, _xm, _s3m, _mod):
        try:
            found = parse(data)
        except (struct.error, IndexError):
            found = None
        if found is not None:
            return found
    return None


def _it(data: bytes) -> Header | None:
    """Impulse Tracker (and OpenMPT's .mptm): 'IMPM', highlight at 0x1E, IS/IT at 0x32."""
    if data[:4] != b"IMPM":
        return None
    minor, _major, speed, tempo = data[0x1E], data[0x1F], data[0x32], data[0x33]
    return Header("it", speed, tempo, minor or 4) if speed and tempo >= 32 else None


def _xm(data: bytes) -> Header | None:
    """FastTracker 2: 'Extended Module: ', default tempo (ticks) and BPM at 76 and 78."""
    if data[:17] != b"Extended Module: ":
        return None
    speed, tempo = struct.unpack_from("<HH", data, 76)
    return Header("xm", speed, tempo) if speed and tempo >= 32 else None


def _s3m(data: bytes) -> Header | None:
    """Scream Tracker 3: 'SCRM' at 0x2C, initial speed and tempo at 0x31 and 0x32."""
    if data[0x2C:0x30] != b"SCRM":
        return None
    speed, tempo = data[0x31], data[0x32]
    return Header("s3m", speed, tempo) if speed and tempo >= 32 else None


_MOD_CHANNELS = {
    b"M.K.": 4,
    b"M!K!": 4,
    b"FLT4": 4,
    b"4CHN": 4,
    b"6CHN": 6,
    b"8CHN": 8,
    b"FLT8": 8,
    b"OCTA": 8,
    b"CD81": 8,
}


def _mod(data: bytes) -> Header | None:
    """ProTracker and kin (31 samples, a tag at 1080): no tempo in the header; 6 ticks
    at 125 unless the first row played sets another with Fxx (under 32: speed, else
    tempo)."""
    tag = data[1080:1084]
    channels = _MOD_CHANNELS.get(tag)
    if channels is None and tag[2:] in (b"CH", b"CN") and tag[:2].isdigit():
        channels = int(tag[:2])
    if channels is None and tag[1:] == b"CHN" and tag[:1].isdigit():
        channels = int(tag[:1])
    if not channels:
        return None
    first = data[952]  # the pattern the order list starts with
    row = data[1084 + first * 64 * 4 * channels :][: 4 * channels]
    if len(row) < 4 * channels:
        return None
    speed, tempo = 6, 125
    for cell in range(channels):
        effect, value = row[4 * cell + 2] & 0x0F, row[4 * cell + 3]
        if effect == 0xF and value:
            speed, tempo = (value, tempo) if value < 32 else (speed, value)
    return Header("mod", speed, tempo)


# ------------------------------------------------------------------ playing (libopenmpt)


@dataclass
class Played:
    seconds: float  # how long one play-through (up to the asked limit) lasts
    states: Counter = field(default_factory=Counter)  # (speed, tempo) -> seconds in force
    estimated_bpm: Counter = field(default_factory=Counter)  # libopenmpt's BPM -> seconds


_P, _I32, _SIZE = ctypes.c_void_p, ctypes.c_int32, ctypes.c_size_t
_SIGNATURES = {  # libopenmpt's C functions used here: (return type, argument types)
    "openmpt_module_create_from_memory2": (
        _P,
        [_P, _SIZE, _P, _P, _P, _P, ctypes.POINTER(ctypes.c_int), _P, _P],
    ),
    "openmpt_module_destroy": (None, [_P]),
    "openmpt_module_select_subsong": (ctypes.c_int, [_P, _I32]),
    "openmpt_module_set_render_param": (ctypes.c_int, [_P, ctypes.c_int, _I32]),
    "openmpt_module_read_mono": (_SIZE, [_P, _I32, _SIZE, _P]),
    "openmpt_module_get_current_speed": (_I32, [_P]),
    "openmpt_module_get_current_tempo": (_I32, [_P]),
    "openmpt_module_get_current_estimated_bpm": (ctypes.c_double, [_P]),
}


@dataclass
class _Lib:
    lib: ctypes.CDLL

    @classmethod
    def load(cls) -> _Lib:
        name = ctypes.util.find_library("openmpt") or "libopenmpt.so.0"
        lib = ctypes.CDLL(name)
        for function, (restype, argtypes) in _SIGNATURES.items():
            getattr(lib, function).restype = restype
            getattr(lib, function).argtypes = argtypes
        return cls(lib)

    def play(self, data: bytes, limit: float) -> Played | None:
        """Play the module once (all subsongs, as openmpt123 does) for at most ``limit`` s;
        None when libopenmpt cannot open it."""
        lib, error = self.lib, ctypes.c_int(0)
        silent = ctypes.cast(lib.openmpt_log_func_silent, ctypes.c_void_p)
        ignore = ctypes.cast(lib.openmpt_error_func_ignore, ctypes.c_void_p)
        module = lib.openmpt_module_create_from_memory2(
            data, len(data), silent, None, ignore, None, ctypes.byref(error), None, None
        )
        if not module:
            return None
        try:
            lib.openmpt_module_select_subsong(module, -1)
            lib.openmpt_module_set_render_param(module, 3, 1)  # no interpolation: faster
            buffer = (ctypes.c_int16 * SCAN_STEP)()
            played, samples = Played(0.0), 0
            while samples < limit * SCAN_RATE:
                got = lib.openmpt_module_read_mono(module, SCAN_RATE, SCAN_STEP, buffer)
                if not got:
                    break
                samples += got
                step = got / SCAN_RATE
                state = (
                    lib.openmpt_module_get_current_speed(module),
                    lib.openmpt_module_get_current_tempo(module),
                )
                played.states[state] += step
                bpm = round(lib.openmpt_module_get_current_estimated_bpm(module), 3)
                played.estimated_bpm[bpm] += step
            played.seconds = samples / SCAN_RATE
            return played
        finally:
            lib.openmpt_module_destroy(module)


# ------------------------------------------------------------------ finding modules


@dataclass
class Module:
    game: str
    name: str
    data: bytes
    audio: Path  # the rendered file indexing reads


def cached_modules(cache: Path) -> list[Module]:
    """The tracker modules of the games cache: each rendered track whose origin is a
    module, its bytes read again from the package's .deb (the cache keeps the render)."""
    found = []
    for marker in sorted(cache.glob("music/*/.fetched.json")):
        folder, info = marker.parent, json.loads(marker.read_text())
        wanted = {
            e["origin"]: folder / track
            for track, e in info["tracks"].items()
            if PurePosixPath(e["origin"]).suffix.lower() in MODULE_SUFFIXES
        }
        if not wanted:
            continue
        members = _deb_members(cache / "debs" / info["deb"], wanted)
        for origin, audio in sorted(wanted.items()):
            if origin in members:
                found.append(Module(folder.name, origin, members[origin], audio))
            else:
                print(f"  {folder.name}: {origin} not found in {info['deb']}", file=sys.stderr)
    return found


def _deb_members(deb: Path, origins: dict[str, Path]) -> dict[str, bytes]:
    """The bytes of the package's files whose path ends with each origin (one match each)."""
    tar = subprocess.run(["dpkg", "--fsys-tarfile", str(deb)], capture_output=True, check=True)
    matches: dict[str, list[bytes]] = defaultdict(list)
    with tarfile.open(fileobj=io.BytesIO(tar.stdout), mode="r:") as archive:
        for member in archive:
            if not member.isfile():
                continue
            for origin in origins:
                if member.name.endswith("/" + origin):
                    matches[origin].append(archive.extractfile(member).read())
    return {origin: found[0] for origin, found in matches.items() if len(set(found)) == 1}


def folder_modules(folder: Path, work: Path) -> list[Module]:
    """Tracker modules under a folder (a game per sub-folder), each rendered as
    ``cuefinder dataset games`` renders them."""
    from cuefinder.datasets.game_audio import _render_module

    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in MODULE_SUFFIXES:
            copy = work / f"{len(found)}-{path.name}"
            shutil.copyfile(path, copy)
            parts = path.relative_to(folder).parts  # a game per top-level sub-folder
            game = parts[0] if len(parts) > 1 else folder.name
            found.append(Module(game, path.name, path.read_bytes(), _render_module(copy)))
    return found


# ------------------------------------------------------------------ measuring


@dataclass
class Row:
    game: str
    name: str
    reference: float
    header: Header
    seconds: float
    estimates: dict[str, float | None]
    confidence: float | None = None


PRIORS = {  # other priors for the index's estimator, (centre BPM, width in octaves or None)
    "index, no prior": (120.0, None),
    "index, prior 120 +-0.5 oct": (120.0, 0.5),
    "index, prior 100 +-1 oct": (100.0, 1.0),
    "index, prior 140 +-1 oct": (140.0, 1.0),
}


def prior_tempo(envelope: np.ndarray, fps: float, centre: float, width: float | None):
    """``descriptors.estimate_tempo``'s peak (without the sub-frame refinement) under
    another prior: the same middle 240 s, lags and autocorrelation."""
    import librosa

    from cuefinder.descriptors import MAX_BPM, MIN_BPM, TEMPO_SECONDS

    most = int(TEMPO_SECONDS * fps)
    if len(envelope) > most:
        first = (len(envelope) - most) // 2
        envelope = envelope[first : first + most]
    lags = np.arange(int(fps * 60 / MAX_BPM), int(fps * 60 / MIN_BPM) + 1)
    autocorrelation = librosa.autocorrelate(envelope - envelope.mean(), max_size=lags[-1] + 1)
    bpm = 60.0 * fps / lags
    prior = (
        np.ones_like(bpm) if width is None else np.exp(-0.5 * (np.log2(bpm / centre) / width) ** 2)
    )
    return float(bpm[int(np.argmax(autocorrelation[lags] * prior))])


def measure(module: Module, features) -> tuple[dict[str, float | None], float | None]:
    """The index's tempo (its decode stage) and the baselines' on one rendered file."""
    import librosa

    from cuefinder.descriptors import onset_envelope
    from cuefinder.pipeline import stages

    decoded = stages.decode(stages.task_for(module.audio), features)
    if not isinstance(decoded, stages.Decoded):
        raise RuntimeError(f"{module.audio}: {decoded}")
    tempo = decoded.descriptors.tempo if decoded.descriptors else None
    out: dict[str, float | None] = {"index (cuefinder)": tempo}
    envelope = onset_envelope(decoded.frames, features.sample_rate, features.hop_length)
    fps = features.sample_rate / features.hop_length
    for name, (centre, width) in PRIORS.items():
        out[name] = prior_tempo(envelope, fps, centre, width) if tempo else None
    out["librosa feature.tempo, index envelope"] = float(
        librosa.feature.tempo(
            onset_envelope=envelope, sr=features.sample_rate, hop_length=features.hop_length
        )[0]
    )
    y, sr = librosa.load(module.audio, sr=22050, mono=True)
    out["librosa beat.beat_track"] = float(np.atleast_1d(librosa.beat.beat_track(y=y, sr=sr)[0])[0])
    out["librosa feature.tempo"] = float(librosa.feature.tempo(y=y, sr=sr)[0])
    confidence = decoded.descriptors.tempo_confidence if decoded.descriptors else None
    return out, confidence


# ------------------------------------------------------------------ scoring


def scores(rows: list[Row], method: str) -> tuple[float, float, float]:
    """(Accuracy1, Accuracy2, median relative error) of a method over rows."""
    acc1, acc2, errors = [], [], []
    for row in rows:
        got, want = row.estimates[method] or 0.0, row.reference
        acc1.append(abs(got - want) <= TOLERANCE * want)
        acc2.append(any(abs(got - want * m) <= TOLERANCE * want * m for m in MULTIPLES))
        errors.append(abs(got - want) / want)
    return float(np.mean(acc1)), float(np.mean(acc2)), float(np.median(errors))


def game_bootstrap(rows: list[Row], reps: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Per method, (reps, 3) ``scores`` of samples that resample the games with replacement
    (the same samples for every method, so that differences pair)."""
    by_game = defaultdict(list)
    for row in rows:
        by_game[row.game].append(row)
    games = sorted(by_game)
    rng = np.random.default_rng(seed)
    draws = defaultdict(list)
    for _ in range(reps):
        sample = [r for g in rng.integers(0, len(games), len(games)) for r in by_game[games[g]]]
        for method in rows[0].estimates:
            draws[method].append(scores(sample, method))
    return {method: np.asarray(found) for method, found in draws.items()}


def _interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "folder", nargs="?", type=Path, help="modules under this folder instead of the games cache"
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--list", action="store_true", help="print every module's figures")
    args = parser.parse_args(argv)
    started = time.monotonic()

    from cuefinder.model.checkpoint import default_model_path
    from cuefinder.pipeline import stages

    features = stages.tagger_for(default_model_path()).features
    with tempfile.TemporaryDirectory() as work:
        if args.folder:
            modules = folder_modules(args.folder, Path(work))
        else:
            modules = cached_modules(args.cache)
        lib = _Lib.load()
        rows, left_out, notes = [], Counter(), Counter()
        for module in modules:
            header = read_header(module.data)
            if header is None:
                left_out["header not parsed (.stm, 15-sample .mod)"] += 1
                continue
            seconds = soundfile.info(module.audio).duration
            played = lib.play(module.data, seconds + 1.0)
            if played is None:
                left_out["libopenmpt cannot open it"] += 1
                continue
            (speed, tempo), held = played.states.most_common(1)[0]
            if held < STEADY * sum(played.states.values()):
                left_out["speed or tempo changes while it plays"] += 1
                if args.list:
                    top = ", ".join(
                        f"{s}/{t}: {d:.0f} s" for (s, t), d in played.states.most_common(4)
                    )
                    print(f"  changes  {module.game}/{module.name}: {top}")
                continue
            if (speed, tempo) != (header.speed, header.tempo):  # set by the first row's effects
                notes["speed/tempo set by the first row, not the header (libopenmpt's)"] += 1
                header = replace(header, speed=speed, tempo=tempo)
            if seconds < 8.0:
                left_out["under 8 s (indexing gives no tempo)"] += 1
                continue
            estimated = played.estimated_bpm.most_common(1)[0][0]
            if abs(estimated - header.bpm) > 0.01 * header.bpm:
                print(
                    f"  note: {module.game}/{module.name}: libopenmpt estimates "
                    f"{estimated:.1f} BPM, header {header.bpm:.1f}"
                )
            estimates, confidence = measure(module, features)
            rows.append(
                Row(module.game, module.name, header.bpm, header, seconds, estimates, confidence)
            )
            if args.list:
                print(
                    f"  {module.game}/{module.name} [{header.format} speed {header.speed} "
                    f"tempo {header.tempo} rpb {header.rows_per_beat}] ref "
                    f"{header.bpm:6.1f}  index {estimates['index (cuefinder)'] or 0:6.1f} "
                    f"(conf {confidence or 0:.2f})  beat_track "
                    f"{estimates['librosa beat.beat_track']:6.1f}"
                )
    report(modules, rows, left_out, notes, args.boot)
    print(f"({time.monotonic() - started:.0f} s)")


def report(
    modules: list[Module], rows: list[Row], left_out: Counter, notes: Counter, reps: int
) -> None:
    games = sorted({r.game for r in rows})
    formats = Counter(r.header.format for r in rows)
    print(
        f"\n{len(modules)} tracker modules in {len({m.game for m in modules})} games; "
        f"{len(rows)} with one constant tempo kept, from {len(games)} games "
        f"({', '.join(f'{n} {f}' for f, n in formats.most_common())})"
    )
    for reason, n in left_out.most_common():
        print(f"  left out: {n} {reason}")
    for note, n in notes.most_common():
        print(f"  kept: {n} with the {note}")
    if not rows:
        return
    rpb = Counter(r.header.rows_per_beat for r in rows)
    refs = np.array([r.reference for r in rows])
    print(
        f"  rows per beat: {dict(rpb)}; reference {refs.min():.0f} to {refs.max():.0f} BPM "
        f"(median {np.median(refs):.0f})\n"
    )
    draws = game_bootstrap(rows, reps)
    index = "index (cuefinder)"
    print(
        f"{'method':<40} {'Accuracy1':>17} {'Accuracy2':>17} {'median error':>21}"
        f"   {'Acc1 - index':>19} {'Acc2 - index':>19}"
    )
    for method, drawn in draws.items():
        point = scores(rows, method)
        cells = []
        for k, form in enumerate(("{:.2f}", "{:.2f}", "{:.1%}")):
            low, high = _interval(drawn[:, k])
            cells.append(f"{form.format(point[k])} ({form.format(low)}-{form.format(high)})")
        if method != index:  # paired: the same game samples
            base = scores(rows, index)
            for k in (0, 1):
                low, high = _interval(drawn[:, k] - draws[index][:, k])
                cells.append(f"{point[k] - base[k]:+.2f} ({low:+.2f} {high:+.2f})")
        print(
            f"{method:<40} {cells[0]:>17} {cells[1]:>17} {cells[2]:>21}   "
            + " ".join(f"{c:>19}" for c in cells[3:])
        )
    print(
        f"\n{'game':<22} {'kept':>4} {'ref BPM':>11} {'Acc1':>5} {'Acc2':>5} {'median err':>10}"
        f"   librosa beat_track Acc1/Acc2"
    )
    for game in games:
        mine = [r for r in rows if r.game == game]
        a1, a2, med = scores(mine, "index (cuefinder)")
        b1, b2, _ = scores(mine, "librosa beat.beat_track")
        ref = [r.reference for r in mine]
        span = f"{min(ref):.0f}-{max(ref):.0f}" if min(ref) != max(ref) else f"{ref[0]:.0f}"
        print(
            f"{game:<22} {len(mine):>4} {span:>11} {a1:>5.2f} {a2:>5.2f} {med:>10.1%}"
            f"   {b1:.2f}/{b2:.2f}"
        )
    ratios = Counter()
    for row in rows:
        got = row.estimates["index (cuefinder)"] or 0.0
        ratio = min(MULTIPLES + (2 / 3, 1.5, 4.0, 0.25), key=lambda m: abs(got - row.reference * m))
        near = abs(got - row.reference * ratio) <= TOLERANCE * row.reference * ratio
        ratios[f"{ratio:.2f}" if near else "other"] += 1
    print(
        "\nindex estimate / reference: " + ", ".join(f"{k}x {v}" for k, v in sorted(ratios.items()))
    )


if __name__ == "__main__":
    main()
