"""A response keeps the instrument version it was answered in: scored, alerted, shown and exported
with that version's rules, while new responses use the current version."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from instruments import score
from surveys.domain.alerts import alert_evidence
from surveys.domain.models import Alert, Response, Score
from surveys.domain.responses import answered_in, save_answers, start_response, submit_response
from surveys.infra.db import db
from surveys.infra.library import instruments
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

# pirc 1.0: facial swelling now with hives was an emergency (rf_angioedema, gone from 2.0).
OLD_EMERGENCY = {"rf_angioedema": 1, "rf_angioedema_now": 1, "rf_hives": 1, "rf_hives_now": 0,
                 "pain_present": 1, "pain_worst": 3, "pain_now": 1, "pain_interference": 1}


def old_response(patient: Any, answers: dict[str, Any], *, submit: bool = True) -> Response:
    """A checklist of session 1 answered in pirc 1.0 (before 2.0 was shipped)."""
    old = instruments().version("pirc", "1.0")
    treatment = patient.sessions[0]
    response = start_response(db.session, patient, "S1", old, "en", treatment)
    save_answers(db.session, response, old, answers)
    if submit:
        submit_response(db.session, response, old)
    db.session.flush()
    return response


def test_the_library_keeps_version_1_and_makes_2_current(library) -> None:
    assert library["pirc"].version == "2.0"
    assert [i.version for i in library.versions("pirc")] == ["1.0", "2.0"]
    assert answered_in(library, "pirc", "1.0").has_item("rf_angioedema")
    assert answered_in(library, "pirc", "9.9") is None


def test_a_stored_1_0_response_scores_and_alerts_exactly_as_before(make_patient) -> None:
    patient = make_patient(sessions_days_ago=(1,))
    response = old_response(patient, OLD_EMERGENCY)
    assert response.instrument_version == "1.0"
    alert = db.session.scalar(select(Alert).where(Alert.response_id == response.id))
    assert alert.level == 3 and "rf_angioedema_now" in alert.reasons
    # pirc 1.0 has no re-check or "unevaluated" rules: none of 2.0's reasons appear
    assert not [r for r in alert.reasons if r.endswith(("_severe_now", "_unevaluated"))]
    rows = db.session.scalars(select(Score).where(Score.response_id == response.id))
    stored = {s.scale: s.value for s in rows}
    expected = score(instruments().version("pirc", "1.0"), OLD_EMERGENCY)
    assert stored == {k: (None if v is None else float(v)) for k, v in expected.scores.items()}
    versions = set(db.session.scalars(select(Score.scoring_version).where(Score.response_id == response.id)))
    assert versions == {"pirc-1.0-s1"}


def test_new_responses_use_the_current_version(client, make_patient) -> None:
    patient = make_patient(sessions_days_ago=(1,))
    client.post(f"/p/{patient.token}/q/S1/pirc", data={"item": "pain_present", "answer": "0"})
    response = db.session.scalar(select(Response).where(Response.patient_id == patient.id))
    assert response.instrument_version == "2.0"


def test_a_checklist_started_in_1_0_is_finished_in_1_0(client, make_patient) -> None:
    patient = make_patient(sessions_days_ago=(1,))
    old_response(patient, {"pain_present": 0}, submit=False)
    db.session.commit()
    url = f"/p/{patient.token}/q/S1/pirc"
    page = client.get(url, follow_redirects=True).get_data(as_text=True)
    assert "redness" in page.lower()
    # rf_angioedema exists only in 1.0: the page accepts it because the response is a 1.0 one
    saved = client.post(url, data={"item": "rf_angioedema", "answer": "0"})
    assert saved.status_code == 303
    codes = {a.item_id: a.code for a in db.session.scalar(select(Response)).answers}
    assert codes["rf_angioedema"] == 0


def test_the_alert_queue_shows_a_1_0_alert_with_the_1_0_questions(client, login, make_user,
                                                                   make_patient) -> None:
    patient = make_patient(sessions_days_ago=(1,))
    response = old_response(patient, OLD_EMERGENCY)
    alert = db.session.scalar(select(Alert).where(Alert.response_id == response.id))
    evidence = alert_evidence(alert, answered_in(instruments(), "pirc", "1.0"), "en")
    assert any(e.item_id == "rf_angioedema" and e.raised and "lips, tongue, face" in e.question
               for e in evidence)
    login(make_user("clinician", (patient.study,)))
    db.session.commit()
    page = client.get(f"/studies/{patient.study.code}/alerts").get_data(as_text=True)
    assert "swelling of your lips, tongue, face or eyelids" in page


def test_exports_carry_the_version_and_label_each_response_with_its_own(client, login, make_user,
                                                                          make_patient) -> None:
    patient = make_patient(sessions_days_ago=(30, 2))
    old_response(patient, OLD_EMERGENCY)
    new = instruments()["pirc"]
    second = start_response(db.session, patient, "S2", new, "en", patient.sessions[1])
    save_answers(db.session, second, new, {"rf_vision": 1, "rf_vision_now": 0})
    submit_response(db.session, second, new)
    login(make_user("coordinator", (patient.study,)))
    db.session.commit()
    code = patient.study.code
    long = pd.read_csv(io.BytesIO(client.get(f"/studies/{code}/exports/long").data),
                       dtype={"instrument_version": str}, keep_default_na=False)
    old_rows = long[long["timepoint"] == "S1"]
    assert set(old_rows["instrument_version"]) == {"1.0"}
    assert old_rows.set_index("item").loc["rf_angioedema", "label"] == "Yes"
    assert set(long[long["timepoint"] == "S2"]["instrument_version"]) == {"2.0"}
    wide = pd.read_csv(io.BytesIO(client.get(f"/studies/{code}/exports/wide").data), keep_default_na=False)
    assert {"pirc_rf_angioedema", "pirc_rf_vision"} <= set(wide.columns)
    bundle = json.loads(client.get(f"/studies/{code}/exports/fhir").data)
    resources = [e["resource"] for e in bundle["entry"]]
    questionnaires = {(r["url"], r["version"]) for r in resources if r["resourceType"] == "Questionnaire"}
    assert {("urn:instrument:pirc", "1.0"), ("urn:instrument:pirc", "2.0")} <= questionnaires
    answered = {r["questionnaire"] for r in resources if r["resourceType"] == "QuestionnaireResponse"}
    assert {"urn:instrument:pirc|1.0", "urn:instrument:pirc|2.0"} <= answered
    old_fhir = next(r for r in resources if r.get("questionnaire") == "urn:instrument:pirc|1.0")
    assert "rf_angioedema" in {i["linkId"] for i in old_fhir["item"]}
