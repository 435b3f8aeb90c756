"""The instrument library an app uses: the shipped definitions plus a clinic's private folders."""

from __future__ import annotations

import os
from typing import Any

from flask import current_app

from instruments import Instrument, load_library


def instruments() -> dict[str, Instrument]:
    """The app's instrument library, loaded and validated once per app."""
    library = current_app.extensions.get("instruments")
    if library is None:
        library = init_library(current_app.config)
        current_app.extensions["instruments"] = library
    return library


def init_library(config: Any) -> dict[str, Instrument]:
    """Load the library; `INSTRUMENT_DIRS` lists extra folders, separated by the OS path separator."""
    extra = [d for d in str(config.get("INSTRUMENT_DIRS") or "").split(os.pathsep) if d]
    return load_library(extra)
