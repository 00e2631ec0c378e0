"""What every section shares: the scales, a section's record, real audio, a library
that changes between runs."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

SOURCES = {  # package: files, the shortest real tracks of the test set's games
    "chromium-bsu-data": ("music_game.wav", "music_menu.wav"),
    "xblast-tnt-musics": ("xbsng2.wav", "xbsng3.wav", "xbsng4.wav", "xbsng6.wav"),
    "scorched3d-data": ("mix3_loop3.ogg",),
    "abe-data": ("game.ogg",),
}
CUT_SECONDS = 12.0  # the longer sources are cut to this (real audio, shorter to index)
ERROR_PREFIX = "cuefinder: error: "
# what no response may hold: /etc/passwd, a catalog, the marked outside file, Python source
LEAKS = (b"root:x:0:0", b"SQLite format 3", b"SECRET-OUTSIDE", b"from __future__", b"Traceback")


@dataclass(frozen=True)
class Scale:
    """How much of each section a run does."""

    name: str
    kills: int  # kill-loop rounds (each a run killed at a point or at random)
    verify_every: int  # a clean rerun and a full check after this many kills
    library: int  # files in the kill loop's library
    concurrent: int  # rounds of two indexers at once
    grammar: int  # Hypothesis examples per target (parse_query, search, similar)
    api: int  # schemathesis examples per operation
    probe_depths: tuple[int, ...]  # how many "../" in a traversal probe
    index_bomb: bool  # the 6 h bomb in an index run (about two minutes of CPU)
    damage: tuple[int, ...] | None  # which damage cases (None: all)
    clock: tuple[float, ...]  # clock shifts, in turn, of the moved-clock case
    readers: tuple[str, ...]  # commands run against damaged catalogs and full disks
    full: bool  # the slower extra cases (the bomb as a reference on the command line)


SHORT = Scale("short", kills=4, verify_every=4, library=6, concurrent=1, grammar=150, api=0,
              probe_depths=(3,), index_bomb=False, damage=(0, 7, 9), clock=(),
              readers=("search", "show"), full=False)  # fmt: skip
LONG = Scale("long", kills=30, verify_every=5, library=12, concurrent=6, grammar=2000, api=50,
             probe_depths=(1, 2, 3, 5, 8), index_bomb=True, damage=None,
             clock=(3600.0, -3600.0, 0.0), readers=("search", "show", "similar", "export",
                                                     "catalog"), full=True)  # fmt: skip
# the reading commands' arguments (show and similar are given a catalogued file)
READERS = {
    "search": ["search", "action"],
    "export": ["export", "--format", "json"],
    "catalog": ["catalog", "check"],
}


@dataclass
class Section:
    """One section's figures, its problems (each a line), and what it could not do."""

    name: str
    figures: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = None

    def add(self, key: str, n: float = 1) -> None:
        self.figures[key] = self.figures.get(key, 0) + n

    def problem(self, text: str) -> None:
        self.problems.append(text)


class Skip(Exception):
    """A section that cannot run here (the reason goes into the report)."""


# -- real audio -------------------------------------------------------------------


def sources(music_root: Path | None = None, folder: Path | None = None) -> list[Path]:
    """Eight real tracks of distinct content, each at most ``CUT_SECONDS`` long (cut from
    the game soundtracks of the test set, fetched once into the user cache)."""
    import soundfile

    if music_root is None:
        from cuefinder.datasets import games

        music_root = games.fetch_games(tuple(SOURCES))
    folder = folder or Path(tempfile.mkdtemp(prefix="cuefinder-reliability-src-"))
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for package, names in SOURCES.items():
        for name in names:
            original = music_root / package / name
            made = folder / f"{Path(name).stem}.wav"
            if not made.exists():
                data, rate = soundfile.read(str(original), frames=int(44100 * CUT_SECONDS),
                                            dtype="int16")  # fmt: skip
                soundfile.write(str(made), data[: int(rate * CUT_SECONDS)], rate)
            out.append(made)
    return out


def audio_files(roots: Iterable[Path]) -> set[str]:
    """The catalog names of the audio files under ``roots`` (links not followed)."""
    from cuefinder.audio import AUDIO_EXTENSIONS
    from cuefinder.pipeline.stages import display_path

    found = set()
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                path = os.path.join(folder, name)
                if os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS and os.path.isfile(path):
                    found.add(display_path(os.path.abspath(path)))
    return found


# -- a library that changes between runs -------------------------------------------------


class Library:
    """A folder of real tracks (renamed copies of ``pool``) that a random walk changes:
    files re-recorded (another track's bytes under the name), renamed, deleted, added."""

    def __init__(self, folder: Path, pool: list[Path], size: int, rng: random.Random):
        self.folder, self.pool, self.size, self.rng = folder, pool, size, rng
        self.made = 0
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(size):
            self.add()

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*") if p.is_file())

    def add(self) -> None:
        self.made += 1
        source = self.rng.choice(self.pool)
        shutil.copy(source, self.folder / f"{self.made:03d}-{source.name}")

    def change(self, n: int = 2) -> list[str]:
        """Make ``n`` changes; returns what was done."""
        done = []
        for _ in range(n):
            files = self.files()
            kind = self.rng.choice(("rerecord", "rename", "delete", "add"))
            if kind == "delete" and len(files) <= self.size // 2:
                kind = "add"
            if kind == "add" and len(files) >= self.size * 3 // 2:
                kind = "rerecord"
            victim = self.rng.choice(files)
            if kind == "rerecord":
                other = self.rng.choice(
                    [p for p in self.pool if p.read_bytes() != victim.read_bytes()]
                )
                shutil.copy(other, victim)
            elif kind == "rename":
                self.made += 1
                victim.rename(victim.with_name(f"{self.made:03d}-{victim.name.split('-', 1)[1]}"))
            elif kind == "delete":
                victim.unlink()
            else:
                self.add()
            done.append(kind)
        return done
