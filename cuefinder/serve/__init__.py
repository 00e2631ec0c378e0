"""The web edge: a JSON API and a page over a catalog (``cuefinder serve``).

FastAPI is imported only here, so the rest of cuefinder never pays for it.
"""

from __future__ import annotations


def create_app(catalog_path, **options):
    from cuefinder.serve.app import create_app

    return create_app(catalog_path, **options)


def run(catalog_path, **options) -> None:
    from cuefinder.serve.app import run

    run(catalog_path, **options)
