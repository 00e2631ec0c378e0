"""The ``cuefinder`` commands that build models: train, card, dataset, evaluate, report.

Part of the command line (``cuefinder.cli`` adds them to its parser): like it, the only
place that prints and exits.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cuefinder.cli_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error, positive_int
from cuefinder.model.config import DEFAULT_METHODS, TRAINABLE
from cuefinder.model.config import METHODS as EVALUABLE
from cuefinder.train.splits import SCHEMES, scheme_words


def add_commands(sub) -> None:
    """Add train, card, dataset, evaluate and report to the command line's subparsers."""
    p = sub.add_parser("train", help="train a genre tagger from a labelled manifest")
    p.add_argument("manifest", type=Path, help="CSV: path,group,genres,title")
    p.add_argument("-o", "--out", type=Path, required=True, help="model file to write")
    p.add_argument("--config", type=Path, help="TOML recipe ([train] table); flags override it")
    p.add_argument("--architecture", nargs="+", dest="architectures", choices=TRAINABLE)
    p.add_argument("--members", type=positive_int, help="networks in the ensemble")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--seed", type=int)
    p.add_argument("--test-fraction", type=float, help="share of groups held out for the card")
    p.add_argument("--cache", type=Path, help="feature cache folder")
    p.add_argument("--checkpoints", type=Path, help="folder for resumable training state")
    p.add_argument("--card", type=Path, help="also write the model card (Markdown) here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_train)

    p = sub.add_parser("card", help="print a model's card from the record inside its file")
    p.add_argument("model", type=Path)
    p.add_argument("--evaluation", type=Path, nargs="+",
                   help="first attach these evaluation.json summaries (cuefinder evaluate) "
                   "to the model file; a later file adds only the methods the earlier ones "
                   "lack")  # fmt: skip
    p.add_argument(
        "--estimate",
        metavar="METHOD",
        help="the evaluated method that is this model's recipe: its per-genre "
        "cross-validated figures become the card's estimate for unseen music",
    )
    p.add_argument(
        "--draw",
        type=Path,
        action="append",
        default=[],
        metavar="EVALUATION",
        help="another evaluation.json of the same method in other folds (repeatable): "
        "the card states how far its estimate moves between fold draws",
    )
    p.set_defaults(run=_card)

    p = sub.add_parser("dataset", help="build labelled manifests")
    dsub = p.add_subparsers(title="sources", metavar="SOURCE")
    g = dsub.add_parser("games", help="Debian's free game soundtracks (fetched with apt-get)")
    g.add_argument("--packages", nargs="+", help="packages (default: all labelled ones)")
    g.add_argument("--small", action="store_true", help="only the few small packages")
    g.add_argument("--cache", type=Path, help="download and music folder")
    g.add_argument("-o", "--out", type=Path, help="manifest CSV to write")
    g.set_defaults(run=_dataset_games)
    b = dsub.add_parser("build", help="a folder of film soundtracks, labelled from IMDb")
    b.add_argument("soundtracks", type=Path, help="folder of albums (one folder per album)")
    b.add_argument("--imdb", type=Path, required=True, help="IMDb's title.basics.tsv.gz")
    b.add_argument("--mapping", type=Path, help="CSV album,film_id: overrides any match")
    b.add_argument("-o", "--out", type=Path, default=Path("manifest.csv"))
    b.set_defaults(run=_dataset_build)

    p = sub.add_parser("evaluate", help="cross-validate recipes and baselines; write a report")
    p.add_argument("manifest", type=Path, help="CSV: path,group,genres,title")
    p.add_argument("-o", "--out", type=Path, required=True, help="report folder")
    p.add_argument(
        "--methods",
        nargs="+",
        default=list(DEFAULT_METHODS),
        choices=EVALUABLE,
        metavar="METHOD",
        help=f"any of: {' '.join(EVALUABLE)} (default: %(default)s)",
    )
    p.add_argument(
        "--scheme",
        choices=SCHEMES,
        default="kfold",
        help="grouped k-fold, or leave-one-group-out (the Ma et al. protocol)",
    )
    p.add_argument("--folds", type=positive_int, default=4)
    p.add_argument("--config", type=Path, help="TOML recipe for the networks")
    p.add_argument("--recipe", action="append", default=[], metavar="NAME=RECIPE.toml",
                   help="also train this recipe in the same folds, reported as NAME "
                        "(repeatable; members > 1 averages that many seeds)")  # fmt: skip
    p.add_argument(
        "--fuse",
        action="append",
        default=[],
        metavar="A+B",
        help="also report the mean probability of two methods or recipes",
    )
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--cache", type=Path, help="feature cache folder")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(run=_evaluate)

    p = sub.add_parser(
        "report",
        help="write cross-validation reports again from their evaluation.json (nothing is "
        "trained): after the way reports are written has changed",
    )
    p.add_argument(
        "folders",
        type=Path,
        nargs="+",
        metavar="FOLDER",
        help="a report folder that `cuefinder evaluate -o` wrote",
    )
    p.set_defaults(run=_report)


def _train(args) -> int:
    from cuefinder.train.trainer import TrainConfig, train

    flags = {
        k: tuple(v) if isinstance(v, list) else v
        for k in ("architectures", "members", "epochs", "seed", "test_fraction")
        if (v := getattr(args, k)) is not None
    }
    config = TrainConfig.from_toml(args.config, **flags) if args.config else TrainConfig(**flags)
    summary = train(args.manifest, args.out, config, cache_dir=args.cache,
                    checkpoint_dir=args.checkpoints, progress=not args.quiet)  # fmt: skip
    print(summary)
    if args.card:
        from cuefinder.evaluate.card import render

        args.card.write_text(render(args.out))
        print(f"model card: {args.card}")
    return EXIT_OK


def _card(args) -> int:
    from cuefinder.evaluate.card import render

    if args.evaluation:
        from cuefinder.model import checkpoint

        summary, sources, schemes = {}, {}, set()
        for path in args.evaluation:
            evaluation = json.loads(path.read_text())
            schemes.add(scheme_words(evaluation["scheme"], len(evaluation["folds"])))
            for name, scores in evaluation["summary"].items():
                if name not in summary:
                    summary[name], sources[name] = scores, str(path.parent / "report.md")
        if len(schemes) > 1:
            print(f"cuefinder: error: the evaluations used different schemes: "
                  f"{', '.join(sorted(schemes))}", file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
        annotation = {"scheme": schemes.pop(), "summary": summary, "sources": sources}
        if args.estimate:
            from cuefinder.evaluate.estimate import estimate

            found = [p for p in args.evaluation if args.estimate in json.loads(
                p.read_text())["methods"]]  # fmt: skip
            if not found:
                error(f"--estimate: no evaluation has a method {args.estimate!r}")
                return EXIT_USAGE
            annotation["estimate"] = estimate(found[0], args.estimate)
            draws = [_draw(path, args.estimate) for path in args.draw]
            if None in draws:
                error(f"--draw: an evaluation lacks the method {args.estimate!r}")
                return EXIT_USAGE
            annotation["estimate"]["draws"] = draws
        elif args.draw:
            error("--draw needs --estimate METHOD")
            return EXIT_USAGE
        checkpoint.annotate(args.model, cross_validation=annotation)
    print(render(args.model))
    return EXIT_OK


def _draw(path: Path, method: str) -> dict | None:
    """One more fold draw of ``method``: its scheme, macro ROC-AUC (pooled, fold mean,
    within one model) and its lowest genre within one model."""
    from cuefinder.evaluate import within

    evaluation = json.loads(path.read_text())
    summary = evaluation["summary"].get(method)
    if summary is None:
        return None
    value, lowest, low = within.macro(
        evaluation["labels"],
        evaluation["methods"][method]["scores"],
        evaluation["groups"],
        evaluation["fold_of"],
    )
    return {
        "scheme": scheme_words(evaluation["scheme"], len(evaluation["folds"])),
        "roc_auc": summary["roc_auc"],
        "fold_mean": summary.get("fold_roc_auc_mean"),
        "within": round(value, 4),
        "lowest": [evaluation["genres"][lowest], round(low, 4)],
        "report": str(path.parent / "report.md"),
    }


def _dataset_build(args) -> int:
    from cuefinder.datasets import albums, imdb
    from cuefinder.datasets.manifest import write_manifest

    tracks, matches = albums.build_manifest(args.soundtracks, args.imdb, args.mapping)
    write_manifest(tracks, args.out)
    print(imdb.summarise(matches))
    print(f"{len(tracks)} labelled tracks; manifest: {args.out}")
    return EXIT_OK


def _evaluate(args) -> int:
    from cuefinder.evaluate import cross_validation
    from cuefinder.train.trainer import TrainConfig

    flags = {"epochs": args.epochs} if args.epochs else {}
    config = TrainConfig.from_toml(args.config, **flags) if args.config else TrainConfig(**flags)
    recipes = {}
    for item in args.recipe:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            error(f"--recipe wants NAME=RECIPE.toml, got {item!r}")
            return EXIT_USAGE
        recipes[name] = TrainConfig.from_toml(path, **flags)
    fusions = []
    for item in args.fuse:
        a, sep, b = item.partition("+")
        if not sep or not a or not b:
            error(f"--fuse wants A+B (two method or recipe names), got {item!r}")
            return EXIT_USAGE
        fusions.append((a, b))
    report = cross_validation.run(args.manifest, args.out, args.methods, args.scheme, args.folds,
                                  config, cache_dir=args.cache, progress=not args.quiet,
                                  recipes=recipes, fusions=fusions)  # fmt: skip
    print(f"report: {report}")
    return EXIT_OK


def _report(args) -> int:
    from cuefinder.evaluate.report import write_report
    from cuefinder.evaluate.results import Evaluation

    failed = 0
    for folder in args.folders:
        source = folder / "evaluation.json"
        try:
            evaluation = Evaluation.load(source)
        except (FileNotFoundError, NotADirectoryError):
            error(f"{source}: no such file (not a folder that cuefinder evaluate wrote)")
            failed += 1
            continue
        except OSError as err:
            error(f"{source}: cannot read ({err.strerror or err})")
            failed += 1
            continue
        except (ValueError, KeyError, TypeError) as err:
            error(f"{source}: not an evaluation cuefinder wrote ({err})")
            failed += 1
            continue
        print(f"report: {write_report(evaluation, folder)}")
    return EXIT_FAILED if failed else EXIT_OK


def _dataset_games(args) -> int:
    from cuefinder.datasets import games

    packages = list(games.SMALL_PACKAGES) if args.small else args.packages
    music = games.fetch_games(packages, args.cache, log=lambda m: print(m, file=sys.stderr))
    tracks = games.game_tracks(packages, args.cache)
    out = args.out or music.parent / "manifest.csv"
    games.write_manifest(tracks, out)
    print(f"{len(tracks)} labelled tracks from {len({t.package for t in tracks})} games")
    print(f"music: {music}")
    print(f"manifest: {out}")
    return EXIT_OK
