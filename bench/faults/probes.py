"""Section ``probes``: traversal, encoded slashes, symbolic and hard links, files swapped
under the server, and Host headers, against a running server."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from .command import command, judge_output
from .common import Library, Scale, Section
from .server import Served, judge_response
from .verdict import connected

DOTS = ("..", "%2e%2e", "%2E%2E", ".%2e", "%252e%252e", "%c0%ae%c0%ae", "..%00", "....")
SLASHES = ("/", "%2f", "%2F", "%252f", "\\", "%5c", "%c0%af", "//")
TARGETS = ("etc/passwd", "outside/secret.wav", "catalog.db", "cuefinder/serve/app.py")
ROUTES = ("/api/tracks/{}", "/api/tracks/{}/audio", "/api/tracks/{}/similar", "/static/{}",
          "/tracks/{}", "/briefs/{}", "/api/briefs/{}/export", "/api/docs/assets/{}",
          "/{}")  # fmt: skip
ODD_IDS = ("0", "-1", "9223372036854775807", "9223372036854775808", "1e3", "1.0", "0x1",
           "%00", "1%00", "1%20", "%201", "\uff11", "1;2", "1,2", "1/", "/etc/passwd",
           "%2fetc%2fpasswd",
           "..%2f1", "1/..", "9" * 5000, "\u00b2", "\u0661", "1e400", "nan")  # fmt: skip


def probes(work: Path, pool: list[Path], scale: Scale, rng: random.Random,
           section: Section) -> None:  # fmt: skip
    """Traversal, encoded slashes and symbolic links against ``cuefinder serve``'s app on a
    real port: nothing outside the catalogued files is ever served, indexed or named."""
    from cuefinder.serve import create_app

    root = work / "root"
    library = Library(root / "library", pool, 4, rng)
    outside = work / "outside"
    outside.mkdir()
    secret = outside / "secret.wav"
    secret.write_bytes(pool[0].read_bytes() + b"SECRET-OUTSIDE")  # real audio, marked
    (outside / "notes.txt").write_bytes(b"SECRET-OUTSIDE")
    db = work / "catalog.db"
    judge_output(section, command("index", "-q", "-j", "1", library.folder, catalog=db),
                 "building the catalog", may_fail=False)  # fmt: skip
    links = root / "links"  # made after indexing; the web indexer meets them
    links.mkdir()
    (links / "escape.wav").symlink_to(secret)
    (links / "out").symlink_to(outside)
    (links / "nested" / "deeper").mkdir(parents=True)
    (links / "nested" / "deeper" / "etc").symlink_to("/etc")
    (links / "nested" / "up").symlink_to("../../../outside")
    (links / "loop").symlink_to(links)
    os.link(secret, links / "hard.wav")  # the outside file under a name inside: refused
    app = create_app(db, index_roots=[str(root)])
    with Served(app) as server:
        _get_probes(section, server, scale, db)
        _web_index_probes(section, server, root, outside, links)
        _swap_probes(section, server, db, library, secret)
        for host in ("attacker.example", "127.0.0.1.attacker.example", "localhost.", "[::2]",
                     "", "127.0.0.1:80@evil"):  # fmt: skip
            status, _, body = server.raw("GET", "/api/status", {"host": host})
            section.add("probes")
            judge_response(section, f"Host {host!r}", status, body)
            if status != 400:
                section.problem(f"Host {host!r}: {status}, not 400")
    with connected(db) as raw:
        stored = [r[0] for r in raw.execute("SELECT path FROM tracks WHERE missing = 0")]
        tags = b" ".join(str(r).encode() for r in raw.execute("SELECT * FROM tracks"))
    real_root = os.path.realpath(root)
    escaped = [p for p in stored if not os.path.realpath(p).startswith(real_root + os.sep)]
    section.figures["tracks catalogued from outside the root"] = len(escaped)
    if escaped:
        section.problem(f"catalogued from outside the index root: {escaped}")
    if any(p.endswith("hard.wav") for p in stored):
        section.problem("a hard link inside the index root to a file outside it was indexed")
    if b"SECRET-OUTSIDE" in tags:
        section.problem("the catalog holds text of a file outside the root")


def _get_probes(section: Section, server: Served, scale: Scale, db: Path) -> None:
    with connected(db) as raw:  # what audio may be served: the catalogued files
        served = {Path(r[0]).read_bytes() for r in raw.execute("SELECT path FROM tracks")}
    payloads = set(ODD_IDS)
    for dots in DOTS:
        for slash in SLASHES:
            for depth in scale.probe_depths:
                for target in TARGETS:
                    payloads.add((dots + slash) * depth + target.replace("/", slash))
    for route in ROUTES:
        for payload in sorted(payloads):
            target = route.format(payload)
            for method in ("GET", "HEAD") if route.endswith("audio") else ("GET",):
                status, headers, body = server.raw(method, target)
                section.add("probes")
                section.add("traversal probes")
                judge_response(section, f"{method} {target[:120]}", status, body)
                if status == 200 and route.endswith("audio") and method == "GET" \
                        and body not in served:  # fmt: skip
                    section.problem(f"{target[:120]}: served bytes that are no catalogued file")


def _web_index_probes(section: Section, server: Served, root: Path, outside: Path,
                      links: Path) -> None:  # fmt: skip
    """POST /api/index with paths out of the root, through links, and malformed."""
    import httpx

    paths = [str(root) + "/../outside", "/etc", "/", str(outside), str(links / "out"),
             str(links / "nested" / "deeper" / "etc"), str(links / "nested" / "up"),
             "relative/folder", "", "~", "~root", str(root) + "\x00/etc", "\x00",
             str(root) + "/%2e%2e/outside", "//etc", str(root) + "/" + "x" * 5000,
             str(root) + "\n/etc", str(root / "no-such-folder"), str(links / "escape.wav"),
             str(links / "loop" / "loop" / "loop"), str(links), str(root)]  # fmt: skip
    for path in paths:
        for body in (json.dumps({"path": path}).encode(), path.encode("utf-8", "replace")):
            status, _, answer = server.raw("POST", "/api/index",
                                           {"content-type": "application/json"}, body)  # fmt: skip
            section.add("probes")
            section.add("web index probes")
            judge_response(section, f"POST /api/index {path[:80]!r}", status, answer)
            if status == 202:
                _wait_for_index(server.url)
    status = httpx.get(server.url + "/api/status", timeout=30).json()
    shown = json.dumps(status)
    for failure in status["indexing"]["failed"]:
        if str(outside) in failure["reason"] or "/etc" in failure["reason"]:
            section.problem(f"a failure names a link's target: {failure}")
    if "SECRET-OUTSIDE" in shown:
        section.problem("the status shows text of a file outside the root")
    reasons = {f["path"].rsplit("/", 1)[-1]: f["reason"] for f in status["failed"]}
    if "escape.wav" not in reasons:
        section.problem("the link out of the root was not listed as a failure")
    if "hard links" not in reasons.get("hard.wav", ""):
        section.problem("the hard link to a file outside the root was not listed as a failure")


def _wait_for_index(url: str) -> None:
    import httpx

    for _ in range(1200):
        if httpx.get(url + "/api/status", timeout=30).json()["indexing"]["state"] != "running":
            return
        time.sleep(0.1)
    raise RuntimeError("a web index run did not finish in two minutes")


def _swap_probes(section: Section, server: Served, db: Path, library: Library,
                 secret: Path) -> None:  # fmt: skip
    """A catalogued file replaced by a link out, a hard link to another file, a FIFO, a file
    of its size and time (renamed over it, or hard-linked from outside), its folder by a
    link: refused (403/404/409), quickly, naming no target."""
    with connected(db) as raw:
        track_id, path = raw.execute(
            "SELECT id, path FROM tracks WHERE missing = 0 AND path LIKE ? ORDER BY id",
            (f"{library.folder}%",),
        ).fetchone()
    victim = Path(path)
    kept = victim.with_name(victim.name + ".kept")

    def with_file(make: Callable[[], None], name: str, expect: int | None = None) -> None:
        victim.rename(kept)
        try:
            make()
            started = time.monotonic()
            status, _, body = server.raw("GET", f"/api/tracks/{track_id}/audio")
            section.add("probes")
            section.add("swap probes")
            judge_response(section, f"audio of a file {name}", status, body)
            if status not in ((expect,) if expect else (403, 404, 409)):
                section.problem(f"audio of a file {name}: {status}")
            if str(secret.parent).encode() in body or b"/etc" in body:
                section.problem(f"audio of a file {name}: the answer names the target")
            if time.monotonic() - started > 10:
                section.problem(f"audio of a file {name}: took {time.monotonic() - started:.0f} s")
        finally:
            if victim.is_symlink() or victim.exists():
                victim.unlink()
            kept.rename(victim)

    with_file(lambda: victim.symlink_to(secret), "replaced by a link out of the root")
    with_file(lambda: victim.symlink_to("/etc/passwd"), "replaced by a link to /etc/passwd")
    with_file(lambda: os.link(secret, victim), "replaced by a hard link to another file")
    with_file(lambda: os.mkfifo(victim), "replaced by a named pipe")

    def same_size_and_time(where: Path) -> Path:
        """Another file of the catalogued one's size and modification time, marked."""
        data = bytearray(kept.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 14] = b"SECRET-OUTSIDE"
        where.write_bytes(bytes(data))
        stamp = kept.stat()
        os.utime(where, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        return where

    def renamed_over() -> None:
        os.replace(same_size_and_time(victim.with_name(".new.wav")), victim)

    def linked_over() -> None:
        os.link(same_size_and_time(secret.parent / "same.wav"), victim)

    with_file(renamed_over, "of its size and time renamed over it", expect=409)
    with_file(linked_over, "of its size and time hard-linked from outside", expect=409)
    folder = library.folder
    moved = folder.with_name(folder.name + ".moved")
    folder.rename(moved)
    try:  # the file's folder swapped for a link to one outside
        folder.symlink_to(moved)
        status, _, body = server.raw("GET", f"/api/tracks/{track_id}/audio")
        section.add("probes")
        section.add("swap probes")
        judge_response(section, "audio through a folder swapped for a link", status, body)
        if status != 403:
            section.problem(f"audio through a folder swapped for a link: {status}")
    finally:
        folder.unlink()
        moved.rename(folder)
