"""Fixtures for the pure instruments package: the shipped library and broken-copy writers."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from instruments import Instrument, default_library
from instruments.loader import DEFINITIONS_DIR


@pytest.fixture(scope="session")
def shipped() -> dict[str, Instrument]:
    return dict(default_library())


@pytest.fixture(scope="session")
def who5() -> Instrument:
    """WHO-5 1.0: the hand-computed vectors prove a stored 1.0 response scores as before."""
    return default_library().version("who5", "1.0")


@pytest.fixture(scope="session")
def rses() -> Instrument:
    """RSES 1.0 (with the low/normal/high bands a stored 1.0 response keeps)."""
    return default_library().version("rses", "1.0")


@pytest.fixture(scope="session")
def pirc() -> Instrument:
    """The checklist as first shipped (1.0): its tests prove stored 1.0 responses alert as before."""
    return default_library().version("pirc", "1.0")


@pytest.fixture(scope="session")
def pirc2() -> Instrument:
    """The checklist with the reviewed red-flag triage (2.0), current for new responses."""
    return default_library().version("pirc", "2.0")


def definition(instrument_id: str, version: str | None = None) -> dict[str, Any]:
    """A fresh, editable copy of a shipped definition file's JSON (the current one, or a kept version)."""
    name = instrument_id if version is None else f"{instrument_id}-{version}"
    return json.loads((DEFINITIONS_DIR / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def write_definition(tmp_path: Path) -> Callable[..., Path]:
    """Write a (possibly broken) definition as <name>.json in a temporary folder, beside images/."""

    def write(data: dict[str, Any], name: str | None = None, folder: Path | None = None) -> Path:
        folder = folder or tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "images").exists():
            shutil.copytree(DEFINITIONS_DIR / "images", folder / "images")
        path = folder / f"{name or data['id']}.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return path

    return write
