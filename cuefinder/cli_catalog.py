"""The ``cuefinder`` commands that move a catalog's data in and out: export, catalog import.

Part of the command line (``cuefinder.cli`` adds them to its parser): like it, the only
place that prints and exits.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from cuefinder.cli_common import EXIT_FAILED, EXIT_OK, error, open_catalog, track_json


def add_commands(sub) -> None:
    """Add export and catalog to the command line's subparsers."""
    from cuefinder.cli_briefs import timing_options
    from cuefinder.find.cuesheet import MEDIA_TYPES

    what = "write every track's genre scores (CSV, JSON, Parquet), or a brief (--brief)"
    p = sub.add_parser("export", help=what)
    formats = sorted({"csv", "json", "parquet", *MEDIA_TYPES})
    p.add_argument(
        "--format",
        choices=formats,
        help="csv (the default), json or parquet; "
        "with --brief, one of brief --export's (default: from the file's name)",
    )
    p.add_argument("-o", "--output", type=Path, help="file to write (default: stdout; "
                   "parquet and --brief need one)")  # fmt: skip
    p.add_argument(
        "--brief",
        metavar="NAME",
        help="export this brief's cues for the edit, as 'cuefinder brief NAME --export FILE' does",
    )
    timing_options(p)
    p.set_defaults(run=_export)

    p = sub.add_parser("catalog", help="check, repair, or merge Parquet into the catalog")
    csub = p.add_subparsers(title="actions", metavar="ACTION")
    i = csub.add_parser("import", help="merge Parquet files or folders of them (idempotent)")
    i.add_argument("sources", nargs="+", type=Path, help="Parquet files or folders")
    i.set_defaults(run=_import)
    c = csub.add_parser("check", help="integrity, damaged rows, the vector index")
    c.set_defaults(run=_check)
    r = csub.add_parser("repair", help="back up, remove damaged rows, rebuild the vector index")
    r.set_defaults(run=_repair)
    for command in (p, i, c, r, sub.choices["export"]):  # --catalog after the command too
        command.add_argument("--catalog", type=Path, default=argparse.SUPPRESS,
                             help=argparse.SUPPRESS)  # fmt: skip


def _export(args) -> int:
    from cuefinder.errors import QueryError

    if args.brief is not None:
        from cuefinder.cli_briefs import export_brief

        if not args.output:
            raise QueryError("export --brief needs a file: -o reel3.edl (or .fcpxml, .csv, ...)")
        if args.format in ("json", "parquet"):
            why = f"export --brief writes cues for the edit, not {args.format}"
            raise QueryError(f"{why}; give a file name such as reel3.edl, or --format edl")
        return export_brief(args, args.output)
    args.format = args.format or "csv"
    if args.format not in ("csv", "json", "parquet"):
        raise QueryError(f"export --format {args.format} is for a brief: add --brief NAME")
    if args.format == "parquet":
        from cuefinder.pipeline import shards

        if not args.output:
            raise QueryError("export --format parquet needs a file: -o tracks.parquet")
        with open_catalog(args) as catalog:
            rows = shards.write(catalog, args.output)
        print(f"wrote {rows} tracks to {args.output}", file=sys.stderr)
        return EXIT_OK
    with open_catalog(args) as catalog:
        tracks = [track_json(t) for t in catalog.tracks()]
    if not args.output:
        _write_tracks(sys.stdout, tracks, args.format)
        return EXIT_OK
    with open(args.output, "w", newline="", encoding="utf-8") as out:
        _write_tracks(out, tracks, args.format)
    return EXIT_OK


def _write_tracks(out, tracks: list[dict], fmt: str) -> None:
    if fmt == "json":
        json.dump(tracks, out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        _write_csv(out, tracks)


def _write_csv(out, tracks: list[dict]) -> None:
    genres = sorted({g for t in tracks for g in t["genres"]})
    fields = [
        "path",
        "duration",
        "title",
        "artist",
        "album",
        "model",
        "tempo",
        "tempo_confidence",
        "key",
        "loudness",
        "energy",
        *genres,
    ]
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for track in tracks:
        writer.writerow(track | track["genres"])


def _import(args) -> int:
    from cuefinder.pipeline import shards

    with open_catalog(args, create=True) as catalog:
        report = shards.read_into(catalog, args.sources)
    print(f"imported {report.added} tracks, {report.unchanged} already there, "
          f"from {report.files} files")  # fmt: skip
    for line in report.failed:
        error(line)
    return EXIT_FAILED if report.failed else EXIT_OK


def _check(args) -> int:
    from cuefinder.catalog import health
    from cuefinder.errors import CatalogError

    try:
        catalog = open_catalog(args)
    except CatalogError as err:
        line = health.unopenable(err)
        if line is None:
            raise
        print(line)
        return EXIT_FAILED
    with catalog:
        problems = health.check(catalog)
        count = None if problems else catalog.count()  # a damaged catalog may not count
    for line in problems:
        print(line)
    if not problems:
        print(f"{count} tracks; no problem found")
    return EXIT_FAILED if problems else EXIT_OK


def _repair(args) -> int:
    from cuefinder.catalog import health

    with open_catalog(args) as catalog:
        _, done = health.repair(catalog)
    for line in done:
        print(line)
    return EXIT_OK
