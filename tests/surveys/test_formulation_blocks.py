"""Protocol 2.0: the systemic side-effect blocks and the PHQ-9 follow the formulation recorded for
the patient's sessions, and systemic symptoms are compared with the patient's own baseline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from surveys.domain.models import Alert
from surveys.domain.patients import patient_schedule, record_session, study_protocol
from surveys.domain.responses import save_answers, start_response, submit_response
from surveys.domain.schedule import window_for
from surveys.infra.db import db
from surveys.infra.library import instruments
from tests.today import local_today


def asked_after_session(patient: Any, agents: str) -> list[str]:
    record_session(db.session, patient, actor="t", number=1, day=local_today() - timedelta(days=2),
                   agents=agents)
    db.session.refresh(patient)
    window = window_for(patient_schedule(patient, study_protocol(patient.study)), "S1")
    return [entry.instrument for entry in window.instruments]


@pytest.mark.parametrize(
    ("agents", "blocks"),
    [
        ("vitamins + hyaluronic acid", ["pirc", "systemic"]),
        ("Dutasteride 0.01% + vitamins", ["pirc", "systemic", "systemic_5ari", "phq9"]),
        ("finasteride 0.05%", ["pirc", "systemic", "systemic_5ari", "phq9"]),
        ("minoxidil 0.5% + biotin", ["pirc", "systemic", "systemic_minoxidil"]),
        ("minoxidil-free vasodilator cocktail", ["pirc", "systemic"]),
        ("minoxidil + dutasteride", ["pirc", "systemic", "systemic_minoxidil", "systemic_5ari", "phq9"]),
    ],
)
def test_blocks_follow_the_recorded_formulation(make_patient, agents: str, blocks: list[str]) -> None:
    assert asked_after_session(make_patient(sex="male"), agents) == blocks


def test_the_patient_page_asks_the_phq9_of_a_patient_on_dutasteride(client, make_patient) -> None:
    patient = make_patient(sex="male")
    asked_after_session(patient, "dutasteride 0.01%")
    db.session.commit()
    assert client.get(f"/p/{patient.token}/q/S1/phq9").status_code == 200
    other = make_patient(sex="male")
    asked_after_session(other, "vitamins")
    db.session.commit()
    assert client.get(f"/p/{other.token}/q/S1/phq9").status_code == 404


def answer(patient: Any, timepoint: str, codes: dict[str, int], treatment: Any = None) -> None:
    inst = instruments()["systemic"]
    response = start_response(db.session, patient, timepoint, inst, "en", treatment)
    save_answers(db.session, response, inst, codes)
    submit_response(db.session, response, inst)


def test_a_systemic_symptom_two_points_worse_than_baseline_is_level_one(make_patient) -> None:
    patient = make_patient(sex="male")
    answer(patient, "T0", {"dizziness": 0, "palpitations": 1, "numbness": 0, "more_shedding": 2})
    record_session(db.session, patient, actor="t", number=1, day=local_today() - timedelta(days=2))
    db.session.refresh(patient)
    answer(patient, "S1", {"dizziness": 2, "palpitations": 2, "numbness": 0, "more_shedding": 2},
           patient.sessions[0])
    alert = db.session.scalar(select(Alert))
    assert alert.level == 1 and alert.reasons == ["dizziness_worse_than_baseline"]
