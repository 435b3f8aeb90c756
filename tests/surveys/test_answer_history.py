"""Answer history: a changed answer keeps the earlier one; the alert's evidence shows the original."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from surveys.domain.alerts import alert_evidence
from surveys.domain.models import Alert, Answer, AnswerVersion, Score
from surveys.infra.db import db
from surveys.infra.library import instruments


def post(client: Any, patient: Any, item: str, code: str, **extra: str) -> Any:
    return client.post(f"/p/{patient.token}/q/S1/pirc", data={"item": item, "answer": code, **extra})


def history(item: str) -> list[int | None]:
    """The item's earlier values in order, then its current one (None when it has no answer now)."""
    earlier = db.session.scalars(
        select(AnswerVersion.code).where(AnswerVersion.item_id == item).order_by(AnswerVersion.id)
    )
    return [*earlier, db.session.scalar(select(Answer.code).where(Answer.item_id == item))]


def test_a_changed_answer_keeps_its_earlier_versions_with_their_times(
    client, make_patient, make_study
) -> None:
    patient = make_patient(make_study(), sessions_days_ago=(1,))
    post(client, patient, "rf_fever", "1")
    post(client, patient, "rf_fever", "1")  # a resend: no new version
    post(client, patient, "rf_fever", "0", nav="back")  # Back, then "no"
    assert history("rf_fever") == [1, 0]
    (earlier,) = db.session.scalars(select(AnswerVersion).where(AnswerVersion.item_id == "rf_fever"))
    current = db.session.scalar(select(Answer).where(Answer.item_id == "rf_fever"))
    assert earlier.answered_at <= earlier.superseded_at == current.answered_at
    assert db.session.scalar(select(Answer.code).where(Answer.item_id == "rf_fever")) == 0  # current = latest


def test_the_alerts_evidence_shows_the_answer_as_raised_with_the_later_change_beside_it(
    client, make_patient, make_study
) -> None:
    patient = make_patient(make_study(oncall_email="oncall@clinic.test"), sessions_days_ago=(1,))
    post(client, patient, "rf_fever", "1")
    post(client, patient, "rf_fever", "0", nav="back")
    alert = db.session.scalar(select(Alert).where(Alert.patient_id == patient.id))
    db.session.refresh(alert)
    (fever,) = [e for e in alert_evidence(alert, instruments()["pirc"], "en") if e.item_id == "rf_fever"]
    assert (fever.answer, fever.changed_to) == ("Yes", "No") and fever.changed_at is not None
    assert alert.level == 2 and alert.state == "open"  # an alert is never lowered by a changed answer


def test_a_follow_up_answer_hidden_by_a_change_is_kept_in_the_history_as_cleared(
    client, make_patient, make_study
) -> None:
    patient = make_patient(make_study(), sessions_days_ago=(1,))
    post(client, patient, "rf_breathing", "1")
    post(client, patient, "rf_breathing_now", "0")
    post(client, patient, "rf_breathing", "0", nav="back")  # hides "happening right now"
    assert history("rf_breathing_now") == [0, None]
    assert db.session.scalar(select(Answer.id).where(Answer.item_id == "rf_breathing_now")) is None


def test_scores_use_the_current_answers(client, make_patient) -> None:
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    client.post(url, data={"item": "who5_1", "answer": "0"})
    client.post(url, data={"item": "who5_1", "answer": "5", "nav": "back"})
    for number in range(1, 6):
        client.post(url, data={"item": f"who5_{number}", "answer": "5"})
    assert history("who5_1") == [0, 5]
    total = db.session.scalar(select(Score.value).where(Score.scale == "raw"))
    assert total == 25
