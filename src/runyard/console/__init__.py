"""The web console: static files (HTML, CSS, native ES modules) served by the server under ``/ui/``.

No build step and no third-party code: the browser loads the modules as they are. The console is a
client of the public HTTP API; everything it shows, a script can get too.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"


@lru_cache(maxsize=1)
def asset_version() -> str:
    """A hash of every static file: asset URLs carry it, so browsers may cache them forever."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def asset(path: str) -> Path | None:
    """The static file at ``path`` (relative to ``static/``), or None when there is none (or it leaves the folder)."""
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file():
        return None
    return target


@lru_cache(maxsize=1)
def index_html() -> str:
    """The one page of the console, pointing at this version's assets."""
    return (STATIC / "index.html").read_text().replace("{{ASSETS}}", f"/ui/{asset_version()}")
