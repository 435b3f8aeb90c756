"""CPU time and SQL statements per patient request, measured in-process (no HTTP, no threads).

    .venv/bin/python -m bench.patient_cpu [--patients 20] [--flow both|plain|script] [--profile]

Enrolls patients in a fresh SQLite file (or --database-url), then calls the real app (CSRF and
rate limits on) through WSGI, one patient after another, each answering the whole baseline: either
as a browser without JavaScript (POST, 303, GET of the next screen) or as patient.js (one POST per
answer with the X-Patient-Screen header; the next screen is in its reply). For each kind of request
it prints the CPU time of the process (time.process_time: other processes on the machine barely
move it, unlike wall-clock figures) and the statements sent to the database, then the totals per
answer of each flow. --profile adds a cProfile listing. A diagnostic, not part of `make bench`.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.patient_load import ITEM, SCRIPT_HEADERS, SECRET, answer_form, seed

#: The requests that open a questionnaire, before the first answer (not counted per answer).
FIRST = ("GET home", "GET timepoint", "GET first screen")


class Browser:
    """One patient's browser: cookies, and every request timed and its SQL counted."""

    def __init__(self, app: Any, counter: list[int], samples: dict[str, list[tuple[float, int]]]) -> None:
        self.app, self.counter, self.samples = app, counter, samples
        self.cookies: dict[str, str] = {}

    def call(self, kind: str, method: str, path: str, form: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, str, str]:
        """One request through WSGI; returns status, Location (or X-Patient-Location) and body."""
        from werkzeug.test import EnvironBuilder

        sent = {"Accept": "text/html", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = urllib.parse.urlencode(form) if form is not None else None
        content_type = "application/x-www-form-urlencoded" if data else None
        environ = EnvironBuilder(path=path, method=method, headers=sent, data=data, content_type=content_type,
                                 base_url="http://127.0.0.1").get_environ()
        reply: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]], _exc: Any = None) -> None:
            reply["status"], reply["headers"] = int(status.split()[0]), response_headers

        statements = self.counter[0]
        started = time.process_time()
        body = b"".join(self.app(environ, start_response))
        self.samples[kind if reply["status"] != 302 else f"{kind} (302)"].append(
            (time.process_time() - started, self.counter[0] - statements))
        location = ""
        for name, value in reply["headers"]:
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
            elif name.lower() in ("location", "x-patient-location"):
                location = urllib.parse.urlsplit(value).path
        return reply["status"], location, body.decode("utf-8")


def answer_baseline(browser: Browser, token: str, script: bool) -> int:
    """Answer the whole baseline as one patient; the number of answers."""
    browser.call(FIRST[0], "GET", f"/p/{token}")
    status, path, html = browser.call(FIRST[1], "GET", f"/p/{token}/q/T0")
    status, _location, html = browser.call(FIRST[2], "GET", path)
    answers = 0
    last_item = ""
    while (item := ITEM.search(html)) is not None:
        assert item.group(1) != last_item, f"the answer to {last_item} was not taken: fix the benchmark"
        last_item = item.group(1)
        form = answer_form(html, item.group(1))
        if script:
            status, path, html = browser.call("POST answer, script", "POST", path, form, SCRIPT_HEADERS)
            assert status == 200 and path, (status, html[:300])
        else:
            status, path, _html = browser.call("POST answer", "POST", path, form)
            assert status == 303, (status, _html[:300])
            status, location, html = browser.call("GET next page", "GET", path)
            if status == 302:  # a finished part: its timepoint leads to the next part
                path = location
                status, _location, html = browser.call("GET next page", "GET", path)
        answers += 1
    assert "Thank you!" in html, html[:300]
    return answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=20, choices=range(1, 201), metavar="1..200")
    parser.add_argument("--flow", choices=("both", "plain", "script"), default="both")
    parser.add_argument("--profile", action="store_true", help="print a cProfile listing as well")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    args = parser.parse_args(argv)
    flows = {"both": (False, True), "plain": (False,), "script": (True,)}[args.flow]

    from sqlalchemy import event

    from app import create_app
    from surveys.infra.db import db

    with tempfile.TemporaryDirectory(prefix="patient-cpu-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'cpu.sqlite3'}"
        tokens = seed(url, (args.patients + 1) * len(flows))
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "BASE_URL": "http://127.0.0.1",
                          "RATELIMIT_STORAGE_URI": "memory://", "MAIL_SERVER": ""})
        counter = [0]
        event.listen(db.engine, "before_cursor_execute", lambda *_a: counter.__setitem__(0, counter[0] + 1))
        for script in flows:  # warm-up: templates compiled, caches filled
            answer_baseline(Browser(app, counter, defaultdict(list)), tokens.pop(), script)
        profiler = cProfile.Profile() if args.profile else None
        results = []
        for script in flows:
            samples: dict[str, list[tuple[float, int]]] = defaultdict(list)
            if profiler:
                profiler.enable()
            answers = sum(answer_baseline(Browser(app, counter, samples), tokens.pop(), script)
                          for _ in range(args.patients))
            if profiler:
                profiler.disable()
            results.append((script, answers, samples))
        db.session.remove()
        db.engine.dispose()

    print(f"\nIn-process CPU per patient request ({args.patients} patients, SQLite WAL unless "
          f"--database-url; CPU time of this process)")
    print(f"{'request':28}{'n':>6}{'cpu median ms':>15}{'cpu mean ms':>13}{'statements':>12}")
    for script, answers, samples in results:
        flow = "with patient.js" if script else "without JavaScript"
        print(f"-- {flow}")
        for kind, rows in samples.items():
            cpu = [seconds * 1000 for seconds, _n in rows]
            print(f"{kind:28}{len(rows):>6}{statistics.median(cpu):>15.2f}{statistics.mean(cpu):>13.2f}"
                  f"{statistics.mean(n for _s, n in rows):>12.2f}")
        asked = [row for kind, rows in samples.items() if not kind.startswith(FIRST) for row in rows]
        cpu_ms = sum(seconds for seconds, _n in asked) * 1000 / answers
        print(f"per answer, up to the next page on screen: {cpu_ms:.2f} ms CPU, "
              f"{sum(n for _s, n in asked) / answers:.1f} statements, {len(asked) / answers:.2f} requests "
              f"({answers} answers)")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
