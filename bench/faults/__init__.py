"""The reliability suite's parts (``bench/reliability.py`` runs them): what the sections share
(``common``, ``command``, ``verdict``, ``server``), one module per section or pair of
sections, and the report. ``SECTIONS`` names each section's function."""

from __future__ import annotations

from collections.abc import Callable

from .bombs import bombs
from .damage import damaged
from .disk import small_disk
from .fuzz import api_fuzz, grammar
from .kills import concurrent, kill_loop
from .probes import probes

SECTIONS: dict[str, Callable] = {
    "kills": kill_loop,
    "concurrent": concurrent,
    "disk": small_disk,
    "damage": damaged,
    "grammar": grammar,
    "api": api_fuzz,
    "probes": probes,
    "bomb": bombs,
}
