"""Every route is checked, not only the menus: a table-driven walk over the whole URL map.

For each rule of the app (including routes other parts add later) the test fills the URL's
arguments from a two-study world and checks: anonymous -> login redirect (401 for the API);
a member of another study -> 404 whatever their role; a member with an allowed role and an
admin -> neither 403, 404 nor 500; a member whose role the view does not allow -> 403.
The allowed roles come from `roles_required` (recorded on the view); a view with none is open
to every role of the study.
"""

from __future__ import annotations

from typing import Any

import plotly
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from surveys.domain.models import ROLES
from tests.conftest import totp_code
from tests.surveys.staff_world import World, build_world
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

# Reachable without a staff login, on purpose.
PUBLIC_ENDPOINTS = {
    "static", "reports.static", "patient.static", "staff.static", "healthz",
    "staff.login", "staff.login_totp",
    # e-mailed one-time links (the link is the credential) and asking for one
    "staff.welcome", "staff.forgot_password", "staff.reset_password",
    "patient.code",  # the patient types the short code of their printed sheet (rate-limited)
}
PUBLIC_PREFIXES = ("/p/", "/instrument-images/")  # the patient side: the link token is the credential
# Arguments naming something a user owns (their API token): anyone else, admins included, gets a 404.
OWNED_ARGUMENTS = {"token_id", "session_id"}


def all_rules(app: Flask) -> list[tuple[str, str]]:
    """(rule, method) for every route and method of the app, except HEAD and OPTIONS."""
    return sorted((rule.rule, method) for rule in app.url_map.iter_rules()
                  for method in rule.methods - {"HEAD", "OPTIONS"})


def _protected_rules() -> list[tuple[str, str]]:
    from app import create_app

    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "collect"})
    public = {rule.rule for rule in app.url_map.iter_rules() if is_public(rule)}
    return [(path, method) for path, method in all_rules(app) if path not in public]


def is_public(rule: Rule) -> bool:
    """True for the routes on the allow-list."""
    return rule.endpoint in PUBLIC_ENDPOINTS or rule.rule.startswith(PUBLIC_PREFIXES)


def arguments(rule: Rule, world: World) -> dict[str, Any]:
    """Values for a rule's URL arguments, taken from study A of the world."""
    known: dict[str, Any] = {
        "code": world.study.code, "patient_code": world.patient.code, "alert_id": world.alert.id,
        "response_id": world.alert.response_id, "timepoint": "S1", "instrument_id": "pirc",
        "fmt": "codebook", "format": "codebook", "kind": "codebook", "token_id": 1, "session_id": 1,
        "filename": "app.css", "user_id": bystander().id,
        "version": plotly.__version__, "link_id": 1,
    }
    values = {}
    for name in rule.arguments:
        assert name in known, (f"{rule.rule}: add a value for <{name}> to arguments() in {__file__} so the "
                               "access test can reach it")
        values[name] = known[name]
    return values


def bystander() -> Any:
    """A staff account nobody logs in with during the walk (admin pages act on it)."""
    from sqlalchemy import select

    from surveys.domain.accounts import create_user
    from surveys.domain.models import StaffUser
    from surveys.infra.db import db

    user = db.session.scalar(select(StaffUser).where(StaffUser.email == "bystander@clinic.test"))
    return user or create_user(db.session, "bystander@clinic.test", "correct horse battery staple",
                               "clinician")


def log_in(client: FlaskClient, user: Any, password: str = "correct horse battery staple") -> None:
    """Log in through the real forms (with the one-time code for users who have one)."""
    client.post("/logout")
    response = client.post("/login", data={"email": user.email, "password": password})
    if response.headers.get("Location", "").endswith("/login/2fa"):
        for offset in (0, 1):
            response = client.post("/login/2fa", data={"code": totp_code(user.totp_secret, offset)})
            if response.status_code == 302:
                break
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def request(client: FlaskClient, method: str, url: str) -> Any:
    """One request with no form data (forms then fail validation: a 400 or a redirect is fine)."""
    response = client.open(url, method=method, headers={"Accept": "text/html"})
    response.close()  # streamed files (exports, plotly.js) are not read here
    return response


def access_problems(app: Flask, client: FlaskClient, rule: Rule, method: str, world: World) -> list[str]:
    """What is wrong with the protection of one route and method, as readable lines."""
    problems: list[str] = []
    url = rule.build(arguments(rule, world), append_unknown=False)[1]
    api = rule.rule.startswith("/api/")
    where = f"{method} {url}"

    client.post("/logout")
    anonymous = request(client, method, url)
    if api:
        if anonymous.status_code != 401:
            problems.append(f"{where}: anonymous got {anonymous.status_code}, expected 401")
        return problems  # the API authenticates with bearer tokens only; its own tests cover scopes
    if anonymous.status_code != 302 or "/login" not in anonymous.headers.get("Location", ""):
        problems.append(f"{where}: anonymous got {anonymous.status_code}, expected a redirect to /login")

    view = app.view_functions[rule.endpoint]
    allowed = set(getattr(view, "allowed_roles", ROLES))
    owned = bool(OWNED_ARGUMENTS & set(rule.arguments))
    if "code" in rule.arguments:
        for role, outsider in world.outsiders.items():
            log_in(client, outsider)
            got = request(client, method, url).status_code
            if got != 404:
                problems.append(f"{where}: {role} of another study got {got}, expected 404")
    for role, member in [*world.members.items(), ("admin", world.admin)]:
        log_in(client, member)
        got = request(client, method, url).status_code
        if (role in allowed and (got == 403 or (got == 404 and not owned))) or got >= 500:
            problems.append(f"{where}: {role} (allowed) got {got}")
        if role not in allowed and got != 403:
            problems.append(f"{where}: {role} (not allowed) got {got}, expected 403")
    return problems


@pytest.fixture
def world(make_study: Any, make_patient: Any, make_user: Any) -> World:
    return build_world(make_study, make_patient, make_user)


@pytest.mark.parametrize(("path", "method"), _protected_rules())
def test_every_route_not_public_on_purpose_is_protected_by_login_role_and_study(
    app: Flask, client: FlaskClient, world: World, path: str, method: str
) -> None:
    rule = next(r for r in app.url_map.iter_rules() if r.rule == path and method in r.methods)
    assert access_problems(app, client, rule, method, world) == []


def test_the_walk_covers_the_staff_pages_of_every_part(app: Flask) -> None:
    protected = {rule.endpoint for rule in app.url_map.iter_rules() if not is_public(rule)}
    assert {"staff.patients", "staff.worklist", "staff.alerts", "staff.audit_trail", "staff.enroll",
            "staff.resolve", "staff.contact_attempt", "staff.reopen", "reports.dashboard"} <= protected


def test_an_unprotected_study_route_would_be_caught(app: Flask, client: FlaskClient, world: World) -> None:
    @app.get("/studies/<code>/leak")
    def leak(code: str) -> str:
        return f"everything about {code}"

    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "leak")
    problems = access_problems(app, client, rule, "GET", world)
    assert any("anonymous got 200" in p for p in problems)
    assert any("of another study got 200" in p for p in problems)


def test_a_role_check_without_the_study_check_would_be_caught(app: Flask, client: FlaskClient,
                                                                world: World) -> None:
    from flask_login import login_required

    @app.get("/studies/<code>/half-checked")
    @login_required
    def half_checked(code: str) -> str:
        return "no study check"

    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "half_checked")
    problems = access_problems(app, client, rule, "GET", world)
    assert any("of another study got 200, expected 404" in p for p in problems)
    assert not any("anonymous" in p for p in problems)


def test_a_clinician_may_not_enroll_and_a_coordinator_may_not_resolve_or_reopen(
    client: FlaskClient, world: World
) -> None:
    log_in(client, world.members["clinician"])
    assert client.post(f"/studies/{world.study.code}/enroll", data={"code": "X-1"}).status_code == 403
    log_in(client, world.members["coordinator"])
    base = f"/studies/{world.study.code}/alerts/{world.alert.id}"
    resolution = {"outcome": "advice_given", "ctcae_grade": "1", "relatedness": "possible", "serious": "no",
                  "note": "called"}
    assert client.post(f"{base}/resolve", data=resolution).status_code == 403
    assert client.post(f"{base}/reopen", data={"reason": "x"}).status_code == 403
    assert client.post(f"{base}/attempts", data={"channel": "phone", "result": "reached"}).status_code == 303


def test_another_studys_alert_is_a_404_even_with_the_right_study_in_the_url(
    client: FlaskClient, world: World, make_patient: Any
) -> None:
    from tests.surveys.staff_world import FEVER, alert_of, submit_pirc

    foreign = alert_of(submit_pirc(make_patient(world.other, "B-002", sessions_days_ago=(5,)), FEVER))
    log_in(client, world.members["clinician"])
    base = f"/studies/{world.study.code}/alerts/{foreign.id}"
    assert client.post(f"{base}/attempts", data={"channel": "phone", "result": "reached"}).status_code == 404
    resolution = {"outcome": "advice_given", "ctcae_grade": "1", "relatedness": "possible", "serious": "no",
                  "note": "called"}
    assert client.post(f"{base}/resolve", data=resolution).status_code == 404
    assert foreign.state == "open" and not foreign.attempts
