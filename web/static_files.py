"""The pages' own static files (their stylesheet), served by Flask at /static/ and cached for a year.

Their URLs carry a digest of the content, so a changed file is fetched anew despite the long cache.
"""

import functools
import hashlib
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app, url_for

STATIC_MAX_AGE = timedelta(days=365)


def asset_url(filename: str) -> str:
    """The URL of a static file, versioned by its content."""
    return url_for("static", filename=filename, v=_digest(Path(current_app.static_folder, filename)))


@functools.cache
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def register_static_files(flask_app: Flask) -> None:
    """Serve static/ with a long cache and let templates name files with asset_url()."""
    flask_app.config["SEND_FILE_MAX_AGE_DEFAULT"] = STATIC_MAX_AGE
    flask_app.add_template_global(asset_url)
