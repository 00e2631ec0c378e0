"""Worker processes: how cuefinder starts a pool, in one place.

Pools are spawned (not forked: torch and threads do not survive a fork well), and the
workers never import the caller's ``__main__``. A spawned worker normally re-runs the
script that started it, so a script calling ``cuefinder.index`` without an
``if __name__ == "__main__":`` guard would start workers that start workers, for ever.
cuefinder's workers need only cuefinder, so the main module's name and path are hidden
from multiprocessing while they start.

Each worker uses one thread (``limit_threads``): N workers on N cores each running
torch's and numpy's BLAS thread pools at N threads oversubscribe the cores (on 2 cores
the descriptors' small matrix products took indexing from about 530x to 350x real time).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
from collections.abc import Callable


def spawn_pool(jobs: int, initializer: Callable | None = None, initargs: tuple = ()):
    """A ``multiprocessing`` pool of ``jobs`` spawned workers (use it as a context manager)."""
    context = multiprocessing.get_context("spawn")
    with _main_hidden():
        return context.Pool(jobs, initializer=initializer, initargs=initargs)


def limit_threads(threads: int = 1) -> None:
    """Cap this process's torch and BLAS thread pools (numpy's OpenBLAS or MKL) at
    ``threads``, for the rest of its life."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)


@contextlib.contextmanager
def _main_hidden():
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__spec__", "__file__") if k in main.__dict__}
    main.__spec__ = None
    main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        main.__dict__.update(saved)
        if "__spec__" not in saved:
            del main.__spec__
