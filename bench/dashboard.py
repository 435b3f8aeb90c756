"""Dashboard benchmark: the study dashboard and the patient page on demo cohorts.

    .venv/bin/python -m bench.dashboard [--sizes 1000 10000] [--requests 7] [--workdir DIR]

For each size it builds a demo cohort in a temporary SQLite file (`flask demo --patients N`;
kept in --workdir to re-run without rebuilding), then, in a fresh process, logs in as the demo
clinician through the Flask test client and times whole requests (routing, SQL, pandas, figures,
templates; no network): the study dashboard page unfiltered and filtered (sex=female, through
the JSON endpoint the page redraws from), and the patient pages of several patients. It prints
the median and the slowest of each. Targets (issue 5), at 10,000 patients: dashboard <= 1.5 s,
patient page <= 200 ms. The first request of each kind is a warm-up and is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cohorts import SECRET, build_cohort
from bench.figures import report

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_TARGET_S = 1.5
PATIENT_TARGET_S = 0.2


def _timed(client: object, url: str, repeats: int) -> list[float]:
    client.get(url)  # warm-up: imports, template compilation, plotly validators
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
    return times


def child(database_url: str, repeats: int) -> dict[str, list[float]]:
    """Run in a fresh process: log in and time the pages."""
    from app import create_app
    from surveys.demo import DEMO_USERS

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET, "RATELIMIT_ENABLED": False,
                      "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    email, _role, password = next(user for user in DEMO_USERS if user[1] == "clinician")
    if client.post("/login", data={"email": email, "password": password}).status_code != 302:
        raise SystemExit("could not log in as the demo clinician")
    patients = ["DEMO-FOLLOWUP", "DEMO-00001", "DEMO-00002", "DEMO-00003"]
    patient_times: list[float] = []
    for code in patients:
        patient_times += _timed(client, f"/studies/DEMO/patients/{code}", max(2, repeats // 2))
    return {
        "dashboard": _timed(client, "/studies/DEMO/dashboard", repeats),
        "dashboard_json_filtered": _timed(client, "/studies/DEMO/dashboard.json?sex=female", repeats),
        "patient": patient_times,
    }


def run(sizes: list[int], workdir: Path, repeats: int) -> int:
    """Benchmark each size; returns 0 when the targets are met at the largest size."""
    workdir.mkdir(parents=True, exist_ok=True)
    failed = False
    for size in sizes:
        print(f"{size} patients", flush=True)
        url = build_cohort(workdir / f"demo-{size}.sqlite3", size)
        result = subprocess.run([sys.executable, "-m", "bench.dashboard", "--child", url, "--requests",
                                 str(repeats)], cwd=ROOT, check=True, capture_output=True, text=True)
        timings = json.loads(result.stdout.strip().splitlines()[-1])
        for name, times in timings.items():
            target = PATIENT_TARGET_S if name == "patient" else DASHBOARD_TARGET_S
            median = statistics.median(times)
            verdict = "ok" if median <= target else "OVER TARGET"
            if size >= 10_000 and median > target:
                failed = True
            report(f"{name} ({size} patients)", round(median * 1000), "ms", f"<= {target * 1000:.0f}",
                   median <= target)
            print(f"  {name:<24} median {median * 1000:7.0f} ms  slowest {max(times) * 1000:7.0f} ms  "
                  f"(n={len(times)}, target {target * 1000:.0f} ms: {verdict})", flush=True)
    return 1 if failed else 0


def main() -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--requests", type=int, default=7, help="timed requests per page")
    parser.add_argument("--workdir", type=Path, help="keep the demo databases here (default: a temp dir)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(child(options.child, options.requests)))
        return 0
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} (other work skews timings)")
    if options.workdir:
        return run(options.sizes, options.workdir, options.requests)
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        return run(options.sizes, Path(tmp), options.requests)


if __name__ == "__main__":
    sys.exit(main())
