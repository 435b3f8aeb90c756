"""The project is Apache-2.0; every runtime dependency must allow that (no GPL-only package).

The runtime distributions are those `requirements.txt` names and everything they require, read from
the installed packages' own metadata (`Requires-Dist`, with environment markers and extras). A
licence counts as GPL-only when its text or classifiers name the GPL with no LGPL and no
permissive alternative beside it (a dual "Artistic or GPL" package is fine).
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PERMISSIVE = ("MIT", "BSD", "Apache", "ISC", "PSF", "Python Software Foundation", "MPL", "Mozilla",
              "Artistic", "Unlicense", "Zlib", "HPND", "CC0", "Public Domain")


def requirement_names(path: Path) -> list[str]:
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(Requirement(line).name)
    return names


def runtime_closure(roots: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Name -> (licence text or expression, licence classifiers) of every runtime distribution."""
    seen: dict[str, tuple[str, list[str]]] = {}
    todo = [(name, frozenset[str]()) for name in roots]
    while todo:
        name, extras = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue  # a marker-excluded or optional package that is not installed
        if key not in seen:
            meta = dist.metadata
            licence = meta.get("License-Expression") or meta.get("License") or ""
            classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
            seen[key] = (licence, classifiers)
        for spec in dist.requires or []:
            req = Requirement(spec)
            environments = [{"extra": e} for e in extras] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in environments):
                todo.append((req.name, frozenset(req.extras)))
    return seen


def gpl_only(licence: str, classifiers: list[str]) -> bool:
    """True when the GPL is named and nothing lets a user take the package under other terms."""
    texts = [licence[:300], *classifiers]
    names_gpl = any(re.search(r"\bGPL\b|General Public License", t) and not re.search(r"LGPL|Lesser", t)
                    for t in texts)
    alternative = any(re.search(r"LGPL|Lesser", t) or any(p in t for p in PERMISSIVE) for t in texts)
    return names_gpl and not alternative


def test_the_project_is_licensed_apache_2() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")[:200]
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_no_runtime_dependency_is_gpl_only() -> None:
    closure = runtime_closure(requirement_names(ROOT / "requirements.txt"))
    assert {"flask", "sqlalchemy", "pandas"} <= closure.keys()  # the walk really found the packages
    offenders = {name: lic for name, (lic, cls) in closure.items() if gpl_only(lic, cls)}
    assert offenders == {}


@pytest.mark.parametrize(
    ("licence", "classifiers", "expected"),
    [
        ("GPL-3.0-only", [], True),
        ("", ["License :: OSI Approved :: GNU General Public License v3 (GPLv3)"], True),
        ("LGPL-3.0-only", [], False),
        ("Artistic License", ["License :: OSI Approved :: GNU General Public License (GPL)"], False),
        ("BSD-3-Clause", [], False),
        ("MIT OR GPL-2.0-or-later", [], False),
    ],
)
def test_the_gpl_only_rule(licence: str, classifiers: list[str], expected: bool) -> None:
    assert gpl_only(licence, classifiers) is expected
