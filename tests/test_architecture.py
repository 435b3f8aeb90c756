"""The layers stay layered, and each audience keeps to its own room.

The map (docs/ARCHITECTURE.md): `reports -> surveys -> instruments`; inside `surveys`, the patient
pages (`surveys.patient`) and the staff pages (`surveys.staff`) sit on the domain services
(`surveys.domain`), which sit on the plumbing (`surveys.infra`). Each rule below is a function of a
source tree, so the tests can prove a rule really fails on a tree that breaks it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"instruments": 0, "surveys": 1, "reports": 2}
PACKAGES = tuple(LAYERS)
#: The one staff module that is not a page: the login guard the dashboards and exports share.
STAFF_GUARD = "surveys.staff.access"


def test_instruments_imports_neither_flask_nor_sqlalchemy_nor_higher_layers() -> None:
    code = (
        "import sys, instruments, instruments.__main__, instruments.fhir;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'sqlalchemy', 'surveys', 'reports', 'werkzeug', 'pandas')];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    """Every module of our packages under `root`, by dotted name."""
    return {module_name(root, p): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def imports_of(path: Path, name: str) -> set[str]:
    """The dotted names a module imports (absolute and relative; top level and inside functions).

    `from a.b import c` counts as importing `a.b.c` when that is a module, else `a.b`; the caller
    resolves which (see `resolve`).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def resolve(imported: set[str], known: dict[str, Path]) -> set[str]:
    """The modules of ours among imported names (`from x import y` where y is not a module -> x)."""
    return {name for name in imported if name in known}


def import_graph(root: Path) -> dict[str, set[str]]:
    known = modules(root)
    return {name: resolve(imports_of(path, name), known) - {name} for name, path in known.items()}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(root: Path) -> list[str]:
    """Every import that breaks a rule of the map, as 'importer imports imported (rule)'."""
    rules = [
        # (importer package, forbidden package, allowed exceptions, rule)
        ("surveys.patient", "surveys.staff", (), "patient pages never import staff pages"),
        ("surveys.staff", "surveys.patient", (), "staff pages never import patient pages"),
        ("surveys.domain", "surveys.patient", (), "domain services import no blueprint"),
        ("surveys.domain", "surveys.staff", (), "domain services import no blueprint"),
        ("surveys.domain", "surveys.demo", (), "domain services do not import the demo"),
        ("surveys.infra", "surveys.domain", (), "the plumbing imports no domain service"),
        ("surveys.infra", "surveys.patient", (), "the plumbing imports no blueprint"),
        ("surveys.infra", "surveys.staff", (), "the plumbing imports no blueprint"),
        ("surveys.demo", "surveys.patient", (), "the demo imports no blueprint"),
        ("surveys.demo", "surveys.staff", (), "the demo imports no blueprint"),
        ("reports", "surveys.patient", (), "reports imports no surveys blueprint"),
        ("reports", "surveys.staff", (STAFF_GUARD,), "reports imports no surveys blueprint"),
        ("reports.dashboards", "reports.exports", (), "dashboards and exports are separate rooms"),
        ("reports.exports", "reports.dashboards", (), "dashboards and exports are separate rooms"),
        ("instruments", "surveys", (), "instruments imports nothing of ours"),
        ("instruments", "reports", (), "instruments imports nothing of ours"),
        ("surveys", "reports", (), "surveys never imports reports"),
    ]
    found = []
    for importer, imported in sorted(import_graph(root).items()):
        for name in sorted(imported):
            for source, target, allowed, rule in rules:
                if within(importer, source) and within(name, target) and name not in allowed:
                    found.append(f"{importer} imports {name} ({rule})")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's __init__ re-exporting its own modules is not a circle between modules."""
    return {
        name: {dep for dep in deps if not (within(name, dep) or within(dep, name))}
        for name, deps in graph.items()
    }


def test_every_module_keeps_to_the_map() -> None:
    assert violations(ROOT) == []


def test_no_circle_between_modules() -> None:
    assert cycles(without_package_inits(import_graph(ROOT))) == []


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for pkg in PACKAGES:
        (root / pkg).mkdir(exist_ok=True)


def real_tree_with(tmp_path: Path, extra: dict[str, str]) -> Path:
    """A copy of our packages' sources with `extra` files added or replaced."""
    files = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in modules(ROOT).values()}
    files.update(extra)
    write_tree(tmp_path, files)
    return tmp_path


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"surveys/patient/sneaky.py": "from surveys.staff.views import bp\n"},
            "surveys.patient.sneaky imports surveys.staff.views (patient pages never import staff pages)",
        ),
        (
            {"surveys/patient/sneaky.py": "def f():\n    from surveys.staff import worklist\n"},
            "surveys.patient.sneaky imports surveys.staff.worklist (patient pages never import staff pages)",
        ),
        (
            {"surveys/staff/sneaky.py": "from ..patient import saves\n"},
            "surveys.staff.sneaky imports surveys.patient.saves (staff pages never import patient pages)",
        ),
        (
            {"surveys/domain/sneaky.py": "import surveys.patient.views\n"},
            "surveys.domain.sneaky imports surveys.patient.views (domain services import no blueprint)",
        ),
        (
            {"reports/exports/sneaky.py": "from surveys.staff.views import bp\n"},
            "reports.exports.sneaky imports surveys.staff.views (reports imports no surveys blueprint)",
        ),
        (
            {"instruments/sneaky.py": "from surveys.domain import models\n"},
            "instruments.sneaky imports surveys.domain.models (instruments imports nothing of ours)",
        ),
    ],
)
def test_a_tree_that_breaks_a_rule_is_caught(tmp_path: Path, extra: dict[str, str], expected: str) -> None:
    assert expected in violations(real_tree_with(tmp_path, extra))


def test_the_staff_guard_is_the_one_staff_module_reports_may_use(tmp_path: Path) -> None:
    guarded = {"reports/exports/guarded.py": "from surveys.staff.access import roles_required\n"}
    tree = real_tree_with(tmp_path, guarded)
    assert not [v for v in violations(tree) if v.startswith("reports.exports.guarded")]


def test_a_circle_between_modules_is_caught() -> None:
    graph = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"a.x"}}
    assert cycles(graph) == [["a.x", "a.y", "a.z"]]


def test_no_grab_bag_modules() -> None:
    names = {p.stem for p in modules(ROOT).values()}
    assert not names & {"utils", "helpers", "manager", "misc", "common"}


def templates_and_static(package: Path) -> Iterator[Path]:
    for folder in ("templates", "static"):
        yield from (package / folder).rglob("*") if (package / folder).is_dir() else ()


def test_templates_and_static_files_live_with_their_package() -> None:
    assert not (ROOT / "surveys" / "templates").exists() and not (ROOT / "surveys" / "static").exists()
    assert not (ROOT / "reports" / "templates").exists() and not (ROOT / "reports" / "static").exists()
    patient = {p.name for p in templates_and_static(ROOT / "surveys" / "patient")}
    staff = {p.name for p in templates_and_static(ROOT / "surveys" / "staff")}
    assert {"patient.js", "patient.css", "screen.html"} <= patient
    assert {"staff.js", "staff.css", "worklist.html"} <= staff
