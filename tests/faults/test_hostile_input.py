"""Hostile input on every form and endpoint: walk the URL map so new routes are covered.

For every route and method: oversized bodies, wrong types, unknown, duplicated and missing fields,
markup and script, very long and odd Unicode (NUL, bidi overrides, astral characters) and
SQL-looking strings. Each request must get an answer below 500; a refusal (4xx) must store
nothing; the audit trail must still verify; and no staff page may echo the script unescaped.
"""

from __future__ import annotations

import re
from typing import Any

import plotly
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule

from surveys.domain.audit import verify_chain
from surveys.infra.db import Base, db
from tests.surveys.staff_world import World, build_world
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing
from tests.surveys.test_access import log_in

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

SCRIPT = "<script>alert('x')</script>"
NASTY = [
    SCRIPT,
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE patient; --",
    "1 OR 1=1",
    '=HYPERLINK("http://evil.test")',
    "\x00nul\x00byte",
    "\u202eevil\u202c \u200b\ufeff 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🧑‍⚕️",
    "é" * 5000,
    "-1",
    "99999999999999999999999",
    "3.5",
    "",
]
NAME = re.compile(r'name="([A-Za-z_][A-Za-z0-9_\-]*)"')
DATA_TABLES = [t for t in Base.metadata.sorted_tables if t.name not in ("audit_event", "alembic_version")]


def url_arguments(rule: Rule, world: World) -> dict[str, Any]:
    """Values for the URL arguments of any rule, patient and staff side alike."""
    known: dict[str, Any] = {
        "code": world.study.code,
        "patient_code": world.patient.code,
        "alert_id": world.alert.id,
        "timepoint": "S2",
        "instrument_id": "pirc",
        "fmt": "long",
        "token": world.patient.token,
        "token_id": 1, "link_id": 1,
        "session_id": 1,
        "user_id": world.admin.id,
        "filename": "app.css",
        "version": plotly.__version__,
        "name": "norwood_1.svg",
    }
    known.update(rule.defaults or {})  # a rule's own values (paper or interview: one rule each)
    missing = set(rule.arguments) - set(known)
    assert not missing, f"{rule.rule}: give <{', '.join(sorted(missing))}> a value in {__file__}"
    return {name: known[name] for name in rule.arguments}


# Routes that change who is logged in: walked separately, or the walk would log itself out.
# Starting "answer in clinic" logs the staff member out on that device (test_clinic_collection.py).
SESSION_ENDPOINTS = {"staff.login", "staff.login_totp", "staff.logout", "staff.totp_setup",
                     "staff.end_one_session", "staff.end_all_sessions", "staff.change_password",
                     "staff.start_tablet_session"}


def rules(app: Flask) -> list[tuple[Rule, str]]:
    return sorted(
        (
            (r, m)
            for r in app.url_map.iter_rules()
            for m in r.methods - {"HEAD", "OPTIONS"}
            if r.endpoint not in SESSION_ENDPOINTS
        ),
        key=lambda rm: (rm[0].rule, rm[1]),
    )


# Every data table's row count in one statement: the walks take it before each of some 2,000
# requests, and one COUNT round trip per table made up much of their time.
COUNTS = select(*(select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in DATA_TABLES))


def counts() -> dict[str, int]:
    return dict(db.session.execute(COUNTS).one()._mapping)


def field_names(client: FlaskClient, app: Flask, world: World) -> set[str]:
    """Every form field name on every page a logged-in admin and the patient can GET."""
    names: set[str] = {"csrf_token", "item", "answer", "nav", "code", "email", "password"}
    for rule, method in rules(app):
        if method != "GET" or rule.rule.startswith(("/static", "/reports/plotly", "/api/")):
            continue
        url = rule.build(url_arguments(rule, world), append_unknown=False)[1]
        response = client.get(url)
        if response.mimetype == "text/html":
            names |= set(NAME.findall(response.get_data(as_text=True)))
        response.close()
    return names


@pytest.fixture
def world(make_study: Any, make_patient: Any, make_user: Any) -> World:
    return build_world(make_study, make_patient, make_user)


@pytest.fixture
def admin_client(client: FlaskClient, world: World) -> FlaskClient:
    log_in(client, world.admin)
    return client


def check(response: Any, where: str, before: dict[str, int], problems: list[str]) -> None:
    status = response.status_code
    location = response.headers.get("Location", "")
    response.close()
    if status in (301, 302, 303) and "/login" in location:
        problems.append(f"{where}: the walk was sent to the login page (not testing the route)")
    if status >= 500:
        problems.append(f"{where}: {status}")
    elif 400 <= status < 500 and counts() != before:
        problems.append(f"{where}: refused with {status} but stored something")


def test_every_post_survives_hostile_fields_and_stores_nothing_when_refused(
    app: Flask, admin_client: FlaskClient, world: World
) -> None:
    names = sorted(field_names(admin_client, app, world))
    problems: list[str] = []
    for rule, method in rules(app):
        if method != "POST":
            continue
        url = rule.build(url_arguments(rule, world), append_unknown=False)[1]
        for value in NASTY:
            before = counts()
            data = MultiDict(
                [(name, value) for name in names] + [(name, "1") for name in names]
            )  # duplicated
            check(admin_client.post(url, data=data), f"POST {url} value={value[:20]!r}", before, problems)
        before = counts()
        check(admin_client.post(url, data={}), f"POST {url} with no fields", before, problems)
        before = counts()
        check(
            admin_client.post(url, json={"answer": [1, 2], "code": {"$ne": 1}}),
            f"POST {url} as JSON",
            before,
            problems,
        )
    assert problems == []
    assert verify_chain(db.session) == []


def test_every_get_survives_hostile_query_strings(
    app: Flask, admin_client: FlaskClient, world: World
) -> None:
    problems: list[str] = []
    keys = (
        "page",
        "sex",
        "age",
        "diagnosis",
        "agents",
        "from",
        "to",
        "timepoint",
        "instrument",
        "format",
        "lang",
        "labels",
        "deidentified",
        "excel",
        "q",
        "next",
        "json",
    )
    for rule, method in rules(app):
        if method != "GET" or rule.rule.startswith("/static"):
            continue
        url = rule.build(url_arguments(rule, world), append_unknown=False)[1]
        for value in ("-1", "abc", "99999999999999999999", SCRIPT, "\x00", "2026-02-30", "é" * 3000):
            before = counts()
            response = admin_client.get(url, query_string=MultiDict([(k, value) for k in keys] * 2))
            check(response, f"GET {url} value={value[:12]!r}", before, problems)
    assert problems == []


def test_oversized_bodies_are_refused_with_413(app: Flask, admin_client: FlaskClient, world: World) -> None:
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    problems = []
    for rule, method in rules(app):
        if method != "POST":
            continue
        url = rule.build(url_arguments(rule, world), append_unknown=False)[1]
        before = counts()
        response = admin_client.post(url, data={"answer": big})
        if response.status_code != 413:
            problems.append(f"POST {url}: {response.status_code}")
        if counts() != before:
            problems.append(f"POST {url}: stored something")
    assert problems == []


def test_no_staff_page_echoes_patient_script_unescaped(
    app: Flask, admin_client: FlaskClient, world: World
) -> None:
    seen_escaped = False
    for rule, method in rules(app):
        if method != "GET" or rule.rule.startswith(("/static", "/p/", "/reports/plotly")):
            continue
        url = rule.build(url_arguments(rule, world), append_unknown=False)[1]
        response = admin_client.get(url)
        body = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
        response.close()
        assert SCRIPT not in body, url
        seen_escaped |= "&lt;script&gt;alert(" in body
    assert seen_escaped, "the patient's note should be shown (escaped) on some staff page"


def test_guessed_revoked_and_other_patients_tokens_get_4xx(
    client: FlaskClient, world: World, make_patient: Any
) -> None:
    from surveys.domain.links import revoke_links

    assert client.get("/p/" + "A" * 32).status_code == 404
    assert client.get("/p/" + "%00" * 10).status_code == 400  # NUL: refused before any lookup
    assert client.get("/p/" + "x" * 5000).status_code in (404, 414)
    other = make_patient(world.other, "B-009")
    revoke_links(db.session, other)
    assert client.get(f"/p/{other.token}").status_code == 403
    assert (
        client.post(f"/p/{other.token}/q/T0/who5", data={"item": "who5_1", "answer": "3"}).status_code == 403
    )


def test_nul_and_odd_characters_in_addresses_are_refused_not_crashed(
    admin_client: FlaskClient, world: World
) -> None:
    code = world.study.code
    for path in (
        f"/studies/{code}/patients/%00",
        "/studies/%00/dashboard",
        f"/studies/{code}/patients/%E2%80%AE",
        f"/studies/{code}/patients/{'x' * 3000}",
        f"/studies/{code}/alerts/99999999999999999999/resolve",
        f"/studies/{code}/alerts/99999999999999999999/attempts",
    ):
        assert admin_client.get(path).status_code in (400, 404, 405), path


@pytest.fixture
def csrf_client(app: Flask, world: World) -> FlaskClient:
    """The admin logged in, with CSRF protection switched on as in production."""
    client = app.test_client()
    log_in(client, world.admin)
    app.config["WTF_CSRF_ENABLED"] = True
    return client


def test_every_post_without_a_csrf_token_is_refused_and_stores_nothing(
    app: Flask, csrf_client: FlaskClient, world: World
) -> None:
    from flask import g

    problems = []
    for rule, method in rules(app):
        if method != "POST" or rule.rule.startswith("/api/"):
            continue
        url = rule.build(url_arguments(rule, world), append_unknown=False)[1]
        g.pop("csrf_token", None)
        before = counts()
        response = csrf_client.post(url, data={"answer": "1", "item": "pain_present", "code": "X-1"})
        location = response.headers.get("Location", "")
        patient_side = rule.rule.startswith("/p/")
        # Staff: a plain 400. Patients: back to the same screen with a plain message (never a bare 400).
        if patient_side:  # back to the page in hand (or the home page) with a plain message
            refused = response.status_code == 303 and location.startswith(f"/p/{world.patient.token}")
        elif rule.endpoint == "patient.code":  # the code page: back to it, never a bare 400
            refused = response.status_code == 303 and location == "/code"
        else:
            refused = response.status_code == 400
        if not refused:
            problems.append(f"POST {url}: {response.status_code} {location}")
        if counts() != before:
            problems.append(f"POST {url}: stored something without a CSRF token")
    app.config["WTF_CSRF_ENABLED"] = False
    assert problems == []
