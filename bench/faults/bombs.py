"""Section ``bomb``: small files that decode to hours, as uploads, references and in an
index run."""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np

from .command import command, judge_output
from .common import Library, Scale, Section
from .server import Served, judge_response
from .verdict import record_verdict, verify


def make_bomb(path: Path, seconds: float, rate: int = 8000) -> Path:
    """Digital silence as FLAC: a few hundred bytes a minute that decode to ``seconds``."""
    import soundfile

    block = np.zeros(rate * 60, np.int16)
    with soundfile.SoundFile(str(path), "w", rate, 1, "PCM_16", format="FLAC") as out:
        for _ in range(int(np.ceil(seconds / 60))):
            out.write(block)
    return path


def bombs(work: Path, pool: list[Path], scale: Scale, rng: random.Random,
          section: Section) -> None:  # fmt: skip
    """Small files that decode to hours: refused while decoding, with one line, in bounded
    time and memory, and everything else indexed beside them."""
    import httpx

    from cuefinder.find.similar import REFERENCE_MAX_SECONDS
    from cuefinder.pipeline.stages import MAX_SECONDS
    from cuefinder.serve import create_app

    library = Library(work / "library", pool, 3, rng)
    db = work / "catalog.db"
    judge_output(section, command("index", "-q", "-j", "1", library.folder, catalog=db),
                 "building the catalog", may_fail=False)  # fmt: skip
    upload = make_bomb(work / "upload-bomb.flac", REFERENCE_MAX_SECONDS + 600)
    section.figures["upload bomb"] = f"{upload.stat().st_size / 1024:.0f} KB, " \
        f"{(REFERENCE_MAX_SECONDS + 600) / 60:.0f} min"  # fmt: skip
    with Served(create_app(db)) as server:
        started = time.monotonic()
        sent = {"file": ("bomb.flac", upload.read_bytes(), "audio/flac")}
        response = httpx.post(server.url + "/api/similar/upload", files=sent, timeout=600)
        took = time.monotonic() - started
    section.add("cases")
    judge_response(section, "uploading the bomb", response.status_code, response.content)
    section.figures["upload bomb refused after (s)"] = round(took, 1)
    if response.status_code != 422 or "longer than" not in response.text:
        section.problem(f"the upload bomb: {response.status_code} {response.text[:200]}")
    if not scale.full:
        return
    done = command("similar", upload, catalog=db)
    section.add("cases")
    judge_output(section, done, "similar with the bomb as reference")
    section.figures["similar bomb refused after (s)"] = round(done.seconds, 1)
    if done.returncode == 0 or "longer than" not in done.stderr:
        section.problem(f"similar with the bomb: exit {done.returncode}, {done.stderr[:200]}")
    if not scale.index_bomb:
        return
    bomb = make_bomb(library.folder / "bomb.flac", MAX_SECONDS + 1800)
    section.figures["index bomb"] = f"{bomb.stat().st_size / 1024:.0f} KB, " \
        f"{(MAX_SECONDS + 1800) / 3600:.1f} h"  # fmt: skip
    library.add()
    done = command("index", "-q", "-j", "1", library.folder, catalog=db, timeout=900)
    section.add("cases")
    judge_output(section, done, "index with a bomb in the folder", reports=True)
    section.figures["index bomb refused after (s)"] = round(done.seconds, 1)
    section.figures["index bomb peak memory (MB)"] = round(done.peak_mb)
    if "bomb.flac: longer than" not in done.stdout or "indexed 1," not in done.stdout:
        section.problem(f"index with a bomb: {done.stdout.strip()[-300:]}")
    bomb.unlink()
    record_verdict(section, verify(db, [library.folder]), "after the bomb")
