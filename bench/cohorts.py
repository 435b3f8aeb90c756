"""Synthetic demo cohorts for the benchmarks, built once per work folder and shared."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"


def build_cohort(path: Path, patients: int) -> str:
    """A demo cohort of `patients` in a SQLite file (reused when it is already there); its URL."""
    url = f"sqlite:///{path}"
    if not path.exists():
        started = time.perf_counter()
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET}
        subprocess.run([sys.executable, "-m", "flask", "--app", "app", "demo", "--patients", str(patients)],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        print(f"  built {patients} patients in {time.perf_counter() - started:.0f} s", flush=True)
    return url
