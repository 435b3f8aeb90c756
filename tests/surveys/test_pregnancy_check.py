"""The pre-session pregnancy check before a 5-ARI session (issue 14): on the staff form, `sessions record`
and `sessions import` alike; any "yes" refuses the session; three "no" are stored, audited and shown."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from surveys.domain.models import AuditEvent, TreatmentSession
from surveys.domain.patients import EnrollmentError, record_session
from surveys.domain.pregnancy_check import PregnancyCheck, holds_5ari, needs_check
from surveys.infra.db import db
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing
from tests.today import local_today

pytestmark = pytest.mark.usefixtures("fast_password_hashing")
NO = PregnancyCheck(False, False, False)
DAY = local_today() - timedelta(days=3)


@pytest.fixture
def coordinator(client: Any, login: Any, make_user: Any, make_study: Any) -> Any:
    study = make_study("PREG")
    user = make_user("coordinator", (study,))
    login(user)
    user.study = study
    db.session.commit()
    return user


def sessions(patient_id: int) -> list[TreatmentSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(TreatmentSession).where(TreatmentSession.patient_id == patient_id)))


@pytest.mark.parametrize(("agents", "formulations", "expected"), [
    ("dutasteride 0.01% + vitamins", [], True),
    ("Finasteride", [], True),
    ("finasteride-free cocktail", [], False),
    ("vitamins + hyaluronic acid", [], False),
    ("Formula D", [{"id": "dut", "label": {"en": "dutasteride 0.01%"}, "aliases": ["formula d"]}], True),
    ("Formula V", [{"id": "vit", "label": {"en": "vitamins"}, "aliases": ["formula v"]}], False),
])
def test_a_5ari_is_found_in_the_agents_or_their_formulations_names(agents, formulations, expected) -> None:
    assert holds_5ari(agents, formulations) is expected


def test_only_female_patients_need_the_check() -> None:
    assert needs_check("female", "dutasteride")
    assert not needs_check("male", "dutasteride") and not needs_check("female", "vitamins")


def test_the_service_refuses_a_5ari_session_without_the_check_or_with_a_yes(make_patient) -> None:
    patient = make_patient(sex="female", enrolled_days_ago=20)
    with pytest.raises(EnrollmentError, match="pregnancy check"):
        record_session(db.session, patient, actor="test", number=1, day=DAY, agents="dutasteride 0.01%")
    for check in (PregnancyCheck(True, False, False), PregnancyCheck(False, True, False),
                  PregnancyCheck(False, False, True)):
        with pytest.raises(EnrollmentError, match="contraindicated"):
            record_session(db.session, patient, actor="test", number=1, day=DAY, agents="dutasteride",
                           pregnancy_check=check)
    assert sessions(patient.id) == []
    treatment = record_session(db.session, patient, actor="test", number=1, day=DAY, agents="dutasteride",
                               pregnancy_check=NO)
    assert (treatment.pregnant, treatment.breastfeeding, treatment.trying_to_conceive) == (False,) * 3
    assert treatment.pregnancy_checked_by == "test" and treatment.pregnancy_checked_at is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "session.create"))
    assert event.details["pregnancy_check"] == {"pregnant": False, "breastfeeding": False,
                                                "trying_to_conceive": False}
    # a correction of the done session (its notes) keeps its check; a male patient needs none
    record_session(db.session, patient, actor="test", number=1, day=DAY, agents="dutasteride", notes="ok")
    male = make_patient(sex="male", enrolled_days_ago=20)
    record_session(db.session, male, actor="test", number=1, day=DAY, agents="dutasteride")


def test_planning_needs_the_check_and_confirming_the_planned_session_asks_it_again(make_patient) -> None:
    patient = make_patient(sex="female", enrolled_days_ago=20)
    ahead = local_today() + timedelta(days=7)
    with pytest.raises(EnrollmentError, match="pregnancy check"):
        record_session(db.session, patient, actor="test", number=1, day=ahead, agents="finasteride",
                       planned=True)
    record_session(db.session, patient, actor="test", number=1, day=ahead, agents="finasteride", planned=True,
                   pregnancy_check=NO)
    with pytest.raises(EnrollmentError, match="pregnancy check"):
        record_session(db.session, patient, actor="test", number=1, day=local_today(), agents="finasteride")


def test_the_database_never_holds_a_yes_with_a_session(make_patient) -> None:
    from sqlalchemy.exc import IntegrityError

    patient = make_patient(sex="female", enrolled_days_ago=20)
    treatment = record_session(db.session, patient, actor="test", number=1, day=DAY, agents="dutasteride",
                               pregnancy_check=NO)
    treatment.pregnant = True
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_the_staff_form_shows_requires_and_stores_the_check(client, coordinator, make_patient) -> None:
    patient = make_patient(coordinator.study, "F-1", sex="female", enrolled_days_ago=20)
    make_patient(coordinator.study, "M-1", sex="male", enrolled_days_ago=20)
    db.session.commit()
    base = f"/studies/{coordinator.study.code}/patients"
    page = client.get(f"{base}/F-1/manage").get_data(as_text=True)
    assert "Is the patient pregnant?" in page and "No pre-session pregnancy check recorded yet" in page
    assert "Is the patient pregnant?" not in client.get(f"{base}/M-1/manage").get_data(as_text=True)
    data = {"number": "1", "day": DAY.isoformat(), "agents": "dutasteride 0.01%"}
    missing = client.post(f"{base}/F-1/sessions", data=data)
    assert missing.status_code == 400 and "pregnancy check" in missing.get_data(as_text=True)
    partial = client.post(f"{base}/F-1/sessions", data={**data, "pregnant": "no"})
    assert partial.status_code == 400 and "all three questions" in partial.get_data(as_text=True)
    yes = client.post(f"{base}/F-1/sessions", data={**data, "pregnant": "no", "breastfeeding": "yes",
                                                     "trying_to_conceive": "no"})
    assert yes.status_code == 400 and "contraindicated" in yes.get_data(as_text=True)
    assert sessions(patient.id) == []
    done = client.post(f"{base}/F-1/sessions", data={**data, "pregnant": "no", "breastfeeding": "no",
                                                      "trying_to_conceive": "no"})
    assert done.status_code == 302
    [treatment] = sessions(patient.id)
    assert treatment.pregnancy_checked_by == f"staff:{coordinator.id}"
    page = client.get(f"{base}/F-1/manage").get_data(as_text=True)
    assert "Last pre-session pregnancy check" in page and "not trying to conceive" in page
    page = client.get(f"{base}/F-1/manage", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "La patiente est-elle enceinte" in page


def test_sessions_record_takes_the_check_as_options(runner, make_patient) -> None:
    patient = make_patient(code="CLI-F", sex="female", enrolled_days_ago=20)
    db.session.commit()
    args = ["sessions", "record", patient.study.code, "CLI-F", "--number", "1", "--date", DAY.isoformat(),
            "--agents", "finasteride 0.05%"]
    refused = runner.invoke(args=args)
    assert refused.exit_code != 0 and "pregnancy check" in refused.output
    refused = runner.invoke(args=[*args, "--pregnant", "yes", "--breastfeeding", "no",
                                  "--trying-to-conceive", "no"])
    assert refused.exit_code != 0 and "contraindicated" in refused.output
    assert sessions(patient.id) == []
    result = runner.invoke(args=[*args, "--pregnant", "no", "--breastfeeding", "no",
                                 "--trying-to-conceive", "no"])
    assert result.exit_code == 0, result.output
    assert sessions(patient.id)[0].pregnancy_checked_at is not None


def test_sessions_import_refuses_a_5ari_row_without_the_check(runner, make_patient, tmp_path: Path) -> None:
    patient = make_patient(code="IMP-F", sex="female", enrolled_days_ago=100)
    db.session.commit()
    d = [local_today() - timedelta(days=n) for n in (60, 30)]
    log = tmp_path / "log.csv"
    log.write_text("patient,number,date,agents\n"
                   f"IMP-F,1,{d[0]},vitamins\nIMP-F,2,{d[1]},dutasteride\n", encoding="utf-8")
    refused = runner.invoke(args=["sessions", "import", patient.study.code, str(log)])
    assert refused.exit_code != 0 and "line 3" in refused.output and "pregnancy check" in refused.output
    log.write_text("patient,number,date,agents,pregnant,breastfeeding,trying_to_conceive\n"
                   f"IMP-F,1,{d[0]},vitamins,,,\nIMP-F,2,{d[1]},dutasteride,no,oui,no\n", encoding="utf-8")
    refused = runner.invoke(args=["sessions", "import", patient.study.code, str(log)])
    assert refused.exit_code != 0 and "contraindicated" in refused.output
    log.write_text("patient,number,date,agents,pregnant,breastfeeding,trying_to_conceive\n"
                   f"IMP-F,1,{d[0]},vitamins,,,\nIMP-F,2,{d[1]},dutasteride,no,maybe,no\n", encoding="utf-8")
    refused = runner.invoke(args=["sessions", "import", patient.study.code, str(log)])
    assert refused.exit_code != 0 and "line 3" in refused.output and "yes or no" in refused.output
    assert db.session.scalar(select(func.count(TreatmentSession.id))) == 0
    log.write_text("patient,number,date,agents,pregnant,breastfeeding,trying_to_conceive\n"
                   f"IMP-F,1,{d[0]},vitamins,,,\nIMP-F,2,{d[1]},dutasteride,no,no,non\n", encoding="utf-8")
    result = runner.invoke(args=["sessions", "import", patient.study.code, str(log)])
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["sessions", "import", patient.study.code, str(log)])
    assert "0 session(s) created, 0 updated, 2 unchanged" in again.output


@pytest.mark.parametrize("sex", ["other", None])
def test_a_patient_not_recorded_as_male_is_asked_the_check_too(make_patient, sex) -> None:
    """Fail safe: only a patient recorded as male is spared the check; "other" and an unrecorded sex
    may be able to become pregnant, and three "no" cost less than a missed exposure."""
    patient = make_patient(sex=sex, enrolled_days_ago=20)
    with pytest.raises(EnrollmentError, match="pregnancy check"):
        record_session(db.session, patient, actor="test", number=1, day=DAY, agents="dutasteride")
    record_session(db.session, patient, actor="test", number=1, day=DAY, agents="dutasteride",
                   pregnancy_check=NO)
