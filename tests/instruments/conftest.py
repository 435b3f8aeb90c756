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
def who5(shipped: dict[str, Instrument]) -> Instrument:
    return shipped["who5"]


@pytest.fixture(scope="session")
def rses(shipped: dict[str, Instrument]) -> Instrument:
    return shipped["rses"]


@pytest.fixture(scope="session")
def pirc(shipped: dict[str, Instrument]) -> Instrument:
    return shipped["pirc"]


def definition(instrument_id: str) -> dict[str, Any]:
    """A fresh, editable copy of a shipped definition file's JSON."""
    return json.loads((DEFINITIONS_DIR / f"{instrument_id}.json").read_text(encoding="utf-8"))


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
