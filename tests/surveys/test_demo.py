"""The demo cohort: believable, reproducible for a seed, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from surveys.demo import load_demo
from surveys.domain.models import Alert, Answer, Patient, Response, Score, StaffUser, Study
from surveys.infra.db import db

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def run(library, n: int, seed: int = 7) -> str:
    return load_demo(
        db.session, n_patients=n, seed=seed, secret="s", base_url="http://x", library=library, now=NOW
    )


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_demo_creates_study_logins_patients_and_answers(app, library) -> None:
    summary = run(library, 40)
    assert db.session.scalar(select(Study.code)) == "DEMO"
    assert count(StaffUser) == 3
    assert count(Patient) == 43  # 40 + three showcase patients
    assert count(Response) > 200 and count(Answer) > 2000 and count(Score) > 500
    assert "http://x/p/" in summary and "coordinator@demo.test" in summary


def test_running_the_demo_twice_adds_nothing(app, library) -> None:
    run(library, 30)
    before = (count(Patient), count(Response), count(Answer), count(Alert))
    summary = run(library, 30)
    assert (count(Patient), count(Response), count(Answer), count(Alert)) == before
    assert "0 added now" in summary


def test_growing_the_demo_keeps_existing_patients_unchanged(app, library) -> None:
    run(library, 10)
    first = db.session.execute(
        select(Patient.code, Patient.birth_year, Patient.sex).order_by(Patient.code)
    ).all()
    run(library, 20)
    again = db.session.execute(
        select(Patient.code, Patient.birth_year, Patient.sex)
        .where(Patient.code.in_([c for c, *_ in first]))
        .order_by(Patient.code)
    ).all()
    assert again == first
    assert count(Patient) == 23


def test_same_seed_gives_the_same_answers(app, library) -> None:
    run(library, 15, seed=3)
    answers = db.session.execute(
        select(Patient.code, Response.timepoint, Answer.item_id, Answer.code)
        .join(Response, Response.id == Answer.response_id)
        .join(Patient, Patient.id == Response.patient_id)
        .order_by(Patient.code, Response.timepoint, Answer.item_id)
    ).all()
    db.session.rollback()
    run(library, 15, seed=3)
    again = db.session.execute(
        select(Patient.code, Response.timepoint, Answer.item_id, Answer.code)
        .join(Response, Response.id == Answer.response_id)
        .join(Patient, Patient.id == Response.patient_id)
        .order_by(Patient.code, Response.timepoint, Answer.item_id)
    ).all()
    assert again == answers


def test_the_cohort_improves_on_average_and_has_responders_and_non_responders(app, library) -> None:
    run(library, 150)
    rows = db.session.execute(
        select(Response.patient_id, Response.timepoint, Score.value)
        .join(Score, Score.response_id == Response.id)
        .where(Response.instrument_id == "who5", Score.scale == "percent", Score.value.is_not(None))
    ).all()
    by_patient: dict[int, dict[str, float]] = {}
    for pid, tp, value in rows:
        by_patient.setdefault(pid, {})[tp] = value
    changes = [v["EOT"] - v["T0"] for v in by_patient.values() if "EOT" in v and "T0" in v]
    assert len(changes) >= 20
    assert sum(changes) / len(changes) > 3
    assert any(c >= 10 for c in changes) and any(c < 10 for c in changes)


def test_side_effects_are_mostly_mild_with_a_few_alerts(app, library) -> None:
    run(library, 150)
    checklists = db.session.scalar(
        select(func.count()).select_from(Response).where(Response.instrument_id == "pirc")
    )
    alerts = count(Alert)
    severe = db.session.scalar(select(func.count()).select_from(Alert).where(Alert.level >= 2))
    assert checklists > 200
    assert 0 < severe < checklists * 0.15
    assert alerts > 0


def test_some_follow_ups_are_missing(app, library) -> None:
    run(library, 150)
    baseline = db.session.scalar(
        select(func.count())
        .select_from(Response)
        .where(Response.instrument_id == "who5", Response.timepoint == "T0")
    )
    end = db.session.scalar(
        select(func.count())
        .select_from(Response)
        .where(Response.instrument_id == "who5", Response.timepoint == "EOT")
    )
    assert 0 < end < baseline


def test_the_walkthrough_patients_can_be_walked_through_again(app, client, library) -> None:
    from surveys.demo.loader import reset_walkthrough
    from surveys.demo.tokens import demo_token
    from tests.surveys.test_patient_flow import answer_all

    run(library, 5)
    db.session.commit()
    token = demo_token("s", "DEMO-NEW")
    answer_all(client, f"/p/{token}/q/T0/who5", one_part=True)
    others = count(Patient) - 3
    new = db.session.scalar(select(Patient).where(Patient.code == "DEMO-NEW"))
    assert db.session.scalar(select(func.count()).select_from(Response).where(Response.patient_id == new.id))
    assert reset_walkthrough(db.session) == 3
    run(library, 5)
    new = db.session.scalar(select(Patient).where(Patient.code == "DEMO-NEW"))
    assert db.session.scalar(
        select(func.count()).select_from(Response).where(Response.patient_id == new.id)) == 0
    assert count(Patient) - 3 == others
    assert "Start" in client.get(f"/p/{token}").get_data(as_text=True)


def test_demo_links_follow_the_port_when_base_url_is_unset(monkeypatch, tmp_path) -> None:
    from app import create_app

    monkeypatch.delenv("BASE_URL", raising=False)
    monkeypatch.setenv("PORT", "5103")
    app = create_app({"TESTING": True, "SECRET_KEY": "x",
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}"}, instance_path=str(tmp_path))
    assert app.config["BASE_URL"] == "http://127.0.0.1:5103"
    result = app.test_cli_runner().invoke(args=["demo", "--patients", "0"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5103/p/" in result.output
    result = app.test_cli_runner().invoke(args=["demo", "--patients", "0", "--reset-walkthrough"])
    assert result.exit_code == 0 and "3 walkthrough patient(s) reset" in result.output
    monkeypatch.setenv("BASE_URL", "https://prom.example")
    assert create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": "sqlite://"},
                      instance_path=str(tmp_path)).config["BASE_URL"] == "https://prom.example"


def test_the_demo_holds_the_phq9_and_the_systemic_blocks_its_formulations_call_for(app, library, client,
                                                                                   make_user, login) -> None:
    from surveys.domain.models import TreatmentSession
    from tests.reports.test_exports import read_csv

    run(library, 80)
    rows = db.session.execute(
        select(Response.instrument_id, TreatmentSession.agents, Patient.sex)
        .join(Patient, Patient.id == Response.patient_id)
        .join(TreatmentSession, (TreatmentSession.patient_id == Patient.id) & (TreatmentSession.number == 1))
    ).all()
    by_block: dict[str, set[str]] = {}
    for instrument, agents, _sex in rows:
        by_block.setdefault(instrument, set()).add(agents)
    assert by_block["systemic_5ari"] == by_block["phq9"] == {"dutasteride 0.01% + vitamins"}
    assert by_block["systemic_minoxidil"] == {"minoxidil 0.5% + biotin"}
    assert len(by_block["systemic"]) == 5  # everyone, whatever the formulation
    phq9 = db.session.scalars(select(Score.value).join(Response).where(Response.instrument_id == "phq9"))
    phq9 = list(phq9)
    assert len(phq9) > 20 and max(phq9) > min(phq9)
    # a female patient's 5-ARI sessions carry the pre-session pregnancy check, as the form requires
    checked = db.session.execute(
        select(Patient.sex, TreatmentSession.pregnancy_checked_at.is_not(None))
        .join(TreatmentSession, TreatmentSession.patient_id == Patient.id)
        .where(TreatmentSession.agents.like("dutasteride%"))
    ).all()
    assert {sex for sex, _ in checked} == {"female", "male"}
    assert all(done == (sex == "female") for sex, done in checked)
    # the export shows them
    study = db.session.scalar(select(Study))
    login(make_user("coordinator", (study,)))
    db.session.commit()
    scores = read_csv(client.get(f"/studies/{study.code}/exports/scores").data)
    assert {"phq9", "systemic_5ari", "systemic_minoxidil"} <= set(scores.instrument)


def test_the_demo_has_consent_texts_and_varied_consent_records_on_or_before_enrollment(app, library) -> None:
    from surveys.demo.loader import WALKTHROUGH
    from surveys.domain.consent import consent_valid
    from surveys.domain.models import ConsentRecord, ConsentVersion
    from surveys.domain.participation import local_day

    run(library, 80)
    study = db.session.scalar(select(Study))
    assert study.consent_required and study.consent_on_phone
    first, second = db.session.scalars(select(ConsentVersion).order_by(ConsentVersion.id)).all()
    assert (first.version, first.requires_reconsent, second.version, second.requires_reconsent) == (
        "1.0", False, "1.1", True)
    for version in (first, second):
        assert "mesotherapy" in version.text_en and "mésothérapie" in version.text_fr
    records = db.session.execute(
        select(Patient, ConsentRecord).join(ConsentRecord, ConsentRecord.patient_id == Patient.id)
        .order_by(Patient.id, ConsentRecord.version_id)).all()
    assert {patient.id for patient, _ in records} == set(db.session.scalars(select(Patient.id)))
    assert {r.method for _, r in records} == {"paper", "verbal", "electronic", "patient_device"}
    seen: set[int] = set()
    for patient, record in records:
        enrolled = local_day(study, patient.enrolled_at)
        if patient.id not in seen:  # the first consent: on or before enrollment
            assert record.consented_on <= enrolled, patient.code
            seen.add(patient.id)
        version = first if record.version_id == first.id else second
        assert record.consented_on >= local_day(study, version.created_at)  # no consent before its text
        assert record.consented_on <= NOW.date()
    patients = db.session.scalars(select(Patient)).all()
    for patient in patients:
        if patient.code in WALKTHROUGH:  # their links open questionnaires at once
            assert consent_valid(db.session, patient), patient.code
    pending = [p for p in patients if p.status == "active" and not consent_valid(db.session, p)]
    assert pending  # the re-consent path shows: these patients accept version 1.1 on their phone first
    since = db.session.scalar(select(func.count()).select_from(Response).where(
        Response.patient_id.in_([p.id for p in pending]), Response.submitted_at >= second.created_at))
    assert since == 0  # nobody answered after 1.1 without accepting it


def test_a_few_demo_patients_have_withdrawn_for_various_reasons(app, library) -> None:
    from surveys.domain.participation import local_day

    run(library, 80)
    withdrawn = db.session.scalars(select(Patient).where(Patient.status == "withdrawn")).all()
    assert len(withdrawn) >= 2 and len({p.withdrawal_reason for p in withdrawn}) >= 2
    study = db.session.scalar(select(Study))
    for patient in withdrawn:
        assert local_day(study, patient.enrolled_at) <= patient.status_on <= NOW.date()
        assert patient.withdrawal_reason != "other" or patient.status_note
        last = db.session.scalar(
            select(func.max(Response.submitted_at)).where(Response.patient_id == patient.id))
        assert last is None or local_day(study, last) <= patient.status_on
        assert all(s.date <= patient.status_on for s in patient.sessions)  # no study session after leaving


def test_no_demo_answer_precedes_enrollment_nor_its_first_consent(app, library) -> None:
    """Over the default cohort (200 + 3): answers start on or after enrollment, consent comes first."""
    from surveys.domain.models import ConsentRecord
    from surveys.domain.participation import local_day

    run(library, 200, seed=2026)  # the cohort `flask demo` loads by default
    study = db.session.scalar(select(Study))
    first_started = dict(db.session.execute(
        select(Response.patient_id, func.min(Response.started_at)).group_by(Response.patient_id)).all())
    first_answered = dict(db.session.execute(
        select(Response.patient_id, func.min(Answer.answered_at)).join(Answer)
        .group_by(Response.patient_id)).all())
    first_consent = dict(db.session.execute(
        select(ConsentRecord.patient_id, func.min(ConsentRecord.consented_on))
        .group_by(ConsentRecord.patient_id)).all())
    def utc(moment: datetime) -> datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    early, unconsented = [], []
    for patient in db.session.scalars(select(Patient)):
        enrolled = utc(patient.enrolled_at)
        started, answered = first_started.get(patient.id), first_answered.get(patient.id)
        if started is None:
            continue
        first = min(utc(started), utc(answered))
        if first < enrolled:
            early.append(patient.code)
        if study.consent_required and not (patient.id in first_consent
                                           and first_consent[patient.id] <= local_day(study, first)):
            unconsented.append(patient.code)
    assert early == [] and unconsented == []
