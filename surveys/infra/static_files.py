"""Static files fingerprinted and cached as immutable.

Every `url_for` of a static endpoint (the app's and each blueprint's: `static`, `patient.static`,
`staff.static`, `reports.static`) gets `?v=<first 12 hex digits of the file's SHA-256>`. A request
carrying the file's current fingerprint is answered with `Cache-Control: public, max-age=31536000,
immutable`: a browser on a slow network loads it once and never revalidates it; a changed file
gets a new address. Without the fingerprint (or with an old one) the file is served `no-cache`,
so the browser revalidates it. Fingerprints are computed once per file version (path, size and
modification time), never per request.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from typing import Any

from flask import Flask, Response, current_app, request

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
FINGERPRINT_ARG = "v"


@lru_cache(maxsize=512)
def _digest(path: str, _size: int, _mtime_ns: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:12]


@lru_cache(maxsize=1024)
def _resolve(folder: str, filename: str) -> str | None:
    """The real path of `filename` inside `folder`, or None when it leads out of the folder.

    Cached: folders and their symbolic links do not move while the app runs (a page links several
    static files, and resolving each path anew was a dozen system calls per link)."""
    root = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(root, filename))
    return path if path.startswith(root + os.sep) else None


def fingerprint(folder: str | None, filename: str) -> str | None:
    """The fingerprint of a static file, or None when it does not exist (or leaves the folder).

    The file is looked at (one stat) on every call, so a changed file gets a new fingerprint."""
    if not folder or not filename:
        return None
    path = _resolve(folder, filename)
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _digest(path, stat.st_size, stat.st_mtime_ns)


def _static_folder(app: Flask, endpoint: str) -> str | None:
    if endpoint == "static":
        return app.static_folder
    name, _, last = endpoint.rpartition(".")
    blueprint = app.blueprints.get(name)
    return blueprint.static_folder if last == "static" and blueprint is not None else None


def _is_static(endpoint: str) -> bool:
    return endpoint == "static" or endpoint.endswith(".static")


def _add_fingerprint(endpoint: str, values: dict[str, Any]) -> None:
    if not _is_static(endpoint) or FINGERPRINT_ARG in values or "filename" not in values:
        return
    stamp = fingerprint(_static_folder(current_app, endpoint), values["filename"])
    if stamp:
        values[FINGERPRINT_ARG] = stamp


def _cache_static(response: Response) -> Response:
    endpoint = request.endpoint or ""
    if not _is_static(endpoint) or response.status_code not in (200, 304):
        return response
    stamp = fingerprint(_static_folder(current_app, endpoint), (request.view_args or {}).get("filename", ""))
    if stamp and request.args.get(FINGERPRINT_ARG) == stamp:
        response.headers["Cache-Control"] = IMMUTABLE
    else:
        response.headers["Cache-Control"] = REVALIDATE
    return response


def init_app(app: Flask) -> None:
    """Fingerprint static URLs and cache fingerprinted static files as immutable."""
    app.url_defaults(_add_fingerprint)
    app.after_request(_cache_static)
