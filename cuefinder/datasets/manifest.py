"""Manifests: the labelled track lists that training and evaluation read.

A manifest is a CSV with the header ``path,group,genres,title``: one track a
row, its group (the film or game it belongs to: splits never divide a group),
its labels (``;``-separated; any taxonomy, not only IMDb's) and a title.
Relative paths are relative to the manifest's folder. Extra columns (such as
``film_id`` and ``year`` from an IMDb match) are kept in ``extra``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cuefinder.errors import DatasetError

HEADER = ("path", "group", "genres", "title")


@dataclass(frozen=True)
class LabelledTrack:
    """One track with its group and labels."""

    path: Path
    group: str
    genres: tuple[str, ...]
    title: str
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def package(self) -> str:  # the group of a game-soundtrack track is its package
        return self.group


@dataclass(frozen=True)
class Album:
    """A soundtrack album (``albums.find_albums``, matched by ``imdb.match_albums``): its key
    (folder, relative to the root), its raw name, its tracks."""

    key: str
    name: str
    tracks: tuple[Path, ...]


def split_labels(text: str) -> tuple[str, ...]:
    """``"Action; Sci-Fi"`` -> ``("Action", "Sci-Fi")``, empties dropped."""
    return tuple(part.strip() for part in text.split(";") if part.strip())


def write_manifest(tracks: Sequence[LabelledTrack], path: str | Path) -> None:
    """Write tracks as CSV (header first, extra columns after the four fixed ones)."""
    path = Path(path)
    extra = sorted({k for t in tracks for k in t.extra})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*HEADER, *extra])
        for t in tracks:
            row = [str(t.path), t.group, ";".join(t.genres), t.title]
            writer.writerow(row + [t.extra.get(k, "") for k in extra])
    tmp.replace(path)


def csv_reader(path: Path, what: str):
    """A csv.reader over a UTF-8 file (BOM allowed); DatasetError names an unreadable one."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read the {what} ({err})") from err
    return csv.reader(io.StringIO(text, newline=""))


def read_manifest(path: str | Path) -> list[LabelledTrack]:
    """Read a manifest; DatasetError names the file and line of a bad row."""
    path = Path(path)
    reader = csv_reader(path, "manifest")
    header = next(reader, None)
    if header is None or tuple(header[:4]) != HEADER:
        raise DatasetError(f"{path}:1: expected header {','.join(HEADER)}")
    return [_row(path, reader.line_num, header, row) for row in reader if row]


def _row(manifest: Path, line: int, header: list[str], row: list[str]) -> LabelledTrack:
    if len(row) != len(header):
        raise DatasetError(f"{manifest}:{line}: expected {len(header)} fields, got {len(row)}")
    track, group, genres, title = (value.strip() for value in row[:4])
    if not track or not group or not split_labels(genres):
        raise DatasetError(f"{manifest}:{line}: path, group and genres must not be empty")
    location = Path(track) if Path(track).is_absolute() else manifest.parent / track
    extra = dict(zip(header[4:], row[4:]))
    return LabelledTrack(location, group, split_labels(genres), title or location.stem, extra)
