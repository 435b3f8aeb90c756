"""Export benchmark: the long CSV of demo cohorts against pandas' to_csv, and the wide .xlsx.

    .venv/bin/python -m bench.export [--sizes 1000 10000] [--workdir DIR]

For each size it builds a demo cohort in a temporary SQLite file (`flask demo --patients N`;
kept in --workdir to re-run without rebuilding), then, each in a fresh process:
- ours: `open_export(... format long ...)` streamed to a file (what the CLI, page and API run);
- pandas: the same CSV read into a DataFrame (not timed), then `DataFrame.to_csv` (timed).
- xlsx: `open_export(... format xlsx, table wide ...)` streamed to a file (XlsxWriter, constant memory).
- native: `open_export(... format sav / dta, table wide / long ...)`: pyreadstat writes from a pandas
  DataFrame, so the whole table is held in memory while it is written (no target; the figure says
  how much).
It prints rows/s and peak RSS (the process's own `ru_maxrss`) of each, and the ratio of the CSV
throughputs. Targets (issues 6 and 19): the long CSV's peak RSS under 250 MB at 10,000 patients
and at least 0.8 of pandas' throughput in the same run; the wide .xlsx's peak RSS under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cohorts import SECRET, build_cohort
from bench.figures import report

ROOT = Path(__file__).resolve().parent.parent
RSS_TARGET_MB = 250
RATIO_TARGET = 0.8
XLSX_RSS_TARGET_MB = 300


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def child_ours(database_url: str, out: str, fmt: str = "long", table: str = "wide") -> dict[str, float]:
    """Run in a fresh process: stream DEMO's long CSV (or `table` as fmt "xlsx", "sav", "dta") to `out`."""
    from sqlalchemy import select

    from app import create_app
    from reports.exports.options import ExportOptions
    from reports.exports.runs import open_export
    from surveys.domain.models import Study
    from surveys.infra.db import db
    from surveys.infra.library import instruments

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET})
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.code == "DEMO"))
        started, cpu = time.perf_counter(), time.process_time()
        options = ExportOptions(format=fmt, table=table)
        download = open_export(db.session, study, options, instruments(), actor="bench", via="bench")
        with open(out, "wb") as handle:
            for chunk in download.chunks:
                handle.write(chunk)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = _peak_rss_mb()  # before anything reads the file back
    if fmt in ("sav", "dta"):
        import pyreadstat

        _, meta = (pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta)(out, metadataonly=True)
        return {"rows": meta.number_rows, "seconds": seconds, "cpu": cpu, "peak_rss_mb": peak}
    if fmt == "xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(out, read_only=True)
        rows = workbook.active.max_row - 1
        workbook.close()
        return {"rows": rows, "seconds": seconds, "cpu": cpu, "peak_rss_mb": peak}
    with open(out, "rb") as handle:
        rows = sum(1 for _ in handle) - 1
    return {"rows": rows, "seconds": seconds, "cpu": cpu, "peak_rss_mb": peak}


def child_pandas(csv_path: str, out: str) -> dict[str, float]:
    """Run in a fresh process: the same rows in a DataFrame, then time `to_csv` alone."""
    import pandas as pd

    frame = pd.read_csv(csv_path, keep_default_na=False, na_values=[""], dtype={"instrument_version": str})
    started, cpu = time.perf_counter(), time.process_time()
    frame.to_csv(out, index=False)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"rows": len(frame), "seconds": seconds, "cpu": cpu, "peak_rss_mb": _peak_rss_mb()}


def _child(*args: str) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-m", "bench.export", "--child", *args], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


PARTS = ("csv", "xlsx", "native")


def native_figures(size: int, url: str, workdir: Path) -> None:
    """The .sav and .dta of the wide and long tables: seconds and peak RSS (no target: a table in memory)."""
    for table in ("wide", "long"):
        for fmt in ("sav", "dta"):
            path = workdir / f"{table}-{size}.{fmt}"
            try:
                got = _child("ours", url, str(path), fmt, table)
            except subprocess.CalledProcessError as exc:  # say it and go on with the other files
                error = (exc.stderr or "").strip().splitlines()[-1:] or ["?"]
                print(f"{size:>8} {table}.{fmt}: FAILED: {error[0]}", flush=True)
                report(f"{table} .{fmt} peak RSS ({size} patients)", 0, "MB", "writes at all", False)
                path.unlink(missing_ok=True)
                continue
            print(f"{size:>8} {got['rows']:>10,} {table}.{fmt}: {got['seconds']:.1f} s "
                  f"({got['cpu']:.1f} cpu-s), peak {got['peak_rss_mb']:.0f} MB, "
                  f"{path.stat().st_size / 1e6:.1f} MB file", flush=True)
            report(f"{table} .{fmt} peak RSS ({size} patients)", round(got["peak_rss_mb"]), "MB",
                   "none (one table held in memory)", True)
            report(f"{table} .{fmt} seconds ({size} patients)", round(got["seconds"], 1), "s",
                   "none", True)
            path.unlink()


def run(sizes: list[int], workdir: Path, parts: tuple[str, ...] = PARTS) -> int:
    """Benchmark each size (the `parts` chosen); returns 0 when every target is met."""
    workdir.mkdir(parents=True, exist_ok=True)
    failures = 0
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(rows/s: wall clock; rows/cpu-s: per CPU second of the process, robust to a busy machine)")
    print(f"{'patients':>8} {'rows':>10} {'ours rows/s':>12} {'rows/cpu-s':>10} {'ours MB':>8} "
          f"{'pandas rows/s':>14} {'rows/cpu-s':>10} {'pandas MB':>10} {'ratio':>6} {'cpu ratio':>9}")
    for size in sizes:
        url = build_cohort(workdir / f"demo-{size}.sqlite3", size)
        if "native" in parts:
            native_figures(size, url, workdir)
        if "csv" not in parts:
            continue
        ours_csv, pandas_csv = workdir / f"long-{size}.csv", workdir / f"pandas-{size}.csv"
        ours = _child("ours", url, str(ours_csv))
        theirs = _child("pandas", str(ours_csv), str(pandas_csv))
        ours_rate, their_rate = ours["rows"] / ours["seconds"], theirs["rows"] / theirs["seconds"]
        ours_cpu, their_cpu = ours["rows"] / ours["cpu"], theirs["rows"] / theirs["cpu"]
        ratio, cpu_ratio = ours_rate / their_rate, ours_cpu / their_cpu
        print(f"{size:>8} {ours['rows']:>10,} {ours_rate:>12,.0f} {ours_cpu:>10,.0f} "
              f"{ours['peak_rss_mb']:>8.0f} "
              f"{their_rate:>14,.0f} {their_cpu:>10,.0f} {theirs['peak_rss_mb']:>10.0f} {ratio:>6.2f} "
              f"{cpu_ratio:>9.2f}", flush=True)
        if ours["peak_rss_mb"] >= RSS_TARGET_MB or ratio < RATIO_TARGET:
            failures += 1
        report(f"long export rows/s ({size} patients)", round(ours_rate), "rows/s",
               f">= {RATIO_TARGET} x pandas", ratio >= RATIO_TARGET, baseline=round(their_rate))
        report(f"long export peak RSS ({size} patients)", round(ours["peak_rss_mb"]), "MB",
               f"< {RSS_TARGET_MB}", ours["peak_rss_mb"] < RSS_TARGET_MB,
               baseline=round(theirs["peak_rss_mb"]))
        ours_csv.unlink()
        pandas_csv.unlink()
        xlsx_path = workdir / f"wide-{size}.xlsx"
        xlsx = _child("ours", url, str(xlsx_path), "xlsx")
        xlsx_rate = xlsx["rows"] / xlsx["seconds"]
        print(f"{size:>8} {xlsx['rows']:>10,} wide .xlsx: {xlsx_rate:,.0f} rows/s, "
              f"{xlsx['rows'] / xlsx['cpu']:,.0f} rows/cpu-s, peak {xlsx['peak_rss_mb']:.0f} MB, "
              f"{xlsx_path.stat().st_size / 1e6:.1f} MB file", flush=True)
        if xlsx["peak_rss_mb"] >= XLSX_RSS_TARGET_MB:
            failures += 1
        report(f"wide xlsx peak RSS ({size} patients)", round(xlsx["peak_rss_mb"]), "MB",
               f"< {XLSX_RSS_TARGET_MB}", xlsx["peak_rss_mb"] < XLSX_RSS_TARGET_MB)
        xlsx_path.unlink()
    print(f"targets: CSV peak RSS < {RSS_TARGET_MB} MB, ratio >= {RATIO_TARGET}; xlsx peak RSS < "
          f"{XLSX_RSS_TARGET_MB} MB: " + ("met" if not failures else f"missed {failures} time(s)"))
    return 1 if failures else 0


def main() -> int:
    """Command line."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, *args = sys.argv[2:]
        print(json.dumps(child_ours(*args) if kind == "ours" else child_pandas(*args)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--workdir", type=Path, help="keep the demo databases here (default: a temp dir)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="csv: long CSV vs pandas and the wide .xlsx; native: .sav/.dta of wide and long")
    options = parser.parse_args()
    if options.workdir:
        return run(options.sizes, options.workdir, tuple(options.parts))
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        return run(options.sizes, Path(tmp), tuple(options.parts))


if __name__ == "__main__":
    sys.exit(main())
