"""The ``cuefinder`` commands about the search vocabulary: genres, and the catalog's own
tags (tag, tags).

Part of the command line (``cuefinder.cli`` adds them to its parser): like it, the only
place that prints and exits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cuefinder.cli_common import EXIT_OK, open_catalog, time_arg


def add_commands(sub) -> None:
    """Add genres, tag and tags to the command line's subparsers."""
    p = sub.add_parser("genres", help="the search vocabulary: genres, synonyms, your tags")
    p.add_argument("--model", type=Path, help="model file (default: the catalog's model)")
    p.set_defaults(run=_genres)

    p = sub.add_parser(
        "tag",
        help="teach a tag of your own (or correct a genre) from example tracks",
        description="Teach the catalog a tag of its own from example tracks, then search "
        "it like a genre ('#tension romance'). A genre's name records corrections: "
        "'cuefinder tag Comedy --not TRACK' says a track is not Comedy.",
    )
    p.add_argument("name", help="the tag, e.g. 'tension build' (or a genre to correct)")
    p.add_argument("--add", nargs="+", default=[], metavar="TRACK",
                   help="tracks that are NAME (path, unique end of it, or id)")  # fmt: skip
    p.add_argument("--not", dest="not_", nargs="+", default=[], metavar="TRACK",
                   help="tracks that are not NAME")  # fmt: skip
    p.add_argument("--remove", nargs="+", default=[], metavar="TRACK",
                   help="forget these tracks' examples of NAME")  # fmt: skip
    p.add_argument("--from", dest="start", type=time_arg, metavar="TIME",
                   help="the examples are this part of each track, e.g. 0:45")  # fmt: skip
    p.add_argument("--to", dest="stop", type=time_arg, metavar="TIME", help="e.g. 1:15")
    p.add_argument("--json", action="store_true", help="print the tag as JSON")
    p.set_defaults(run=_tag)

    p = sub.add_parser("tags", help="the catalog's own tags and corrections; share them as CSV")
    p.add_argument("action", nargs="?", default="list",
                   choices=("list", "export", "import", "delete"),
                   help="list (default), export FILE, import FILE, delete NAME")  # fmt: skip
    p.add_argument("target", nargs="?", help="the CSV file (export, import) or tag (delete)")
    p.add_argument("--json", action="store_true", help="list as JSON")
    p.set_defaults(run=_tags)
    for command in ("genres", "tag", "tags"):  # --catalog after the command too
        sub.choices[command].add_argument("--catalog", type=Path, default=argparse.SUPPRESS,
                                          help=argparse.SUPPRESS)  # fmt: skip


def _genres(args) -> int:
    from cuefinder.find.grammar import SYNONYMS
    from cuefinder.model import checkpoint

    genres, tags = _vocabulary(args)
    if args.model:
        genres, tags = checkpoint.read_info(args.model).genres, ()
    info = checkpoint.read_info(args.model or checkpoint.default_model_path())
    thin = info.thin_genres if info.genres == genres else {}
    for genre in genres:
        print(f"{genre:<12} {', '.join(SYNONYMS.get(genre, ()))}")
    if tags:
        print("your tags: " + ", ".join(f"#{t}" for t in tags))
    if thin:
        named = ", ".join(f"{g} ({n} game{'s' * (n != 1)})" for g, n in thin.items())
        print(f"warning: {named}: fewer than {checkpoint.MIN_GROUPS} games taught "
              "these genres; read their rankings as hints", file=sys.stderr)  # fmt: skip
    weak = info.weak_genres if info.genres == genres else {}
    for genre, reason in weak.items():
        if genre not in thin:
            print(f"warning: {genre}: {reason}; read its ranking as a hint", file=sys.stderr)
    return EXIT_OK


def _vocabulary(args) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(genres, the catalog's own tags) of the catalog's active model, else the built-in
    model's genres."""
    from cuefinder.catalog import Catalog, default_path
    from cuefinder.find.teach import names
    from cuefinder.model import checkpoint

    path = args.catalog or default_path()
    if Path(path).exists():
        with Catalog(path, create=False) as catalog:
            model = catalog.active_model()
            if model:
                return model.genres, names(catalog)
    return checkpoint.read_info(checkpoint.default_model_path()).genres, ()


def _tag(args) -> int:
    from cuefinder.find.teach import teach

    with open_catalog(args) as catalog:
        info = teach(args.name, catalog, add=args.add, not_=args.not_, remove=args.remove,
                     start=args.start, stop=args.stop)  # fmt: skip
    if args.json:
        print(json.dumps(info.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(_line(info))
    return EXIT_OK


def _tags(args) -> int:
    from cuefinder.errors import QueryError
    from cuefinder.find import teach

    if args.action != "list" and not args.target:
        what = "tag" if args.action == "delete" else "CSV file"
        raise QueryError(f"tags {args.action} needs a {what}")
    with open_catalog(args) as catalog:
        if args.action == "export":
            rows = teach.export_csv(args.target, catalog)
            print(f"wrote {rows} examples to {args.target}", file=sys.stderr)
            return EXIT_OK
        if args.action == "import":
            added = teach.import_csv(args.target, catalog)
            for name, count in added.items():
                print(f"{name}: {count} new examples")
            return EXIT_OK
        if args.action == "delete":
            teach.forget(args.target, catalog)
            print(f"deleted '{args.target}' and its examples", file=sys.stderr)
            return EXIT_OK
        found = teach.taught_tags(catalog)
    if args.json:
        print(json.dumps([t.to_dict() for t in found], indent=2, ensure_ascii=False))
    elif not found:
        print("no tags yet: teach one with 'cuefinder tag NAME --add TRACK...'")
    for info in found:
        print(_line(info))
    return EXIT_OK


def _line(info) -> str:
    """One line a person reads: what it is, its examples, how it was learned."""
    if info.kind == "correction":
        head = f"{info.name} (corrections of the genre): {info.positives} are, " \
               f"{info.negatives} are not"  # fmt: skip
    else:
        head = f"#{info.name}: {info.positives} examples, {info.negatives} counter-examples"
    parts = [head]
    if info.absent:
        parts.append(f"{info.absent} not in the catalog now")
    if info.method:
        learned = f"learned by {info.method}"
        if info.self_check is not None:
            learned += f", tells its examples from the rest at ROC-AUC {info.self_check:.2f}"
        if not info.calibrated:
            learned += "; scores rank only (calibrated from 3 examples)"
        parts.append(learned)
    return "; ".join(parts)
