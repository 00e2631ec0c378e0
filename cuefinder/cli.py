"""The ``cuefinder`` command: the only place that prints and exits.

Exit codes: 0 success; 1 some files failed or a runtime error; 2 bad usage or query.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cuefinder import cli_briefs as handing
from cuefinder import cli_catalog as moving
from cuefinder import cli_teach as teaching
from cuefinder import cli_training as training
from cuefinder.cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    clock,
    error,
    open_catalog,
    positive_int,
    time_arg,
    track_json,
)
from cuefinder.errors import CuefinderError, QueryError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else argv
    unknown = _unknown_command(argv, parser)
    if unknown:
        error(unknown)
        return EXIT_USAGE
    args = parser.parse_args(_exclusions_as_words(_json_after_command(argv, parser), parser))
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        _with_settings(args)
        return args.run(args)
    except QueryError as err:
        error(str(err))
        if err.vocabulary:
            print("genres: " + ", ".join(err.vocabulary), file=sys.stderr)
            print("try 'cuefinder genres' for the synonyms", file=sys.stderr)
        return EXIT_USAGE
    except CuefinderError as err:
        error(str(err))
        return EXIT_FAILED
    except KeyboardInterrupt:
        error("interrupted (what was stored so far is kept; run again to resume)")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as err:  # sqlite3 is imported only by the commands that open a catalog
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is None or not isinstance(err, sqlite3.DatabaseError):
            raise
        from cuefinder.catalog import default_path  # a catalog damaged after it was opened

        where = getattr(args, "catalog", None) or default_path()
        error(f"{where}: the catalog is damaged ({err}); run 'cuefinder catalog check'")
        return EXIT_FAILED


def _with_settings(args) -> None:
    """Fill what the command line left unset from the environment, then the user's
    configuration file (``settings``), then the built-in defaults."""
    from cuefinder import settings

    found = settings.load()
    if getattr(args, "catalog", None) is None and not os.environ.get("CUEFINDER_CATALOG"):
        args.catalog = Path(found["catalog"]) if "catalog" in found else None
    if args.run is _index:
        if args.model is None and not os.environ.get("CUEFINDER_MODEL") and "model" in found:
            args.model = Path(found["model"])
        if args.jobs is None:
            args.jobs = found.get("jobs")
    if args.run is _serve:
        for key, default in settings.SERVE_DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, found.get("serve", {}).get(key, default))


def _json_after_command(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """``cuefinder --json search x``: a --json before the command is the command's."""
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    where = next((i for i, a in enumerate(argv) if a in commands), None)
    if where is None or "--json" not in argv[:where]:
        return list(argv)
    before = [a for a in argv[:where] if a != "--json"]
    return [*before, argv[where], "--json", *argv[where + 1 :]]


def _unknown_command(argv: list[str], parser: argparse.ArgumentParser) -> str | None:
    """A message for a mistyped command (``serach``), with the nearest one; else None."""
    import difflib

    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    words = iter(argv)
    for arg in words:
        if arg == "--catalog":
            next(words, None)
        elif not arg.startswith("-"):
            if arg in commands:
                return None
            near = difflib.get_close_matches(arg, list(commands), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            return f"unknown command '{arg}'{hint} (commands: {', '.join(commands)})"
    return None


def _exclusions_as_words(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """``search comedy -action``: a "-word" after ``search`` that is none of its options is
    an exclusion in the query, not an option; it is passed on with a typographic minus
    (which the grammar reads as "-") so that argparse takes it as a query word."""
    from cuefinder.find.grammar import MINUS

    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    where = next((i for i, a in enumerate(argv) if a == "search"), None)
    if where is None:
        return list(argv)
    options = commands["search"]._option_string_actions  # noqa: SLF001
    out = list(argv[: where + 1])
    for arg in argv[where + 1 :]:
        is_word = len(arg) > 1 and arg[0] == "-" and arg[1].isalpha()
        out.append(MINUS + arg[1:] if is_word and arg.split("=")[0] not in options else arg)
    return out


def _version() -> str:
    from cuefinder import __version__

    return __version__


def _parser() -> argparse.ArgumentParser:

    parser = argparse.ArgumentParser(
        prog="cuefinder", description="Tag music by the film genres it suits; search by them."
    )
    parser.add_argument(
        "--catalog",
        type=Path,
        help="catalog database (default: $CUEFINDER_CATALOG or catalog.db in the user data folder)",
    )
    parser.add_argument("--version", action="version", version=f"cuefinder {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("index", help="tag audio files and folders into the catalog")
    p.add_argument("paths", nargs="+", type=Path, help="files or folders")
    p.add_argument("--model", type=Path, help="model file (default: the built-in model)")
    p.add_argument("-j", "--jobs", type=positive_int, help="worker processes (default: cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-descriptors", dest="descriptors", action="store_false",
                   help="skip tempo, key, loudness, energy and sounds (faster)")  # fmt: skip
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: worker processes here; ray: Ray Data (a cluster, or a "
                   "local Ray); --jobs is then the number of model actors")  # fmt: skip
    p.add_argument("--address", help="with --engine ray: auto or ray://HOST:PORT "
                   "(default: start a local Ray)")  # fmt: skip
    p.add_argument("--shards", type=Path, metavar="DIR",
                   help="with --engine ray: also write the results as Parquet shards "
                   "(cuefinder catalog import DIR)")  # fmt: skip
    p.set_defaults(run=_index)

    p = sub.add_parser("search", help="rank tracks for a genre query (or free text: --text)")
    p.add_argument("query", nargs="*", help='e.g. "romance comedy -action horror:0.3"')
    p.add_argument("--text", help='free text instead, e.g. "tense night chase through the city"')
    p.add_argument("-n", "--limit", type=positive_int, default=10)
    p.add_argument("--min-duration", type=float, metavar="SECONDS")
    p.add_argument("--max-duration", type=float, metavar="SECONDS")
    p.add_argument(
        "--tempo",
        type=_tempo,
        metavar="BPM",
        help="only tracks in this tempo range, e.g. 90-120 (or 120: within 5%%)",
    )
    p.add_argument("--key", help='only tracks in this key, e.g. "A minor", Am, "F# major"')
    p.add_argument("--energy", choices=("low", "medium", "high"),
                   help="only tracks of this energy (a third of the catalog each)")  # fmt: skip
    p.add_argument("--length", type=time_arg, metavar="TIME",
                   help="a cue of this length, e.g. 0:42: each track's best part that long "
                   "(shorter tracks are left out)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print results as JSON")
    handing.export_options(p, "also write the results (their best windows)")
    p.set_defaults(run=_search)

    p = sub.add_parser("show", help="a track's genre profile and segment timeline")
    p.add_argument("track", help="path (or a unique end of it) or catalog id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_show)

    p = sub.add_parser("similar", help="tracks that sound like a catalog track or an audio file")
    p.add_argument("reference", nargs="+",
                   help="catalog track (path, unique end of it, or id) or audio file; "
                   "several: tracks like all of them")  # fmt: skip
    p.add_argument("--not", dest="not_", nargs="+", default=[], metavar="TRACK",
                   help="and unlike these")  # fmt: skip
    p.add_argument("--from", dest="start", type=time_arg, metavar="TIME", help="e.g. 0:45")
    p.add_argument("--to", dest="end", type=time_arg, metavar="TIME", help="e.g. 1:15")
    p.add_argument("-n", "--limit", type=positive_int, default=10)
    p.add_argument("--min-duration", type=float, metavar="SECONDS")
    p.add_argument("--max-duration", type=float, metavar="SECONDS")
    p.add_argument(
        "--length",
        type=time_arg,
        metavar="TIME",
        help="a cue of this length, e.g. 0:42: each track's closest part that long",
    )
    p.add_argument("--include-self", action="store_true", help="keep the reference track")
    p.add_argument("--json", action="store_true", help="print results as JSON (as search does)")
    p.set_defaults(run=_similar)

    p = sub.add_parser("serve", help="the web page and JSON API over the catalog")
    p.add_argument("--host", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=positive_int, help="default: 8000")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="let pages from ORIGIN call the API (repeatable)")  # fmt: skip
    p.add_argument("--index-root", action="append", default=[], type=Path, metavar="DIR",
                   help="allow indexing folders inside DIR from the web")  # fmt: skip
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a name clients reach the server by (repeatable; default: the "
                   "loopback names on 127.0.0.1, any name on another address)")  # fmt: skip
    p.set_defaults(run=_serve)

    moving.add_commands(sub)
    handing.add_commands(sub)
    teaching.add_commands(sub)
    training.add_commands(sub)

    p = sub.add_parser("completion", help="print a shell completion script")
    p.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    p.set_defaults(run=_completion)
    p = sub.add_parser("manpage", help="print the manual page (roff), from this parser")
    p.set_defaults(run=_manpage)
    for command in ("index", "search", "show", "similar", "serve"):
        sub.choices[command].add_argument(  # also accepted after the command
            "--catalog", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def _index(args) -> int:
    from cuefinder.pipeline.local import index

    if args.engine == "local" and (args.address or args.shards):
        raise QueryError("--address and --shards need --engine ray")
    with open_catalog(args, create=True) as catalog:
        if args.engine == "ray":
            from cuefinder.pipeline import ray_runner

            report = ray_runner.index(args.paths, catalog, model=args.model,
                                      address=args.address, actors=args.jobs,
                                      shard_dir=args.shards, progress=not args.quiet,
                                      descriptors=args.descriptors)  # fmt: skip
        else:
            report = index(args.paths, catalog, model=args.model, jobs=args.jobs,
                           progress=not args.quiet, descriptors=args.descriptors)  # fmt: skip
    speed = report.audio_seconds / report.wall_seconds if report.wall_seconds else 0.0
    counts = f"indexed {report.indexed}, skipped {report.unchanged} unchanged"
    print(
        f"{counts}, failed {len(report.failed)}, missing {report.missing}  "
        f"({report.audio_seconds / 60:.1f} min of audio in {report.wall_seconds:.1f} s, "
        f"{speed:.0f}x real time)"
    )
    for failure in report.failed:
        print(f"failed: {failure.path}: {failure.reason}")
    return EXIT_FAILED if report.failed else EXIT_OK


def _search(args) -> int:
    from cuefinder.find.rank import parse_in, search

    if bool(args.query) == (args.text is not None):
        error("give a genre query or --text TEXT" + (", not both" if args.query else ""))
        return EXIT_USAGE
    with open_catalog(args) as catalog:
        if args.query:
            query = parse_in(catalog, " ".join(args.query))
            read = [f"{v!r} as {'a name' if f == 'name' else f'the {f}'}" for f, v in query.names]
            if read:  # words that name no genre but some track: say how they were read
                print(f"reading {', '.join(read)} (title, artist, album or file name)",
                      file=sys.stderr if args.json else sys.stdout, flush=True)  # fmt: skip
        else:
            query = _interpret(args.text, catalog, args.json)
        results = search(query, catalog, limit=args.limit, min_duration=args.min_duration,
                         max_duration=args.max_duration, tempo=args.tempo,
                         key=args.key, length=args.length, energy=args.energy)  # fmt: skip
        for line in _warnings(query, catalog, results):
            print(f"warning: {line}", file=sys.stderr)
    if args.export:
        handing.export(results, args, " ".join(args.query) if args.query else args.text)
    return _print_results(results, args.json, "best", "why", "{:+.2f}")


def _warnings(query, catalog, results) -> list[str]:
    from cuefinder.find.caveats import query_warnings

    return query_warnings(query, catalog, [r.fit for r in results])


def _similar(args) -> int:
    from cuefinder.find.similar import similar

    refs = [int(r) if r.isdigit() else r for r in args.reference]
    with open_catalog(args) as catalog:
        results = similar(refs if len(refs) > 1 else refs[0], catalog, limit=args.limit,
                          not_=[int(r) if r.isdigit() else r for r in args.not_],
                          start=args.start, end=args.end,
                          min_duration=args.min_duration, max_duration=args.max_duration,
                          exclude_self=not args.include_self, length=args.length)  # fmt: skip
    return _print_results(results, args.json, "closest", "shares", "{:.2f}")


def _print_results(results, as_json: bool, window: str, reason: str, number: str) -> int:
    """Ranked results as search --json's list, or two lines each for a person."""
    if as_json:
        json.dump([r.to_dict() for r in results], sys.stdout, indent=2, ensure_ascii=False)
        print()
        return EXIT_OK
    if not results:
        print("no tracks match")
    for n, r in enumerate(results, 1):
        why = ", ".join(f"{g} {number.format(v)}" for g, v in r.genres.items())
        seg = f"{clock(r.segment['start'])}-{clock(r.segment['end'])}"
        fit = f"  fit {r.fit:.2f} {r.fit_level}" if getattr(r, "fit", None) is not None else ""
        print(f"{n:2d}. {r.score:.3f}  {r.path}{fit}")
        print(f"     {window} {seg} of {clock(r.duration)}   {reason}: {why or 'its name'}")
    return EXIT_OK


def _tempo(text: str) -> tuple[float, float]:
    """(low, high) BPM from "90-120", or "120" (within 5%)."""
    try:
        parts = [float(p) for p in text.replace(" ", "").split("-")]
    except ValueError:
        parts = []
    if len(parts) == 1 and parts[0] > 0:
        return parts[0] * 0.95, parts[0] * 1.05
    if len(parts) == 2 and 0 < parts[0] <= parts[1]:
        return parts[0], parts[1]
    raise argparse.ArgumentTypeError(f"not a tempo range: {text!r} (e.g. 90-120, or 120)")


def _interpret(text: str, catalog, json_out: bool):
    """The genre query free text means, printed first (to stderr under --json)."""
    from cuefinder.find.rank import query_tags
    from cuefinder.find.text import interpret

    model = catalog.active_model()
    if model is None:
        raise QueryError(f"catalog {catalog.path} is empty: run 'cuefinder index FOLDER' first")
    meaning = interpret(text, model.genres, query_tags(catalog, model))
    print(f"interpreted as: {meaning}", file=sys.stderr if json_out else sys.stdout, flush=True)
    return meaning.query


def _show(args) -> int:
    with open_catalog(args) as catalog:
        key = int(args.track) if args.track.isdigit() else str(Path(args.track).absolute())
        track = catalog.track(key) or catalog.track(args.track)
    if track is None:
        raise CuefinderError(f"no track '{args.track}' in the catalog")
    profile = sorted(track.genre_scores().items(), key=lambda kv: -kv[1])
    if args.json:
        extra = {"segments": _timeline(track)}
        if track.tag_scores is not None:
            extra["tags"] = track.tag_profile()
        if track.sounds is not None:
            extra["sounds"] = track.sound_profile()
        print(json.dumps(track_json(track) | extra, indent=2))
        return EXIT_OK
    print(track.path)
    print(f"{clock(track.duration)}  {track.title or ''}  {track.artist or ''}".rstrip())
    found = track.descriptors()
    if found["loudness"] is not None:
        tempo = f"{found['tempo']:.0f} BPM" if found["tempo"] else "tempo unclear"
        if found["tempo"] and found["tempo_confidence"] is not None:
            tempo += f" (confidence {found['tempo_confidence']:.2f})"
        key = f"{found['key']}" if found["key"] else "no clear key"
        energy = f", energy {found['energy']:.2f}" if found["energy"] is not None else ""
        print(f"{tempo}, {key}, loudness {found['loudness']:.1f} LUFS{energy}")
    for genre, score in profile:
        print(f"  {genre:<12} {score:5.2f} {'#' * int(round(score * 40))}")
    if track.tag_scores is not None:
        top = sorted(track.tag_profile().items(), key=lambda kv: -kv[1])[:8]
        print("music tags: " + ", ".join(f"{t} {v:.2f}" for t, v in top))
    if track.sounds is not None:
        top = sorted(track.sound_profile().items(), key=lambda kv: -kv[1])[:8]
        print("sounds like: " + ", ".join(f"{t} {v:.2f}" for t, v in top))
    print("timeline (top genres per segment):")
    for seg in _timeline(track):
        tops = sorted(seg["genres"].items(), key=lambda kv: -kv[1])[:3]
        print(
            f"  {clock(seg['start'])}-{clock(seg['end'])}  "
            + "  ".join(f"{g} {s:.2f}" for g, s in tops)
        )
    return EXIT_OK


def _timeline(track, max_rows: int = 40) -> list[dict]:
    """Segments grouped so that a long track still prints in about ``max_rows`` rows."""
    scores = track.segment_scores
    group = max(1, -(-len(scores) // max_rows))
    rows = []
    for first in range(0, len(scores), group):
        block = scores[first : first + group].mean(axis=0)
        rows.append(
            {
                "start": round(first * track.segment_seconds, 2),
                "end": round(min(track.duration, (first + group) * track.segment_seconds), 2),
                "genres": {g: round(float(s), 4) for g, s in zip(track.genres, block, strict=True)},
            }
        )
    return rows


def _completion(args) -> int:
    """`eval "$(cuefinder completion bash)"`, or save it where the shell looks."""
    import shtab

    print(shtab.complete(_parser(), shell=args.shell))
    return EXIT_OK


def _manpage(args) -> int:
    """`cuefinder manpage > cuefinder.1; man ./cuefinder.1`."""
    from argparse_manpage.manpage import Manpage

    parser = _parser()
    parser.man_short_description = "find the music cue that fits a picture"
    print(str(Manpage(parser)))
    return EXIT_OK


def _serve(args) -> int:
    from cuefinder.catalog import default_path
    from cuefinder.serve import run

    run(args.catalog or default_path(), host=args.host, port=args.port,
        cors_origins=args.cors_origin, index_roots=args.index_root,
        allowed_hosts=args.allowed_host)  # fmt: skip
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
