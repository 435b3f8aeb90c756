"""Figures a benchmark reports to `make bench`: appended as JSON lines to $BENCH_FIGURES."""

from __future__ import annotations

import json
import os
from typing import Any


def report(
    figure: str, value: float, unit: str, target: str, met: bool, baseline: float | None = None, **extra: Any
) -> None:
    """Record one figure (no-op when the benchmark runs on its own)."""
    path = os.environ.get("BENCH_FIGURES")
    if not path:
        return
    row = {"figure": figure, "value": value, "unit": unit, "target": target, "met": met, "baseline": baseline}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({**row, **extra}) + "\n")
