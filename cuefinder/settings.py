"""The user's configuration file: defaults for the command line, beneath its flags.

``$CUEFINDER_CONFIG``, else ``config.toml`` in the user's configuration folder
(``~/.config/cuefinder/`` on Linux). Every key is optional::

    catalog = "~/music/catalog.db"     # as --catalog (beneath $CUEFINDER_CATALOG too)
    model = "~/models/films.safetensors"  # index --model (beneath $CUEFINDER_MODEL too)
    jobs = 2                           # index --jobs

    [serve]
    host = "0.0.0.0"
    port = 8080

A flag given on the command line wins, then the environment, then this file, then the
built-in default.
"""

from __future__ import annotations

import os
from pathlib import Path

from cuefinder.errors import ConfigError

KEYS = {"catalog": str, "model": str, "jobs": int}
SERVE_KEYS = {"host": str, "port": int}
SERVE_DEFAULTS = {"host": "127.0.0.1", "port": 8000}


def path() -> Path:
    """Where the configuration file is read from (it need not exist)."""
    if os.environ.get("CUEFINDER_CONFIG"):
        return Path(os.environ["CUEFINDER_CONFIG"]).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("cuefinder")) / "config.toml"


def cache_dir(part: str) -> Path:
    """Where cuefinder keeps ``part`` of what it can compute again (``features``, ``text``,
    ``filters``, ``games``): the user's cache folder (``~/.cache/cuefinder/`` on Linux,
    ``$XDG_CACHE_HOME/cuefinder/`` where that is set)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cuefinder")) / part


def load(where: Path | None = None) -> dict:
    """The file's settings ({} when there is none); paths have ``~`` expanded."""
    import tomllib

    where = where or path()
    if not where.is_file():
        if os.environ.get("CUEFINDER_CONFIG"):
            raise ConfigError(f"{where}: no such configuration file ($CUEFINDER_CONFIG)")
        return {}
    try:
        values = tomllib.loads(where.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{where}: not valid TOML ({err})") from None
    serve = values.pop("serve", {})
    if not isinstance(serve, dict):
        raise ConfigError(f"{where}: [serve] must be a table")
    out = _checked(where, values, KEYS, "")
    out["serve"] = _checked(where, serve, SERVE_KEYS, "serve.")
    for key in ("catalog", "model"):
        if key in out:
            out[key] = str(Path(out[key]).expanduser())
    if out.get("jobs", 1) < 1 or not 0 < out["serve"].get("port", 1) < 65536:
        raise ConfigError(f"{where}: jobs must be at least 1 and port 1 to 65535")
    return out


def _checked(where: Path, values: dict, keys: dict, prefix: str) -> dict:
    for key, value in values.items():
        if key not in keys:
            raise ConfigError(f"{where}: unknown setting '{prefix}{key}' "
                              f"(known: {', '.join(prefix + k for k in keys)})")  # fmt: skip
        kind = keys[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            noun = {"str": "string", "int": "whole number"}[kind.__name__]
            raise ConfigError(f"{where}: '{prefix}{key}' must be a {noun}, got {value!r}")
    return dict(values)
