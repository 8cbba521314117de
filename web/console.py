"""The console at /: a static page whose modules (static/console/) are a client of the JSON API.

The page holds no data and no token; everything it shows comes from /api with the caller's own rights.
Its modules import each other by relative URLs, so they are served under one version segment (a digest
of the whole directory): a changed module changes every URL, and the long cache never serves a stale one.
"""

import functools
import hashlib
from pathlib import Path

from flask import Blueprint, abort, render_template, send_from_directory, url_for

from web.static_files import STATIC_MAX_AGE

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "static" / "console"
console = Blueprint("console", __name__)


@functools.cache
def console_version() -> str:
    """A digest of every file of the console, names and contents."""
    digest = hashlib.sha256()
    for path in sorted(p for p in CONSOLE_DIR.rglob("*") if p.is_file()):
        digest.update(path.relative_to(CONSOLE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def console_asset(filename: str) -> str:
    """The versioned URL of a file of the console."""
    return url_for("console.asset", version=console_version(), filename=filename)


@console.get("/")
def shell():
    """The console's page; which screen it shows is in the address's fragment (#/customers/...)."""
    page = render_template("console.html", console_asset=console_asset)
    # Always asked anew, so a new version of the modules is picked up at the next load.
    return page, 200, {"Cache-Control": "no-cache"}


@console.get("/console/<version>/<path:filename>")
def asset(version: str, filename: str):
    """A module or the stylesheet of the console; kept a year when asked under the current version."""
    current = version == console_version()
    if not current and not (CONSOLE_DIR / filename).is_file():
        abort(404)
    response = send_from_directory(CONSOLE_DIR, filename, max_age=int(STATIC_MAX_AGE.total_seconds()) if current else 0)
    if filename.endswith(".js"):
        response.mimetype = "text/javascript"
    return response
