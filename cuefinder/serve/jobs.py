"""Indexing a folder from the web: one background run at a time, its progress polled.

Only folders inside the roots the server was started with (``--index-root``)
may be indexed, so a client cannot make any audio on the machine streamable.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cuefinder.errors import CuefinderError
from cuefinder.serve.errors import ApiError

log = logging.getLogger("cuefinder.serve")


@dataclass
class IndexProgress:
    """The latest (or current) indexing run."""

    state: str = "idle"  # idle | running | finished | failed
    path: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    to_analyse: int = 0  # files that need decoding and tagging in this run
    processed: int = 0
    indexed: int = 0
    unchanged: int = 0
    missing: int = 0
    failed: list[dict] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self) | {"failed": self.failed[-100:]}


class Indexer:
    """Runs ``cuefinder.pipeline.local.index`` in a thread for folders under ``roots``."""

    def __init__(self, catalog_path: str | Path, roots: list[str | Path], jobs: int | None = None):
        self.catalog_path = Path(catalog_path)
        self.roots = [os.path.realpath(r) for r in roots]
        self.jobs = jobs
        self.progress = IndexProgress()
        self._lock = threading.Lock()

    def status(self) -> dict:
        with self._lock:
            return self.progress.to_dict() | {"roots": self.roots}

    def start(self, path: str) -> dict:
        """Start indexing ``path`` (409 while a run is going); returns the new status."""
        folder = self._allowed(path)
        with self._lock:
            if self.progress.state == "running":
                raise ApiError(409, f"already indexing {self.progress.path}; poll /api/status")
            self.progress = IndexProgress("running", folder, started_at=time.time())
        worker = threading.Thread(target=self._run, args=(folder,), name="index", daemon=True)
        worker.start()
        return self.status()

    def _allowed(self, path: str) -> str:
        if not self.roots:
            raise ApiError(
                403, "indexing from the web is off: start the server with --index-root FOLDER"
            )
        if not path or not os.path.isabs(path) or "\x00" in path:
            raise ApiError(422, f"path must be an absolute folder path, got {path!r}", "path")
        folder = os.path.realpath(path)
        if not any(folder == r or folder.startswith(r.rstrip(os.sep) + os.sep) for r in self.roots):
            raise ApiError(
                403, f"{path} is outside the index roots ({', '.join(self.roots)})", "path"
            )
        if not os.path.isdir(folder):
            raise ApiError(422, f"{path} is not a folder", "path")
        return folder

    def _run(self, folder: str) -> None:
        from cuefinder.catalog import Catalog
        from cuefinder.model import checkpoint
        from cuefinder.pipeline import local, stages

        try:
            with Catalog(self.catalog_path) as catalog:
                model = self._model_path(catalog)
                info = checkpoint.read_info(model)
                found = stages.discover([folder], within=self.roots)
                planned = local.plan(catalog, found, [folder], info.model_id)
                with self._lock:
                    self.progress.to_analyse = len(planned.tasks)
                report = local.index([folder], catalog, model=model, jobs=self.jobs,
                                     progress=False, on_result=self._count,
                                     within=self.roots)  # fmt: skip
            with self._lock:
                self.progress.unchanged, self.progress.missing = report.unchanged, report.missing
                self.progress.failed = [{"path": f.path, "reason": f.reason} for f in report.failed]
                self.progress.state, self.progress.finished_at = "finished", time.time()
        except CuefinderError as err:
            self._fail(str(err))
        except Exception as err:  # a thread has no caller to raise to: log it, report it
            log.exception("indexing %s failed", folder)
            self._fail(f"internal error ({type(err).__name__}); the server log has the details")

    @staticmethod
    def _model_path(catalog):
        """The catalog's active model file (so new tracks match the old), else the built-in."""
        from cuefinder.model import checkpoint

        active = catalog.active_model()
        found = catalog.model_path(active.model_id) if active else None
        return found or checkpoint.default_model_path()

    def _count(self, result) -> None:
        from cuefinder.pipeline import stages

        with self._lock:
            self.progress.processed += 1
            if isinstance(result, stages.Analysis):
                self.progress.indexed += 1
            elif isinstance(result, stages.Failure):
                self.progress.failed.append({"path": result.path, "reason": result.reason})

    def _fail(self, message: str) -> None:
        with self._lock:
            self.progress.state, self.progress.error = "failed", message
            self.progress.finished_at = time.time()
