"""Soundtrack albums in a folder: folders of audio files (``Disc N``/``CD N`` folders join
their parent), one album per distinct album tag, named by the tag or else the folder."""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from pathlib import Path

from cuefinder.audio import is_audio_name, read_tags
from cuefinder.datasets.imdb import (
    AlbumName,
    Film,
    Match,
    match_albums,
    parse_album_name,
    read_mapping,
)
from cuefinder.datasets.manifest import Album, LabelledTrack
from cuefinder.errors import DatasetError

_DISC_FOLDER = re.compile(r"(?:dis[ck]|cd)[\s._-]*\d+\b.*", re.I)


def find_albums(root: Path) -> list[Album]:
    """Albums under root: folders of audio files (``Disc N``/``CD N`` ones join their parent)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    folders: dict[Path, list[Path]] = defaultdict(list)
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        tracks = sorted(Path(folder) / f for f in files if _is_track(f))
        if tracks:
            folders[_album_folder(root, Path(folder))].extend(tracks)
    albums = [a for folder, tracks in folders.items() for a in _albums_in(root, folder, tracks)]
    return sorted(albums, key=lambda a: a.key)


def _is_track(name: str) -> bool:
    """An audio file that is not hidden (macOS ``._`` files are not audio)."""
    return not name.startswith(".") and is_audio_name(name)


def _album_folder(root: Path, folder: Path) -> Path:
    """The folder itself, or its parent when it is a disc folder (``Disc 1``, ``CD2``)."""
    while folder != root and _DISC_FOLDER.fullmatch(folder.name):
        folder = folder.parent
    return folder


def _albums_in(root: Path, folder: Path, tracks: list[Path]) -> list[Album]:
    """One album per distinct album tag in a folder; untagged tracks are named by the folder."""
    key = folder.relative_to(root).as_posix()
    by_name: dict[AlbumName | None, list[tuple[Path, str]]] = defaultdict(list)
    for track in sorted(tracks):
        tag = read_tags(track).album
        by_name[parse_album_name(tag) if tag else None].append((track, tag or ""))
    named = [group for name, group in by_name.items() if name is not None]
    if len(named) <= 1:
        tags = [tag for _, tag in named[0]] if named else []
        name = _most_common(tags) if tags else _folder_name(folder)
        return [Album(key, name, tuple(sorted(tracks)))]
    albums = [_tag_album(key, group) for group in named]
    if None in by_name:
        albums.append(Album(key, _folder_name(folder), tuple(t for t, _ in by_name[None])))
    return albums


def _folder_name(folder: Path) -> str:
    """The folder's own name (resolved when given as ``.``)."""
    return folder.name or folder.resolve().name


def _tag_album(key: str, group: list[tuple[Path, str]]) -> Album:
    """An album of one folder's tracks that share an album tag; its key names folder and tag."""
    name = _most_common([tag for _, tag in group])
    return Album(f"{key}::{name}", name, tuple(track for track, _ in group))


def _most_common(names: list[str]) -> str:
    """The most frequent name; ties go to the first in sorted order."""
    counts = Counter(names)
    return min(counts, key=lambda n: (-counts[n], n))


def build_manifest(
    root: Path, imdb_path: Path, mapping_path: Path | None = None
) -> tuple[list[LabelledTrack], list[Match]]:
    """Tracks of the matched and mapped albums, labelled with their films' genres; all matches."""
    albums = find_albums(root)
    if not albums:
        raise DatasetError(f"{root}: no audio files found")
    mapping = read_mapping(mapping_path) if mapping_path else None
    matches = match_albums(albums, imdb_path, mapping)
    tracks = [_track(path, m.film) for m in matches if m.film for path in m.album.tracks]
    return tracks, matches


def _track(path: Path, film: Film) -> LabelledTrack:
    """A track labelled with its film: group is the film id, genres IMDb's."""
    extra = {"film_id": film.film_id, "film_title": film.title, "year": str(film.year or "")}
    title = read_tags(path).title or path.stem
    return LabelledTrack(path.absolute(), film.film_id, film.genres, title, extra)
