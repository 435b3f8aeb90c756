"""No test takes "today" from the machine's clock: the app counts in the study's local days.

`date.today()` and `datetime.now(UTC).date()` are the machine's (UTC) day, a day behind Europe/Paris
for an hour or two every night: a test built on them passes by day and fails at night. Tests use
`tests.today.local_today()` instead (a line comparing with the machine's day says "machine day on
purpose").
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).parent
MACHINE_DAY = re.compile(r"\bdate\.today\(\)|now\(UTC\)\.date\(\)|utcnow\(\)\.date\(\)")


def test_no_test_reads_today_from_the_machine_clock() -> None:
    found = [f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
             for path in sorted(TESTS.rglob("*.py")) if "node_modules" not in path.parts
             and path.name not in {"today.py", Path(__file__).name}
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if MACHINE_DAY.search(line) and "machine day on purpose" not in line]
    assert found == [], "use tests.today.local_today():\n" + "\n".join(found)
