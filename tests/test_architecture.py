"""The layers stay layered: instruments is pure, and no lower package imports a higher one."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"instruments": 0, "surveys": 1, "reports": 2}


def test_instruments_imports_neither_flask_nor_sqlalchemy_nor_higher_layers() -> None:
    code = (
        "import sys, instruments, instruments.__main__, instruments.fhir;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'sqlalchemy', 'surveys', 'reports', 'werkzeug', 'pandas')];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_no_package_imports_a_higher_layer(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imports_of(path):
            if name in LAYERS and LAYERS[name] > LAYERS[package]:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_no_grab_bag_modules() -> None:
    names = {p.stem for pkg in LAYERS for p in (ROOT / pkg).rglob("*.py")}
    assert not names & {"utils", "helpers", "manager", "misc", "common"}
