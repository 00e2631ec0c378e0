"""Sections ``grammar`` and ``api``: Hypothesis over the query grammar and the Python API,
schemathesis over the OpenAPI schema."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .command import command, judge_output
from .common import Library, Scale, Section, Skip
from .server import judge_response

ODD_NUMBERS = ("0", "-0", "-1", "1e309", "-1e309", "1e-320", "nan", "NaN", "inf", "-inf",
               "Infinity", "0x10", "1_0", "0.3.4", "", ".", "-", "1-", "-5", "110-90", "90-110",
               "9" * 400, "\u0663", "\uff11", "1e", "+3", " 2")  # fmt: skip
ODD_TEXT = ('"', "'", ":", "-", "--", ":::", "\x00", "\n", "\r\n", "\t", "\u200b", "\ufeff",
            "\udcff", "\ud800", "\u0130", "\uff41\uff43\uff54\uff49\uff4f\uff4e", "ACTION",
            "action" * 60, "%s%n", "'; DROP TABLE tracks; --", "\\", "%", "_", "*",
            "?")  # fmt: skip
FIELDS = ("bpm", "tempo", "key", "energy", "title", "artist", "album", "file", "name", "BPM")


def grammar(work: Path, pool: list[Path], scale: Scale, rng: random.Random,
            section: Section) -> None:  # fmt: skip
    """Hypothesis-made queries and arguments for ``parse_query``, ``search`` and
    ``similar``: each answers, or raises a ``CuefinderError``; never anything else, and
    never a score that is not a finite number."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as seeded
    from hypothesis import strategies as st

    import cuefinder
    from cuefinder.catalog import Catalog
    from cuefinder.errors import CuefinderError
    from cuefinder.find.grammar import FILLER, NEGATORS, SOFTENERS, vocabulary

    library = Library(work / "library", pool, 4, rng)
    db = work / "grammar.db"
    built = command("index", "-q", "-j", "1", library.folder, catalog=db)
    judge_output(section, built, "building the catalog", may_fail=False)
    catalog = Catalog(db, create=False)
    model = catalog.active_model()
    tracks = list(catalog.tracks())
    words = sorted(vocabulary(model.genres, model.tags)) + sorted(NEGATORS) + sorted(SOFTENERS)
    words += sorted(FILLER)[:8] + [t.path.rsplit("/", 1)[1].split(".")[0] for t in tracks]
    numbers = st.sampled_from(ODD_NUMBERS) | st.floats().map(repr) | st.integers().map(str)
    word = st.sampled_from(words)
    kinds = {
        "word": word,
        "weighted": st.tuples(word, numbers).map(":".join),
        "excluded": word.map("-{}".format),
        "field": st.tuples(st.sampled_from(FIELDS), numbers | st.sampled_from(ODD_TEXT) | st.text(
            max_size=8) | st.sampled_from(("Am", "F#", "A-minor", "high", '"living caves"',
                                           "90-110"))).map(":".join),
        "odd": st.sampled_from(ODD_TEXT),
        "text": st.text(max_size=10),
    }  # fmt: skip
    # mostly words the grammar knows (one_of would weigh a repeated branch once)
    token = st.sampled_from(["word"] * 16 + ["excluded"] * 3 + list(kinds)).flatmap(kinds.get)
    joined = st.lists(token, min_size=1, max_size=6).map(" ".join)
    queries = st.sampled_from((joined,) * 4 + (st.text(max_size=60),)).flatmap(lambda q: q)

    def mostly(usual, *others):
        """``usual`` three times in four, else one of ``others``."""
        return st.sampled_from((usual,) * 3 * len(others) + others).flatmap(lambda q: q)

    unset = st.none()
    maybe_number = mostly(unset, st.floats(), st.integers(-(2**70), 2**70))
    limits = mostly(st.integers(1, 20), st.integers(-3, 2**70))
    seed_ = rng.randrange(2**32)
    sloppy = settings(max_examples=scale.grammar, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip

    def attempt(target: str, call: Callable, shown) -> None:
        section.add("cases")
        section.add(f"cases: {target}")
        try:
            results = call()
        except CuefinderError:
            section.add("refused with a CuefinderError")
            return
        except Exception as err:  # the defect this section looks for
            section.add("other exceptions")
            section.problem(f"{target}({ascii(shown)[:200]}): {type(err).__name__}: "
                            f"{ascii(str(err))[:160]}")  # fmt: skip
            return
        section.add(f"answered: {target}")
        for result in results if isinstance(results, list) else ():
            if not np.isfinite(result.score) or (result.fit is not None
                                                 and not np.isfinite(result.fit)):  # fmt: skip
                section.problem(f"{target}({ascii(shown)[:200]}): a score that is not finite")
                return

    @seeded(seed_)
    @sloppy
    @given(text=queries)
    def parse(text):
        attempt("parse_query", lambda: cuefinder.parse_query(text, model.genres, model.tags),
                text)  # fmt: skip

    @seeded(seed_)
    @sloppy
    @given(text=queries, limit=limits, low=maybe_number, high=maybe_number,
           length=maybe_number, tempo=mostly(unset, st.tuples(maybe_number, maybe_number)),
           key=mostly(unset, st.sampled_from(ODD_TEXT + ("Am", "C", "F#m")), st.text(max_size=5)),
           energy=mostly(unset, st.sampled_from(("high", "low", "HIGH", "", "x"))),
           )  # fmt: skip
    def search(text, limit, low, high, length, tempo, key, energy):
        attempt("search", lambda: cuefinder.search(
            text, catalog, limit=limit, min_duration=low, max_duration=high, length=length,
            tempo=tempo, key=key, energy=energy), (text, limit, low, high, length, tempo, key,
                                                   energy))  # fmt: skip

    fifo = work / "pipe.wav"
    os.mkfifo(fifo)
    references = st.one_of(
        st.sampled_from([t.id for t in tracks] + [t.path for t in tracks]),
        st.sampled_from([t.id for t in tracks]),
        st.sampled_from([t.path[-12:] for t in tracks] + [str(pool[-1]), str(fifo),
                         "/dev/zero", "/dev/null", "/etc/passwd", "/", str(work), "", " ", "..",
                         "no/such/file.wav", "a\x00b", "\udcff.wav", str(library.folder) + "/"]),
        st.integers(-(2**70), 2**70),
        st.text(max_size=20),
        st.booleans(),
    )  # fmt: skip

    nothing = st.just([])

    @seeded(seed_)
    @settings(sloppy, max_examples=max(scale.grammar // 3, 10))
    @given(ref=references | st.lists(references, max_size=3),
           away=mostly(nothing, st.lists(references, max_size=2)),
           start=maybe_number, end=maybe_number, length=maybe_number,
           limit=limits)  # fmt: skip
    def like(ref, away, start, end, limit, length):
        attempt("similar", lambda: cuefinder.similar(
            ref, catalog, not_=away, start=start, end=end, limit=limit, length=length),
            (ref, away, start, end, limit, length))  # fmt: skip

    for target in (parse, search, like):
        target()
    catalog.close()
    _merge_problems(section)


def _merge_problems(section: Section) -> None:
    """The same defect found by many examples is one problem, with its count."""
    seen: dict[str, int] = {}
    firsts: dict[str, str] = {}
    for line in section.problems:
        kind = line.split("): ", 1)[-1][:80]
        seen[kind] = seen.get(kind, 0) + 1
        firsts.setdefault(kind, line)
    section.problems = [firsts[k] + (f" (and {n - 1} more like it)" if n > 1 else "")
                        for k, n in seen.items()]  # fmt: skip


# -- schemathesis over the OpenAPI schema ---------------------------------------------------------


def api_fuzz(work: Path, pool: list[Path], scale: Scale, rng: random.Random,
             section: Section) -> None:  # fmt: skip
    """Every operation of the OpenAPI schema, with requests schemathesis makes from it, on
    a real catalog: no 5xx, no traceback, and JSON that is JSON (no NaN)."""
    if not scale.api:
        raise Skip("not at this scale (tests/test_api_fuzz.py runs it in the test suite)")
    import schemathesis

    from cuefinder.serve import create_app

    library = Library(work / "library", pool, 5, rng)
    db = work / "api.db"
    judge_output(section, command("index", "-q", "-j", "1", library.folder, catalog=db),
                 "building the catalog", may_fail=False)  # fmt: skip
    judge_output(section, command("brief", "fuzzed", "--new", catalog=db), "a brief",
                 may_fail=False)  # fmt: skip
    app = create_app(db, allowed_hosts=("*",), index_roots=[str(library.folder)])
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = 0
    for result in schema.get_all_operations():
        operations += 1
        _fuzz_operation(section, result.ok(), scale, rng)
    section.figures["operations"] = operations
    _merge_problems(section)


def _fuzz_operation(section: Section, operation, scale: Scale, rng: random.Random) -> None:
    """``scale.api`` generated requests to one operation, each judged as a user would."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as seeded

    name = f"{operation.method.upper()} {operation.path}"

    @seeded(rng.randrange(2**32))
    @settings(max_examples=scale.api, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=operation.as_strategy())
    def fuzz(case):
        response = case.call()
        section.add("cases")
        judge_response(section, f"{name} {case.path_parameters} {case.query}",
                       response.status_code, response.content, (b"Traceback",))  # fmt: skip
        if "json" in response.headers.get("content-type", ""):
            try:
                json.loads(response.content, parse_constant=_no_constant)
            except ValueError as err:
                section.add("invalid JSON")
                section.problem(f"{name}: invalid JSON ({err})")

    fuzz()


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")
