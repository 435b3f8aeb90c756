"""instruments is pure: importing it loads no web, database, FHIR library or higher layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("flask", "sqlalchemy", "surveys", "reports", "werkzeug", "wtforms", "fhir", "pydantic")


def test_importing_instruments_loads_only_the_standard_library() -> None:
    code = (
        "import sys, instruments, instruments.fhir, instruments.__main__\n"
        "instruments.default_library()\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_instruments_source_imports_no_third_party_package() -> None:
    allowed = set(sys.stdlib_module_names) | {"instruments", "__future__"}
    for path in (ROOT / "instruments").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in ("import", "from"):
                assert words[1].split(".")[0] in allowed, f"{path.name}: {line}"


def test_public_api_is_re_exported() -> None:
    import instruments

    for name in (
        "Instrument",
        "Item",
        "Option",
        "ScoreResult",
        "AlertResult",
        "InstrumentError",
        "AnswerError",
        "load_instrument",
        "load_library",
        "default_library",
        "score",
        "validate_answers",
        "visible_items",
        "evaluate_alerts",
    ):
        assert hasattr(instruments, name), name
