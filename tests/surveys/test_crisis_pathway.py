"""PHQ-9 item 9 above 0: a level-3 alert whose page shows the crisis line of the study's country at once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from surveys.domain.crisis_lines import crisis_line
from surveys.domain.models import Alert
from surveys.domain.protocol import DEFAULT_PROTOCOL
from surveys.infra.db import db


@pytest.fixture
def phq9_study(make_study: Any) -> Any:
    raw = json.loads(DEFAULT_PROTOCOL.read_text())
    raw["id"] = "with_phq9"
    raw["timepoints"][0]["instruments"] = ["phq9"]
    return make_study("MOOD", protocol_data=raw, emergency_number="112")


def answer_phq9(client: Any, patient: Any, item9: int) -> Any:
    url = f"/p/{patient.token}/q/T0/phq9"
    for i in range(1, 9):
        client.post(url, data={"item": f"phq9_{i}", "answer": "0"})
    return client.post(url, data={"item": "phq9_9", "answer": str(item9)})


def test_item_9_above_zero_shows_the_crisis_line_at_once(client, phq9_study, make_patient) -> None:
    patient = make_patient(phq9_study, enrolled_days_ago=1)
    db.session.commit()
    saved = answer_phq9(client, patient, 1)
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "3114" in page and 'href="tel:3114"' in page  # France, the default emergency country
    assert 'href="tel:112"' in page
    alert = db.session.scalar(select(Alert))
    assert alert.level == 3 and alert.reasons == ["phq9_item9"]


def test_the_crisis_line_follows_the_study_country(client, phq9_study, make_patient) -> None:
    phq9_study.emergency_country = "GB"
    phq9_study.emergency_number = "999"
    patient = make_patient(phq9_study, enrolled_days_ago=1)
    db.session.commit()
    page = client.get(answer_phq9(client, patient, 3).headers["Location"]).get_data(as_text=True)
    assert "116 123" in page and "3114" not in page and 'href="tel:999"' in page


def test_item_9_at_zero_shows_no_crisis_page(client, phq9_study, make_patient) -> None:
    patient = make_patient(phq9_study, enrolled_days_ago=1)
    db.session.commit()
    page = client.get(answer_phq9(client, patient, 0).headers["Location"]).get_data(as_text=True)
    assert "3114" not in page
    assert db.session.scalar(select(Alert)) is None


def test_crisis_lines_by_country() -> None:
    assert crisis_line("FR") == "3114" and crisis_line("fr") == "3114"
    assert crisis_line("ZZ") is None and crisis_line(None) is None
