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
    value, baseline = _tidy(value), _tidy(baseline)
    row = {"figure": figure, "value": value, "unit": unit, "target": target, "met": met, "baseline": baseline}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({**row, **extra}) + "\n")


def _tidy(number: float | None) -> float | None:
    """A figure as the table shows it: whole numbers from 100 up, one decimal below."""
    if isinstance(number, float):
        return round(number) if abs(number) >= 100 else round(number, 1)
    return number
