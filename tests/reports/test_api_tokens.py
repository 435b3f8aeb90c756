"""Personal API tokens: hashed, shown once, revocable, scoped to studies; the API streams exports."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from reports.exports.api_tokens import create_token, hash_api_token
from surveys.domain.models import ApiToken, AuditEvent
from surveys.infra.db import db
from tests.reports.test_exports import build_cohort, read_csv


@pytest.fixture
def cohort(make_study, make_patient, make_user):
    return build_cohort(make_study, make_patient, make_user)


def api(client, code: str, fmt: str, token: str | None, **args):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(f"/api/studies/{code}/exports/{fmt}", headers=headers, query_string=args)


@pytest.fixture
def token(cohort) -> str:
    _token, secret = create_token(db.session, cohort.users.coordinator, "R laptop", [cohort.a])
    db.session.commit()
    return secret


def test_token_page_shows_the_secret_once_and_stores_only_its_hash(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    response = client.post("/account/tokens", data={"name": "pandas notebook", "study": ["EXPA"]})
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    secret = re.search(r'value="(hpx_[A-Za-z0-9_-]+)"', response.get_data(as_text=True)).group(1)
    stored = db.session.scalar(select(ApiToken).where(ApiToken.name == "pandas notebook"))
    assert stored.token_hash == hash_api_token(secret) and secret not in stored.token_hash
    assert [s.code for s in stored.studies] == ["EXPA"]
    page = client.get("/account/tokens").get_data(as_text=True)
    assert "pandas notebook" in page and secret not in page


def test_creating_a_token_for_a_study_one_does_not_belong_to_is_refused(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    response = client.post("/account/tokens", data={"name": "sneaky", "study": ["EXPB"]})
    assert response.status_code == 400
    response = client.post("/account/tokens", data={"name": "", "study": ["EXPA"]})
    assert response.status_code == 400 and "name" in response.get_data(as_text=True)
    assert db.session.scalar(select(ApiToken.id)) is None


def test_api_streams_the_export_without_cookies(client, cohort, token) -> None:
    response = api(client, "EXPA", "long", token)
    assert response.status_code == 200 and "Content-Length" not in response.headers  # sent streamed
    frame = read_csv(response.data)
    assert set(frame.patient) == {"A-001", "A-002"}
    assert "Set-Cookie" not in response.headers
    event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()))
    assert event.action == "export" and event.details["via"] == "api" and event.details["rows"] == len(frame)
    stored = db.session.scalar(select(ApiToken))
    assert stored.last_used_at is not None and event.details["token"] == stored.id


def test_api_takes_the_same_options_as_the_page(client, cohort, token) -> None:
    frame = read_csv(api(client, "EXPA", "long", token, deidentified="1", instrument="who5").data)
    assert set(frame.instrument) == {"who5"} and not {"A-001", "A-002"} & set(frame.patient)
    response = api(client, "EXPA", "long", token, timepoint="nope")
    assert response.status_code == 400 and "Unknown timepoint" in response.get_json()["message"]


def test_missing_or_wrong_token_is_401(client, cohort, token) -> None:
    for bad in (None, "hpx_not-a-real-token", token + "x", "Basic abc"):
        response = api(client, "EXPA", "long", bad)
        assert response.status_code == 401, bad
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    response = client.get("/api/studies/EXPA/exports/long", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 401


def test_a_session_cookie_does_not_open_the_api(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    assert client.get("/api/studies/EXPA/exports/long").status_code == 401


def test_revoked_token_is_401(client, login, cohort, token) -> None:
    login(cohort.users.coordinator)
    stored = db.session.scalar(select(ApiToken))
    response = client.post(f"/account/tokens/{stored.id}/revoke")
    assert response.status_code == 302
    assert api(client, "EXPA", "long", token).status_code == 401
    assert db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc())).action == "api_token.revoke"


def test_someone_elses_token_cannot_be_revoked(client, login, cohort, token) -> None:
    login(cohort.users.both)
    stored = db.session.scalar(select(ApiToken))
    client.post(f"/account/tokens/{stored.id}/revoke")
    assert db.session.get(ApiToken, stored.id).revoked_at is None
    assert api(client, "EXPA", "long", token).status_code == 200


def test_study_outside_the_tokens_scope_is_404(client, cohort) -> None:
    _t, secret = create_token(db.session, cohort.users.both, "only A", [cohort.a])
    db.session.commit()
    assert api(client, "EXPB", "long", secret).status_code == 404  # the user may see B; the token may not
    assert api(client, "NOPE", "long", secret).status_code == 404
    assert api(client, "EXPA", "xls", secret).status_code == 404
    assert api(client, "EXPA", "long", secret).status_code == 200


def test_token_stops_working_when_its_owner_leaves_the_study(client, cohort, token) -> None:
    cohort.users.coordinator.studies = []
    db.session.commit()
    assert api(client, "EXPA", "long", token).status_code == 404


def test_token_of_a_deactivated_account_is_401(client, cohort, token) -> None:
    cohort.users.coordinator.active = False
    db.session.commit()
    assert api(client, "EXPA", "long", token).status_code == 401


def test_clinician_tokens_get_de_identified_exports_only(client, cohort) -> None:
    _t, secret = create_token(db.session, cohort.users.clinician, "clinic", [cohort.a])
    db.session.commit()
    frame = read_csv(api(client, "EXPA", "long", secret).data)
    assert not {"A-001", "A-002"} & set(frame.patient)
    assert api(client, "EXPA", "long", secret, deidentified="0").status_code == 403
