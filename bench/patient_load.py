"""Patient load benchmark: simulated patients answering the baseline through gunicorn.

    .venv/bin/python -m bench.patient_load [--patients 20] [--workers 2] [--threads 1]
                                           [--max-seconds 60] [--database-url URL]

Starts gunicorn on 127.0.0.1 with the real app (CSRF on, a fresh SQLite file unless
--database-url names a PostgreSQL database), enrolls 2N patients, then runs N threads at once,
each a patient who opens their link and answers the whole baseline screen by screen (real CSRF
tokens parsed from the forms, cookies kept), in two flows measured one after the other:

- without JavaScript: each answer is a POST, a 303 and the GET of the next screen
  (post/redirect/get; redirects followed by hand);
- with JavaScript (patient.js): each answer is one POST sent with the X-Patient-Screen header,
  whose reply is the next screen itself (its address in X-Patient-Location).

Then it serves `bench.bare_app` (a bare Flask endpoint doing one equivalent upsert, then a 303 to
a page: two requests per answer, like post/redirect/get) with the same gunicorn settings and
drives it with the same number of threads and answers; and `bench.floor_app`, the essentials
floor: only what the issue asks of every answer whatever the code (CSRF with its session cookie,
the link rate limit, Flask-Babel, the token looked up by its hash, the answer checked against its
choices, one upsert, a 303), driven the same way with real CSRF tokens.

Prints pages/s (pages shown), answers/s, p50/p95 latency per request and bytes per page for the
four, the ratio of each flow's answers/s to the bare baseline (target: at least 60%) and to the
essentials floor, the floor's own ratio to the bare baseline (the ceiling for any implementation
of the issue), and the size of a survey page with its CSS and JS, raw and gzipped, against the
30 KB budget. Loopback only; bounded in patients and time.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.figures import report

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"
RATIO_TARGET = 0.6
BUDGET_BYTES = 30 * 1024
ITEM = re.compile(r'name="item" value="([^"]+)"')
CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')  # any attribute order
FLOOR_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CODES = re.compile(r'name="answer" value="(-?\d+)"')
ASSETS = ("/static/app.css", "/static/patient/patient.css", "/static/patient/patient.js")
SCRIPT_HEADERS = {"X-Patient-Screen": "1"}  # what patient.js sends with an answer


@dataclass
class Stats:
    """Latencies and sizes collected by the client threads."""

    page_seconds: list[float] = field(default_factory=list)
    answer_seconds: list[float] = field(default_factory=list)
    page_bytes: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finished: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def page(self, seconds: float, size: int) -> None:
        with self.lock:
            self.page_seconds.append(seconds)
            self.page_bytes.append(size)

    def answer(self, seconds: float, page_size: int | None = None) -> None:
        """An answer's request; `page_size` when its reply was the next page itself."""
        with self.lock:
            self.answer_seconds.append(seconds)
            if page_size is not None:
                self.page_bytes.append(page_size)


class Client:
    """One browser: a keep-alive connection and its cookies."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def send(
        self, method: str, path: str, form: dict[str, str] | None = None, extra: dict[str, str] | None = None
    ) -> tuple[int, str, bytes, float]:
        """One request; returns status, Location (or X-Patient-Location), body and seconds taken."""
        headers = {"Accept": "text/html", **(extra or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            reply = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.conn.request(method, path, body=body, headers=headers)
            reply = self.conn.getresponse()
        data = reply.read()
        seconds = time.perf_counter() - started
        for cookie in reply.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        location = reply.headers.get("Location") or reply.headers.get("X-Patient-Location") or ""
        return reply.status, urllib.parse.urlsplit(location).path, data, seconds


def answer_form(html: str, item_id: str, first: bool = False) -> dict[str, str]:
    """The form a simulated patient sends on a screen: the middle choice (or the first), its CSRF token."""
    codes = CODES.findall(html)
    csrf = CSRF.search(html)
    if csrf is None:  # a refused answer would re-show the screen: the figures would time refusals
        raise ValueError(f"no CSRF token on the screen of {item_id}: the page changed, fix the benchmark")
    return {"csrf_token": csrf.group(1), "item": item_id,
            "answer": (codes[0] if first else codes[len(codes) // 2]) if codes else ""}


def patient_run(
    port: int, token: str, stats: Stats, deadline: float, stop_before: str = "", script: bool = False
) -> None:
    """A patient answering the whole baseline, screen by screen (or up to an item's screen).

    Without `script`, as a browser without JavaScript: POST, 303, GET of the next screen. With it,
    as patient.js: one POST per answer, the next screen read from its reply.
    """
    client = Client(port)
    status, _loc, body, seconds = client.send("GET", f"/p/{token}")
    stats.page(seconds, len(body))
    status, path, _body, _seconds = client.send("GET", f"/p/{token}/q/T0")
    fetched: tuple[int, bytes] | None = None  # the next screen, when it came with the answer
    last_item = ""
    while time.perf_counter() < deadline:
        if fetched is None:
            status, location, body, seconds = client.send("GET", path)
            if status == 302:
                path = location
                continue
            stats.page(seconds, len(body))
        else:
            status, body = fetched
        html = body.decode("utf-8")
        item = ITEM.search(html)
        if status != 200 or item is None:
            if "Thank you!" not in html:
                stats.errors.append(f"unexpected page {status} at {path}")
            else:
                with stats.lock:
                    stats.finished += 1
            return
        if item.group(1) == stop_before:
            return
        if item.group(1) == last_item:  # the answer was not taken: the screen came back
            stats.errors.append(f"answer not taken for {last_item}")
            return
        last_item = item.group(1)
        form = answer_form(html, item.group(1), first=bool(stop_before))
        status, location, body, seconds = client.send("POST", path, form, SCRIPT_HEADERS if script else None)
        stats.answer(seconds, len(body) if script else None)
        if status != (200 if script else 303) or not location:
            stats.errors.append(f"answer refused: {status} for {item.group(1)}")
            return
        path = location
        fetched = (status, body) if script else None


def bare_run(port: int, patient: str, answers: int, stats: Stats, deadline: float) -> None:
    """The same number of answers against the bare endpoint: a page, then a posted answer."""
    client = Client(port)
    for number in range(1, answers + 1):
        if time.perf_counter() > deadline:
            return
        status, _loc, body, seconds = client.send("GET", "/page")
        stats.page(seconds, len(body))
        status, _loc, _body, seconds = client.send(
            "POST", "/answer", {"patient": patient, "item": f"q{number}", "answer": "1"})
        stats.answer(seconds)
        if status != 303:
            stats.errors.append(f"bare answer refused: {status}")
            return
    status, _loc, body, seconds = client.send("GET", "/page")
    stats.page(seconds, len(body))
    with stats.lock:
        stats.finished += 1


def floor_run(port: int, token: str, answers: int, stats: Stats, deadline: float) -> None:
    """The same number of answers against the essentials floor: its page, then the answer with
    the page's CSRF token (the session cookie kept), as the patient screens without JavaScript."""
    client = Client(port)
    status, _loc, body, seconds = client.send("GET", f"/f/{token}")
    stats.page(seconds, len(body))
    for number in range(1, answers + 1):
        if time.perf_counter() > deadline:
            return
        csrf = FLOOR_CSRF.search(body.decode("utf-8"))
        form = {"csrf_token": csrf.group(1) if csrf else "", "item": f"q{number}", "answer": "3"}
        status, _loc, _body, seconds = client.send("POST", f"/f/{token}", form)
        stats.answer(seconds)
        if status != 303:
            stats.errors.append(f"floor answer refused: {status}")
            return
        status, _loc, body, seconds = client.send("GET", f"/f/{token}")
        stats.page(seconds, len(body))
    with stats.lock:
        stats.finished += 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(
    spec: str, env: dict[str, str], workers: int, threads: int, probe: str, tmp: Path
) -> Iterator[int]:
    """Serve a WSGI app with gunicorn on 127.0.0.1 (no access log: links are credentials)."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
               "--bind", f"127.0.0.1:{port}", "--pid", str(tmp / f"gunicorn-{port}.pid"),
               "--log-level", "warning", "--graceful-timeout", "5", spec]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):  # not listening yet
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", probe)
                if conn.getresponse().status == 200:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"gunicorn did not start: {' '.join(command)}")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)


def seed(database_url: str, patients: int) -> list[str]:
    """Migrate, create a study and enroll patients (no sessions yet: the baseline is open)."""
    from app import create_app
    from surveys.domain.patients import enroll_patient
    from surveys.domain.studies import create_study
    from surveys.infra import migrate
    from surveys.infra.db import db
    from surveys.infra.library import instruments

    migrate.upgrade(database_url)
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET})
    with app.app_context():
        code = f"BENCH{int(time.time()) % 100000}"
        study = create_study(db.session, code, "Patient load benchmark", instruments(), actor="bench")
        tokens = [enroll_patient(db.session, study, f"L{n:04d}", actor="bench")[1] for n in range(patients)]
        db.session.commit()
    db.session.remove()
    return tokens


def drive(threads: list[threading.Thread]) -> float:
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(stats: Stats, seconds: float) -> dict[str, float]:
    everything = stats.page_seconds + stats.answer_seconds  # every request once
    return {
        "pages_per_s": len(stats.page_bytes) / seconds,  # pages shown, also those in an answer's reply
        "answers_per_s": len(stats.answer_seconds) / seconds,
        "p50_ms": percentile(everything, 0.5) * 1000,
        "p95_ms": percentile(everything, 0.95) * 1000,
        "bytes_per_page": statistics.mean(stats.page_bytes) if stats.page_bytes else 0.0,
        "answers": len(stats.answer_seconds),
        "seconds": seconds,
    }


def page_weight(port: int, token: str, instrument: str) -> tuple[int, int, int]:
    """Bytes of one survey screen with its CSS, JS and pictures: raw, gzipped, picture count."""
    client = Client(port)
    status, _loc, html, _s = client.send("GET", f"/p/{token}/q/T0/{instrument}")
    assert status == 200, status
    parts = [html]
    pictures = re.findall(r'<img src="([^"]+)"', html.decode())
    for path in (*ASSETS, *pictures):
        parts.append(client.send("GET", path)[2])
    return sum(map(len, parts)), sum(len(gzip.compress(p, 6)) for p in parts), len(pictures)


@dataclass
class Flow:
    """One measured flow: its stats and the seconds its rounds took, added up."""

    name: str
    stats: Stats = field(default_factory=Stats)
    seconds: float = 0.0

    def drive(self, threads: list[threading.Thread]) -> None:
        self.seconds += drive(threads)

    def summary(self) -> dict[str, float]:
        return summary(self.stats, self.seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=20, choices=range(1, 201), metavar="1..200")
    parser.add_argument("--rounds", type=int, default=3, choices=range(1, 11), metavar="1..10",
                        help="each round drives the four flows one after the other (default 3)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="per flow and round")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    args = parser.parse_args(argv)
    n = args.patients
    plain, scripted = Flow("patient screens, no JS (PRG)"), Flow("patient screens, JS (1 POST)")
    bare, floor = Flow("bare Flask insert (PRG)"), Flow("essentials floor (PRG)")
    with tempfile.TemporaryDirectory(prefix="patient-load-") as folder, contextlib.ExitStack() as servers:
        tmp = Path(folder)
        url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
        tokens = seed(url, 2 * n * args.rounds + 2)
        from bench.bare_app import create_table

        create_table(url)
        env = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "BASE_URL": "http://127.0.0.1",
               "RATELIMIT_STORAGE_URI": "memory://", "MAIL_SERVER": "", "BENCH_DATABASE_URL": url}
        serve = (args.workers, args.threads)
        ours_port = servers.enter_context(gunicorn("app:create_app()", env, *serve, "/healthz", tmp))
        bare_port = servers.enter_context(gunicorn("bench.bare_app:create_app()", env, *serve, "/page", tmp))
        floor_port = servers.enter_context(
            gunicorn("bench.floor_app:create_app()", env, *serve, f"/f/{tokens[-1]}", tmp))
        per_patient = 0
        for number in range(args.rounds):  # interleaved: a drift of the machine hits every flow alike
            mine = tokens[2 * n * number:2 * n * (number + 1)]
            deadline = time.perf_counter() + args.max_seconds
            plain.drive([threading.Thread(target=patient_run, args=(ours_port, t, plain.stats, deadline))
                         for t in mine[:n]])
            deadline = time.perf_counter() + args.max_seconds
            scripted.drive([threading.Thread(target=patient_run, kwargs={"script": True},
                                             args=(ours_port, t, scripted.stats, deadline))
                            for t in mine[n:]])
            per_patient = per_patient or max(1, len(plain.stats.answer_seconds) // n)
            deadline = time.perf_counter() + args.max_seconds
            bare.drive([threading.Thread(target=bare_run, args=(bare_port, f"b{number}-{p}", per_patient,
                                                                bare.stats, deadline)) for p in range(n)])
            deadline = time.perf_counter() + args.max_seconds
            floor.drive([threading.Thread(target=floor_run, args=(floor_port, t, per_patient, floor.stats,
                                                                  deadline)) for t in mine[:n]])
        weight = page_weight(ours_port, tokens[-2], "who5")
        patient_run(ours_port, tokens[-1], Stats(), time.perf_counter() + 30, stop_before="norwood")
        pictures = page_weight(ours_port, tokens[-1], "hair_stage")
    rows = {flow.name: flow.summary() for flow in (plain, scripted, bare, floor)}
    print(f"\nPatient load: {n} patients at once, {per_patient} answers each, {args.rounds} rounds, gunicorn "
          f"--workers {args.workers} --threads {args.threads}, database {url.split(':', 1)[0]}")
    heads = (("pages/s", 10), ("answers/s", 11), ("p50 ms", 9), ("p95 ms", 9), ("bytes/page", 12),
             ("answers", 9))
    print(" " * 30 + "".join(f"{name:>{width}}" for name, width in heads))
    for name, row in rows.items():
        print(f"{name:30}{row['pages_per_s']:>10.1f}{row['answers_per_s']:>11.1f}{row['p50_ms']:>9.1f}"
              f"{row['p95_ms']:>9.1f}{row['bytes_per_page']:>12.0f}{row['answers']:>9.0f}")

    def rate(flow: Flow, against: Flow) -> float:
        base = rows[against.name]["answers_per_s"]
        return rows[flow.name]["answers_per_s"] / base if base else 0.0

    ratio, script_ratio, ceiling = rate(plain, bare), rate(scripted, bare), rate(floor, bare)
    for name, value in (("no JS", ratio), ("JS", script_ratio)):
        print(f"answers/s ratio, {name}: {value:.0%} of the bare baseline (target >= {RATIO_TARGET:.0%})"
              f" -> {'OK' if value >= RATIO_TARGET else 'BELOW TARGET'}")
    print("  (the JS flow sends one request per answer, the bare baseline two: insert + 303, then the"
          " page; its ratio is not like for like)")
    print(f"essentials floor (CSRF + session, link rate limit, Babel, hashed-token look-up, one upsert): "
          f"{ceiling:.0%} of the bare baseline, the most any implementation of the issue can show here")
    print(f"answers/s ratio to the essentials floor: no JS {rate(plain, floor):.0%}, "
          f"JS {rate(scripted, floor):.0%}")
    errors = plain.stats.errors + scripted.stats.errors + bare.stats.errors + floor.stats.errors
    print(f"completed questionnaires: {plain.stats.finished}/{n * args.rounds} without JS, "
          f"{scripted.stats.finished}/{n * args.rounds} with JS; errors: {len(errors)}")
    for error in errors[:5]:
        print(f"  {error}")
    raw, zipped, _n = weight
    print(f"survey page (WHO-5 screen + CSS + JS): {raw} bytes raw, {zipped} bytes gzipped; "
          f"budget {BUDGET_BYTES} -> {'OK' if zipped <= BUDGET_BYTES and raw <= BUDGET_BYTES else 'OVER'}")
    raw, zipped, count = pictures
    print(f"picture screen (stage drawings, {count} SVGs included): {raw} bytes raw, {zipped} bytes gzipped")
    ok = ratio >= RATIO_TARGET and not errors  # the like-for-like flow decides
    mine, script, base, essentials = (rows[f.name] for f in (plain, scripted, bare, floor))
    report("patient answers/s", mine["answers_per_s"], "answers/s", f">= {RATIO_TARGET:.0%} of bare",
           ratio >= RATIO_TARGET, baseline=base["answers_per_s"])
    report("patient answers/s, JS (1 POST/answer)", script["answers_per_s"], "answers/s",
           f">= {RATIO_TARGET:.0%} of bare", script_ratio >= RATIO_TARGET, baseline=base["answers_per_s"])
    report("essentials floor answers/s (the ceiling)", essentials["answers_per_s"], "answers/s", "-", True,
           baseline=base["answers_per_s"])
    report("patient answers/s against the floor", mine["answers_per_s"], "answers/s", "-", True,
           baseline=essentials["answers_per_s"])
    report("patient pages/s", mine["pages_per_s"], "pages/s", "-", True, baseline=base["pages_per_s"])
    report("patient pages/s, JS", script["pages_per_s"], "pages/s", "-", True, baseline=base["pages_per_s"])
    report("patient p95 latency", mine["p95_ms"], "ms", "-", True, baseline=base["p95_ms"])
    report("patient p95 latency, JS", script["p95_ms"], "ms", "-", True, baseline=base["p95_ms"])
    report("survey page weight (gzip)", weight[1], "bytes", f"<= {BUDGET_BYTES}", weight[1] <= BUDGET_BYTES)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
