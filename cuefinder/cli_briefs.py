"""The ``cuefinder brief`` command: named shortlists kept in the catalog, and their export.

Part of the command line (``cuefinder.cli`` adds it to its parser): like it, the only
place that prints and exits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cuefinder.cli_common import EXIT_OK, clock, open_catalog, positive_int, time_arg


def add_commands(sub) -> None:
    p = sub.add_parser(
        "brief",
        help="named shortlists: keep tracks with in/out points and notes; export them",
        description="Without a name: list the briefs. With one: show it, or change it with "
        "the options (--add creates the brief if it is new).",
    )
    p.add_argument("name", nargs="?", help='the brief, e.g. "reel 3 chase" (or its id)')
    p.add_argument("--new", action="store_true", help="create the brief")
    p.add_argument("--add", metavar="TRACK", help="add a track (path, end of one, or id)")
    p.add_argument("--from", dest="start", type=time_arg, metavar="TIME", help="its in point")
    p.add_argument("--to", dest="stop", type=time_arg, metavar="TIME", help="its out point")
    p.add_argument("--note", help="a note (with --add or --new)")
    p.add_argument("--by", default="", help="who adds it (with --add)")
    p.add_argument("--remove", type=positive_int, metavar="N", help="remove entry N")
    p.add_argument("--move", type=positive_int, nargs=2, metavar=("N", "M"),
                   help="move entry N to position M")  # fmt: skip
    p.add_argument("--rename", metavar="NEW", help="rename the brief")
    p.add_argument("--delete", action="store_true", help="delete the brief and its entries")
    export_options(p, "write it")
    p.add_argument("--json", action="store_true")
    p.add_argument("--catalog", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.set_defaults(run=_brief)


def export_options(p: argparse.ArgumentParser, what: str) -> None:
    """--export FILE and its options, shared by brief and search (find.cuesheet)."""
    from cuefinder.find import cuesheet

    p.add_argument("--export", type=Path, metavar="FILE",
                   help=f"{what} for the edit: .csv (timecode, notes), .edl (CMX 3600), "
                   ".fcpxml (Final Cut Pro), .xml (Premiere, Resolve), .otio, .m3u or .xspf "
                   "(players), .markers.edl (a marker list for Resolve) or .markers.xml "
                   "(a marker list for Premiere)")  # fmt: skip
    p.add_argument("--format", choices=sorted(cuesheet.MEDIA_TYPES),
                   help="the export's format, whatever the file's name")  # fmt: skip
    timing_options(p)


def timing_options(p: argparse.ArgumentParser) -> None:
    """--fps, --relative-to and --start-tc: how an export for the edit counts time and
    names files (brief, search and ``export --brief``)."""
    from cuefinder.find import cuesheet

    p.add_argument("--fps", type=_rate, default=cuesheet.FPS, metavar="RATE",
                   help=f"timecode rate: {', '.join(cuesheet.RATES)} (default 25; 29.97 and "
                   "59.94 drop frames)")  # fmt: skip
    p.add_argument("--relative-to", type=Path, metavar="DIR",
                   help="playlists name files relative to this folder")  # fmt: skip
    p.add_argument(
        "--start-tc",
        metavar="TIMECODE",
        help="marker lists: the timeline's first timecode (default 01:00:00:00 in the "
        ".markers.edl, Resolve's default; 00:00:00:00 in the .markers.xml, Premiere's)",
    )


def _rate(text: str):
    from cuefinder.errors import QueryError
    from cuefinder.find import cuesheet

    try:
        return cuesheet.rate(text)
    except QueryError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--fps ")) from None


def export_brief(args, output: Path) -> int:
    """``cuefinder export --brief NAME -o FILE``: the brief's cues, as ``brief NAME --export``
    writes them."""
    from cuefinder.catalog import briefs as store
    from cuefinder.find import briefs

    args.export = output
    with open_catalog(args) as catalog:
        held = store.get(catalog, args.brief)
        export(briefs.results(catalog, held.id), args, held.name)
    return EXIT_OK


def export(results, args, query: str) -> None:
    """Write results as ``args`` ask (--export, --format, --fps, --relative-to, --start-tc)."""
    from cuefinder.find import cuesheet

    written = cuesheet.write(results, args.export, fps=args.fps, query=query,
                             format=args.format, root=args.relative_to,
                             start=args.start_tc)  # fmt: skip
    print(f"wrote {len(results)} cues to {written}", file=sys.stderr)


def _brief(args) -> int:
    from cuefinder.catalog import briefs as store
    from cuefinder.errors import QueryError
    from cuefinder.find import briefs

    with open_catalog(args, create=args.new or bool(args.add)) as catalog:
        if args.name is None:
            found = store.all_briefs(catalog)
            if args.json:
                print(json.dumps([b.to_dict() for b in found], indent=2, ensure_ascii=False))
            for b in found:
                print(f"{b.id:3d}. {b.name}  ({b.entries} tracks){'  ' + b.note if b.note else ''}")
            if not found and not args.json:
                print('no briefs yet: cuefinder brief "NAME" --add TRACK')
            return EXIT_OK
        if args.new:
            held = store.create(catalog, args.name, args.note or "")
        else:
            try:
                held = briefs.brief_of(catalog, args.name)
            except QueryError:
                if not args.add:
                    raise
                held = store.create(catalog, args.name)
        if args.add:
            track = int(args.add) if args.add.isdigit() else args.add
            briefs.add(catalog, held.id, track, start=args.start, stop=args.stop,
                       note=args.note or "", by=args.by)  # fmt: skip
        if args.remove:
            store.remove_entry(catalog, held.id, _entry_at(store, catalog, held, args.remove))
        if args.move:
            order = [e.id for e in store.entries(catalog, held.id)]
            moving = order.pop(args.move[0] - 1) if args.move[0] <= len(order) else None
            if moving is None:
                raise QueryError(f"brief '{held.name}' has no entry {args.move[0]}")
            order.insert(min(args.move[1], len(order) + 1) - 1, moving)
            store.reorder(catalog, held.id, order)
        if args.rename:
            held = store.update(catalog, held.id, name=args.rename)
        if args.delete:
            store.delete(catalog, held.id)
            print(f"deleted brief '{held.name}'", file=sys.stderr)
            return EXIT_OK
        if args.export:
            found = briefs.results(catalog, held.id)
            export(found, args, held.name)
            gone = len(store.entries(catalog, held.id)) - len(found)
            if gone:  # entries whose track is no longer in the catalog
                print(f"left out {gone} entr{'y' if gone == 1 else 'ies'} whose track is gone "
                      "from the catalog", file=sys.stderr)  # fmt: skip
        entries = store.entries(catalog, held.id)
        tracks = {e.id: briefs.current_track(catalog, e) for e in entries}
    if args.json:
        print(json.dumps(held.to_dict() | {"entries": [
            e.to_dict() | {"track_id": tracks[e.id].id if tracks[e.id] else None}
            for e in entries]}, indent=2, ensure_ascii=False))  # fmt: skip
        return EXIT_OK
    print(f"{held.name}{'  (' + held.note + ')' if held.note else ''}")
    for e in entries:
        track = tracks[e.id]
        span = f"{clock(e.start or 0)}-{clock(e.stop)}" if e.stop is not None else (
            f"{clock(e.start or 0)}-end")  # fmt: skip
        where = track.path if track else f"{e.path} (not in the catalog now)"
        who = f"  [{e.added_by}]" if e.added_by else ""
        print(f"{e.position:3d}. {span:<12} {where}{who}")
        if e.note:
            print(f"     {e.note}")
    return EXIT_OK


def _entry_at(store, catalog, held, position: int) -> int:
    from cuefinder.errors import QueryError

    for e in store.entries(catalog, held.id):
        if e.position == position:
            return e.id
    raise QueryError(f"brief '{held.name}' has no entry {position}")
