"""Browser fixtures: a live server on 127.0.0.1 with its own database, and Debian's chromium.

Chromium is never downloaded: Playwright drives /usr/bin/chromium. Without it the browser tests
skip, except when BROWSER_TESTS_REQUIRED is set (CI), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import app_config, backends, fresh_database_url
from tests.today import local_today

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
]
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}

pytestmark = pytest.mark.browser


def _require(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get("BROWSER_TESTS_REQUIRED"):
        pytest.fail(f"browser tests are required here but {why}")
    pytest.skip(why)


@dataclass
class LiveServer:
    """A running app and its base URL; `run` executes code in its app context and commits."""

    app: Flask
    url: str

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from surveys.infra.db import db

        with self.app.app_context():
            try:
                result = fn(*args, **kwargs)
                db.session.commit()
                return result
            finally:
                db.session.remove()


@contextmanager
def _serve(backend: str, directory: Path) -> Iterator[LiveServer]:
    """Start the app on a free loopback port with a fresh database in `directory`; stop it on exit."""
    from app import create_app
    from surveys.infra.db import db

    url = fresh_database_url(backend, directory)
    config = app_config(url, WTF_CSRF_ENABLED=True, TESTING=False, MAIL_OUTBOX=str(directory / "outbox"))
    app = create_app(config, instance_path=str(directory / "instance"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = base
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(app, base)
    finally:
        server.shutdown()
        thread.join()
        with app.app_context():
            db.session.remove()


@pytest.fixture(scope="session", params=backends()[:1])
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server for the session; tests add their own studies and accounts to its database."""
    with _serve(request.param, tmp_path_factory.mktemp("live")) as server:
        yield server


@pytest.fixture(scope="module", params=backends()[:1])
def demo_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server whose database holds only the demo (40 patients, seed 5) and its published logins.

    Its own database, because the demo refuses to load next to other studies or accounts."""
    with _serve(request.param, tmp_path_factory.mktemp("demo")) as server:
        server.run(_load_demo, server.app.config)
        yield server


def _load_demo(config: dict[str, Any]) -> None:
    from surveys.demo import load_demo
    from surveys.infra.db import db
    from surveys.infra.library import instruments

    load_demo(db.session, n_patients=40, seed=5, secret=config["SECRET_KEY"],
              base_url=config["BASE_URL"], library=instruments())


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require(Path(CHROMIUM).exists(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A phone-sized page with touch; console errors are collected in `page.console_errors`."""
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    context.close()


@pytest.fixture
def desktop(browser: Any) -> Iterator[Any]:
    """A desktop-sized page; console errors are collected in `page.console_errors`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    context.close()


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """Run axe-core in the page; the violations of the given impacts."""
    _require(AXE.exists(), f"{AXE} is missing (npm ci --prefix tests/browser)")
    # Our CSP blocks injected <script> tags; evaluating through the DevTools protocol is not a page
    # script, so the policy stays on for everything the page itself loads.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [n["html"] for n in v["nodes"][:3]]}
        for v in result["violations"] if v["impact"] in impacts
    ]


_study_numbers = iter(range(1, 100_000))


@pytest.fixture
def patient_link(live_server: LiveServer) -> Callable[..., str]:
    """Enroll a patient in a fresh study on the live server; returns the personal URL.

    Keyword arguments go to `enroll_patient` (e.g. language="fr"), except `sessions_days_ago`
    (record sessions that many days ago), `enrolled_days_ago` and `study` (create_study options).
    """
    from datetime import UTC, datetime, timedelta

    from surveys.domain.links import patient_url
    from surveys.domain.patients import enroll_patient, record_session
    from surveys.domain.studies import create_study
    from surveys.infra.db import db
    from surveys.infra.library import instruments

    def make(*, sessions_days_ago: tuple[int, ...] = (), enrolled_days_ago: int = 30,
             study: dict[str, Any] | None = None, **kwargs: Any) -> str:
        def create() -> str:
            number = next(_study_numbers)
            options = {"contact": "Clinic reception, 01 23 45 67 89", "emergency_number": "112",
                       **(study or {})}
            created = create_study(db.session, f"BR{number}", "Browser study", instruments(), actor="test",
                                   **options)
            enrolled = datetime.now(UTC) - timedelta(days=enrolled_days_ago)
            patient, token = enroll_patient(db.session, created, f"B{number:05d}", actor="test",
                                            enrolled_at=enrolled, **kwargs)
            for session_number, days in enumerate(sessions_days_ago, start=1):
                record_session(db.session, patient, actor="test", number=session_number,
                               day=local_today() - timedelta(days=days))
            return patient_url(live_server.url, token)

        return live_server.run(create)

    return make


# --- patient screens --------------------------------------------------------------------------


def current_item(page: Any) -> str | None:
    """The item id the patient screen asks, or None when the page asks nothing."""
    field = page.query_selector('input[name="item"]')
    return field.get_attribute("value") if field else None


def answer_current(page: Any, pick: int = 0, tap: bool = True) -> str:
    """Answer the screen in view with option `pick` (negative counts from the end); the item id.

    With `tap` the option is tapped and the page's script moves on by itself; otherwise the
    option is clicked and Next pressed, as without JavaScript. Either way the next screen counts
    as a navigation: a page load, or the script's history.pushState once it swapped the page in.
    """
    item = current_item(page)
    assert item, "no question on this page"
    options = page.locator("label.option")
    with page.expect_navigation():
        if options.count():
            option = options.nth(pick % options.count())
            if tap:
                option.tap()
            else:
                option.click()
                page.locator(".actions button:not([name])").click()
        else:
            page.locator(".actions button:not([name])").click()
    return item


def answer_until_done(page: Any, pick: int = 0, tap: bool = True, limit: int = 60) -> list[str]:
    """Answer screen after screen until no question is left; the item ids answered."""
    seen: list[str] = []
    while current_item(page) and len(seen) < limit:
        seen.append(answer_current(page, pick, tap))
    return seen


def patient_requests(page: Any) -> list[tuple[str, str]]:
    """Start recording the page's requests for patient pages (loads and the script's fetches):
    (method, path) in order, in the list returned."""
    from urllib.parse import urlsplit

    seen: list[tuple[str, str]] = []

    def note(request: Any) -> None:
        path = urlsplit(request.url).path
        if not path.startswith("/p/") or request.resource_type not in ("document", "fetch"):
            return
        if request.redirected_from and request.redirected_from.resource_type == "fetch":
            return  # reported by chromium, never sent: the script's fetch does not follow redirects
        seen.append((request.method, path))

    page.on("request", note)
    return seen
