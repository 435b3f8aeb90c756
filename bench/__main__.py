"""`make bench`: run every benchmark under bench/ and print one table of figures.

    .venv/bin/python -m bench [--quick] [--workdir DIR] [--only NAME ...]

Each benchmark runs in its own process, bounded in time, against synthetic demo cohorts built
once in the work folder and shared (1,000 and 10,000 patients; `--quick`: 200 and 1,000). The
table gives each figure, its value, its target, the baseline measured in the same run and the
ratio to it. Loopback only. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIME_LIMIT_S = 1500  # per benchmark; building the 10,000-patient cohort takes a few minutes


def benchmarks(sizes: list[str], workdir: Path) -> dict[str, list[str]]:
    """The command line of each benchmark."""
    return {
        "patient_load": ["-m", "bench.patient_load", "--patients", "20", "--max-seconds", "60"],
        "dashboard": ["-m", "bench.dashboard", "--sizes", *sizes, "--workdir", str(workdir)],
        "export": ["-m", "bench.export", "--sizes", *sizes, "--workdir", str(workdir)],
    }


def machine() -> str:
    """What the figures were measured on."""
    return (
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, load average {os.getloadavg()[0]:.1f} at start"
    )


def table(rows: list[dict]) -> str:
    """The figures as an aligned text table."""
    head = ("figure", "value", "unit", "target", "baseline", "ratio", "met")
    lines = [head]
    for row in rows:
        base = row.get("baseline")
        ratio = f"{row['value'] / base:.2f}" if base else "-"
        lines.append(
            (
                row["figure"],
                f"{row['value']:,}",
                row["unit"],
                row["target"],
                "-" if base is None else f"{base:,}",
                ratio,
                "yes" if row["met"] else "NO",
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
    )


def main() -> int:
    """Run the benchmarks, then print the table; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller cohorts (200 and 1,000 patients)")
    parser.add_argument("--workdir", type=Path, help="keep the demo cohorts here between runs")
    parser.add_argument("--only", nargs="+", help="run only these benchmarks")
    options = parser.parse_args()
    sizes = ["200", "1000"] if options.quick else ["1000", "10000"]
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    figures = workdir / f"figures-{int(time.time())}.jsonl"
    print(machine(), flush=True)
    failed = []
    for name, args in benchmarks(sizes, workdir).items():
        if options.only and name not in options.only:
            continue
        print(f"\n== {name}", flush=True)
        env = {**os.environ, "BENCH_FIGURES": str(figures)}
        try:
            result = subprocess.run(
                [sys.executable, *args], cwd=ROOT, env=env, timeout=TIME_LIMIT_S, check=False
            )
            if result.returncode != 0:
                failed.append(name)
        except subprocess.TimeoutExpired:
            failed.append(f"{name} (timed out after {TIME_LIMIT_S} s)")
    rows = [json.loads(line) for line in figures.read_text().splitlines()] if figures.exists() else []
    print(f"\n{machine()}\n\n{table(rows)}")
    if failed:
        print(f"\nbenchmarks with a missed target or an error: {', '.join(failed)}")
    return 1 if failed or not all(r["met"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
