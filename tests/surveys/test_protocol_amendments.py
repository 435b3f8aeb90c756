"""Protocol amendments (issue 16): a new protocol version is checked, shown as a difference against the
current one, then applied with a reason; existing patients' windows follow from their anchors, and
answers already given stay under the version they were answered under."""

from __future__ import annotations

import copy
import io
import json
import re
from datetime import timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from surveys.domain import flow
from surveys.domain.amendments import (
    AmendmentConflict,
    AmendmentError,
    apply_amendment,
    check_amendment,
    protocol_fingerprint,
    read_protocol_json,
)
from surveys.domain.models import AuditEvent, Patient, Response, Study, StudyProtocol
from surveys.domain.participation import complete_finished
from surveys.domain.reminders import due_reminders
from surveys.domain.responses import start_response
from surveys.infra.db import db
from tests.surveys.staff_world import FEVER, submit_pirc
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing
from tests.surveys.test_patient_flow import answer_all
from tests.today import local_today

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

WEEK8 = {"id": "W8", "label": {"en": "Week 8", "fr": "Semaine 8"}, "anchor": "first_session",
         "opens": {"days": 49}, "due": {"days": 56}, "overdue": {"days": 63}, "closes": {"days": 77},
         "instruments": ["hair_status", "hair_change"]}


def amended(study: Study, version: str = "2.1", **changes: Any) -> dict[str, Any]:
    """The study's current protocol with a new version, W8 added after the session windows."""
    data = copy.deepcopy(study.protocol)
    data["version"] = version
    if changes.pop("add_week8", True):
        index = next(i for i, tp in enumerate(data["timepoints"]) if tp["id"] == "S") + 1
        data["timepoints"].insert(index, copy.deepcopy(WEEK8))
    data.update(changes)
    return data


def timepoint(data: dict[str, Any], tp_id: str) -> dict[str, Any]:
    return next(tp for tp in data["timepoints"] if tp["id"] == tp_id)


def events(study: Study, action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.study_id == study.id,
                                                            AuditEvent.action == action)))


def versions(study: Study) -> list[str]:
    return list(db.session.scalars(select(StudyProtocol.version).where(StudyProtocol.study_id == study.id)
                                   .order_by(StudyProtocol.id)))


def windows_of(patient: Patient) -> dict[str, Any]:
    db.session.refresh(patient)
    states = flow.response_states(db.session, patient)
    return {w.timepoint: w for w in flow.patient_windows(patient, flow.protocol_of(patient.study), states)}


def test_an_amendment_that_adds_a_timepoint_opens_it_for_existing_patients_and_keeps_old_answers(
    client, make_study, make_patient, library
) -> None:
    study = make_study("AMEND")
    in_week8 = make_patient(study, "IN-W8", enrolled_days_ago=70, sessions_days_ago=(55, 27))
    early = make_patient(study, "EARLY", sessions_days_ago=(10,))
    old_response = submit_pirc(in_week8, FEVER)
    assert old_response.protocol_version == "2.0"
    assert "W8" not in windows_of(in_week8)

    checked = check_amendment(db.session, study, amended(study), library)
    assert [tp.id for tp in checked.difference.added] == ["W8"]
    assert checked.difference.removed == () and checked.difference.changed == ()
    assert checked.impact.open_now == 1 and checked.impact.to_come == 1  # IN-W8 now, EARLY later
    assert checked.impact.kept_responses == 0
    assert study.protocol_version == "2.0" and versions(study) == ["2.0"]  # a check stores nothing

    apply_amendment(db.session, study, amended(study), library, reason="Ethics committee asked for W8",
                    actor="test")
    db.session.commit()
    assert study.protocol_version == "2.1" and versions(study) == ["2.0", "2.1"]
    assert windows_of(in_week8)["W8"].answerable
    assert windows_of(early)["W8"].state == "upcoming"

    home = client.get(f"/p/{in_week8.token}").get_data(as_text=True)
    assert "Week 8" in home
    answer_all(client, f"/p/{in_week8.token}/q/W8")
    given = {r.timepoint + "/" + r.instrument_id: r for r in db.session.scalars(
        select(Response).where(Response.patient_id == in_week8.id))}
    assert given["S1/pirc"].protocol_version == "2.0"
    assert given["W8/hair_status"].protocol_version == "2.1"
    assert given["W8/hair_change"].status == "submitted" and given["W8/hair_change"].protocol_version == "2.1"
    assert windows_of(in_week8)["W8"].state == "completed"

    (event,) = events(study, "study.protocol_amend")
    assert event.details["old_version"] == "2.0" and event.details["new_version"] == "2.1"
    assert event.details["reason"] == "Ethics committee asked for W8"
    assert event.details["changes"]["added"] == ["W8"]
    assert event.details["impact"]["open_now"] == 1


def test_an_amendment_that_changes_a_window_moves_existing_patients_windows(make_study, make_patient,
                                                                             library) -> None:
    study = make_study("MOVE")
    patient = make_patient(study, "MOVED", enrolled_days_ago=70, sessions_days_ago=(55,))
    assert windows_of(patient)["W12"].state == "upcoming"  # opens 77 days after the first session
    data = amended(study, add_week8=False)
    timepoint(data, "W12")["opens"] = {"days": 50}
    timepoint(data, "W12")["instruments"].append("who5")
    checked = check_amendment(db.session, study, data, library)
    (change,) = checked.difference.changed
    assert change.id == "W12"
    assert [(f.name, f.old.days, f.new.days) for f in change.fields] == [("opens", 77, 50)]
    assert change.instruments_added == ("who5",)
    assert checked.impact.moved == 1 and checked.impact.open_now == 1
    apply_amendment(db.session, study, data, library, reason="Earlier week-12 visit", actor="test")
    window = windows_of(patient)["W12"]
    first_session = local_today() - timedelta(days=55)
    assert window.answerable
    assert window.opens_at.astimezone(ZoneInfo(study.timezone)).date() == first_session + timedelta(days=50)
    assert [e.instrument for e in window.instruments] == ["hair_status", "hair_change", "who5"]


def test_answers_at_a_removed_timepoint_stay_under_the_old_version(make_study, make_patient, library) -> None:
    study = make_study("REMOVE")
    patient = make_patient(study, "W12-STARTED", enrolled_days_ago=100, sessions_days_ago=(80,))
    started = start_response(db.session, patient, "W12", library["hair_status"], "en")
    db.session.flush()
    data = amended(study, add_week8=False)
    data["timepoints"] = [tp for tp in data["timepoints"] if tp["id"] != "W12"]
    checked = check_amendment(db.session, study, data, library)
    assert [tp.id for tp in checked.difference.removed] == ["W12"]
    assert (checked.impact.kept_patients, checked.impact.kept_responses,
            checked.impact.in_progress_dropped, checked.impact.closes_now) == (1, 1, 1, 1)
    apply_amendment(db.session, study, data, library, reason="W12 dropped", actor="test")
    db.session.refresh(started)
    assert started.protocol_version == "2.0" and started.status == "in_progress"
    assert "W12" not in windows_of(patient)


def test_a_completed_patient_whose_schedule_gains_an_open_window_is_active_again(
    make_study, make_patient, library
) -> None:
    study = make_study("REVIVE")
    patient = make_patient(study, "DONE", enrolled_days_ago=520, sessions_days_ago=(500,))
    assert [p.code for p in complete_finished(db.session, study=study)] == ["DONE"]
    data = amended(study, add_week8=False)
    data["timepoints"].append({"id": "M18", "label": {"en": "Month 18", "fr": "Mois 18"},
                               "anchor": "first_session", "opens": {"days": 490}, "due": {"days": 500},
                               "overdue": {"days": 510}, "closes": {"days": 540},
                               "instruments": ["who5"]})
    checked = check_amendment(db.session, study, data, library)
    assert checked.impact.reactivated == ("DONE",)
    apply_amendment(db.session, study, data, library, reason="Longer follow-up", actor="test")
    assert patient.status == "active" and patient.status_on is None
    assert windows_of(patient)["M18"].answerable
    (event,) = events(study, "patient.reactivate")
    assert event.details["source"] == "protocol_amend" and event.details["version"] == "2.1"


def test_reminders_pick_up_a_window_an_amendment_opened(make_study, make_patient, library) -> None:
    study = make_study("REMIND")
    patient = make_patient(study, "MAIL", enrolled_days_ago=70, sessions_days_ago=(55,),
                           email="p@example.test")
    assert "W8" not in {r.window.timepoint for r in due_reminders(db.session) if r.patient.id == patient.id}
    apply_amendment(db.session, study, amended(study), library, reason="W8", actor="test")
    assert "W8" in {r.window.timepoint for r in due_reminders(db.session) if r.patient.id == patient.id}


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: timepoint(d, "W8")["instruments"].append("no_such_instrument"),
     "timepoint W8: the questionnaire “no_such_instrument” does not exist"),
    (lambda d: d.update(version="2.0"), "already used"),
    (lambda d: d.update(id="other_protocol"), "keeps the protocol id"),
    (lambda d: d.update(version=" "), "version"),
    (lambda d: d.update(version="x" * 40), "version"),
    (lambda d: timepoint(d, "W8").update(anchor="moon"), "anchor"),
    (lambda d: d["timepoints"].remove(timepoint(d, "W8")), "same as the current one"),
])
def test_a_refused_amendment_says_why_and_stores_nothing(make_study, make_patient, library, change,
                                                         words) -> None:
    study = make_study("REFUSE")
    make_patient(study, "P1", sessions_days_ago=(10,))
    data = amended(study)
    change(data)
    with pytest.raises(AmendmentError) as caught:
        apply_amendment(db.session, study, data, library, reason="a reason", actor="test")
    assert words in str(caught.value)
    assert study.protocol_version == "2.0" and versions(study) == ["2.0"]
    assert events(study, "study.protocol_amend") == []


@pytest.mark.parametrize("reason", ["", "   ", "x" * 2001])
def test_an_amendment_needs_a_reason(make_study, library, reason) -> None:
    study = make_study("REASON")
    with pytest.raises(AmendmentError, match="reason"):
        apply_amendment(db.session, study, amended(study), library, reason=reason, actor="test")
    assert versions(study) == ["2.0"]


@pytest.mark.parametrize(("raw", "words"), [
    (b"{not json", "not valid JSON"), (b"\xff\xfe", "UTF-8"), (b"[1, 2]", "one JSON object"), (b"", "Give"),
])
def test_a_malformed_file_is_refused_with_its_place(raw, words, app) -> None:
    with pytest.raises(AmendmentError, match=words):
        read_protocol_json(raw)


def test_an_amendment_checked_against_a_protocol_changed_since_is_refused(make_study, library) -> None:
    study = make_study("RACE")
    checked = check_amendment(db.session, study, amended(study), library)
    apply_amendment(db.session, study, amended(study, "2.2"), library, reason="first", actor="test")
    with pytest.raises(AmendmentConflict):
        apply_amendment(db.session, study, amended(study), library, reason="second", actor="test",
                        expected_base=checked.base)
    assert versions(study) == ["2.0", "2.2"]
    assert checked.base != protocol_fingerprint(study.protocol)


def test_a_file_without_formulations_keeps_the_study_list(make_study, library) -> None:
    study = make_study("FORMS")
    study.protocol = {**study.protocol, "formulations": [{"id": "vitamins", "label": {"en": "Vitamins"}}]}
    data = amended(study)
    del data["formulations"]
    apply_amendment(db.session, study, data, library, reason="W8", actor="test")
    assert study.protocol["formulations"] == [{"id": "vitamins", "label": {"en": "Vitamins"}}]


# --- the staff page ---------------------------------------------------------------------------


def test_the_protocol_page_checks_shows_the_difference_and_applies_with_a_reason(
    client, login, make_user, make_study, make_patient
) -> None:
    study = make_study("PAGE")
    make_patient(study, "IN-W8", enrolled_days_ago=70, sessions_days_ago=(55,))
    coordinator = make_user("coordinator", (study,))
    db.session.commit()
    login(coordinator)
    page = client.get("/studies/PAGE/protocol").get_data(as_text=True)
    assert "<textarea" in page and "scalp_mesotherapy" in page
    text = json.dumps(amended(study))
    shown = client.post("/studies/PAGE/protocol/check", data={"protocol_text": text})
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200
    assert "Timepoints added" in html and "W8" in html and "Week 8" in html
    assert "hair_change" in html or "Hair change" in html
    assert "Apply the amendment" in html
    assert versions(study) == ["2.0"]

    no_reason = client.post("/studies/PAGE/protocol/apply",
                            data={"protocol_text": text, "base": protocol_fingerprint(study.protocol),
                                  "reason": " "})
    assert no_reason.status_code == 400 and "reason" in no_reason.get_data(as_text=True)
    assert versions(study) == ["2.0"]

    assert 'enctype="multipart/form-data"' in html.split("protocol/apply")[1][:200]  # no %-encoding bloat
    applied = client.post("/studies/PAGE/protocol/apply", content_type="multipart/form-data",
                          data={"protocol_text": text, "base": protocol_fingerprint(study.protocol),
                                "reason": "Ethics approval 2026-11"})
    assert applied.status_code == 303 and applied.headers["Location"].endswith("/studies/PAGE/timeline")
    assert versions(study) == ["2.0", "2.1"]
    timeline = client.get("/studies/PAGE/timeline").get_data(as_text=True)
    assert "Amendment history" in timeline and "Ethics approval 2026-11" in timeline
    assert timeline.index("2.1") < timeline.rindex("2.0")
    assert coordinator.email in timeline


def test_the_page_refuses_bad_input_with_400_and_a_changed_protocol_with_409(
    client, login, make_user, make_study, library
) -> None:
    study = make_study("PBAD")
    login(make_user("coordinator", (study,)))
    bad = client.post("/studies/PBAD/protocol/check", data={"protocol_text": "{oops"})
    assert bad.status_code == 400 and "not valid JSON" in bad.get_data(as_text=True)
    wrong = amended(study)
    timepoint(wrong, "W8")["instruments"] = ["nope"]
    refused = client.post("/studies/PBAD/protocol/check", data={"protocol_text": json.dumps(wrong)})
    assert refused.status_code == 400
    assert "questionnaire “nope” does not exist" in refused.get_data(as_text=True)
    upload = client.post("/studies/PBAD/protocol/check", content_type="multipart/form-data",
                         data={"protocol_text": "", "protocol_file": (io.BytesIO(
                             json.dumps(amended(study)).encode()), "amendment.json")})
    assert upload.status_code == 200 and "W8" in upload.get_data(as_text=True)
    base = protocol_fingerprint(study.protocol)
    apply_amendment(db.session, study, amended(study, "2.5"), library, reason="meanwhile", actor="test")
    db.session.commit()
    late = client.post("/studies/PBAD/protocol/apply", data={"protocol_text": json.dumps(amended(study)),
                                                             "base": base, "reason": "mine"})
    assert late.status_code == 409 and "changed" in late.get_data(as_text=True)
    assert versions(study) == ["2.0", "2.5"]


def test_clinicians_read_the_protocol_but_cannot_amend_it(client, login, make_user, make_study) -> None:
    study = make_study("PRO")
    login(make_user("clinician", (study,)))
    page = client.get("/studies/PRO/protocol")
    assert page.status_code == 200 and "scalp_mesotherapy" in page.get_data(as_text=True)
    assert "<textarea" not in page.get_data(as_text=True)
    text = json.dumps(amended(study))
    assert client.post("/studies/PRO/protocol/check", data={"protocol_text": text}).status_code == 403
    applied = client.post("/studies/PRO/protocol/apply", data={"protocol_text": text, "reason": "x"})
    assert applied.status_code == 403
    assert versions(study) == ["2.0"]


# --- the command line -------------------------------------------------------------------------


def test_the_cli_shows_the_difference_dry_run_stores_nothing_and_bad_files_exit_non_zero(
    runner, make_study, make_patient, tmp_path
) -> None:
    study = make_study("CLIAM")
    make_patient(study, "IN-W8", enrolled_days_ago=70, sessions_days_ago=(55,))
    db.session.commit()
    path = tmp_path / "amendment.json"
    path.write_text(json.dumps(amended(study)), encoding="utf-8")
    dry = runner.invoke(args=["studies", "amend", "CLIAM", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "2.0 -> 2.1" in dry.output and "+ W8" in dry.output and "Nothing was stored" in dry.output
    assert versions(study) == ["2.0"]

    no_reason = runner.invoke(args=["studies", "amend", "CLIAM", str(path)])
    assert no_reason.exit_code != 0 and versions(study) == ["2.0"]
    done = runner.invoke(args=["studies", "amend", "CLIAM", str(path), "--reason", "Add W8"])
    assert done.exit_code == 0, done.output
    assert "applied" in done.output
    db.session.refresh(study)
    assert study.protocol_version == "2.1" and versions(study) == ["2.0", "2.1"]
    (event,) = events(study, "study.protocol_amend")
    assert event.actor.startswith("os-user:")

    again = runner.invoke(args=["studies", "amend", "CLIAM", str(path), "--reason", "Add W8"])
    assert again.exit_code != 0 and "already used" in again.output
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    bad = runner.invoke(args=["studies", "amend", "CLIAM", str(broken), "--reason", "x"])
    assert bad.exit_code != 0 and "not valid JSON" in bad.output
    assert runner.invoke(args=["studies", "amend", "NOPE", str(path), "--reason", "x"]).exit_code != 0
    assert runner.invoke(args=["studies", "amend", "CLIAM", str(path), "--reason", "x",
                               "--as", "nobody@clinic.test"]).exit_code != 0
    assert db.session.scalar(select(func.count()).select_from(StudyProtocol)
                             .where(StudyProtocol.study_id == study.id)) == 2


def test_the_difference_is_shown_in_french_to_a_french_speaking_coordinator(
    client, login, make_user, make_study
) -> None:
    study = make_study("FRAM")
    user = make_user("coordinator", (study,))
    user.language = "fr"
    db.session.commit()
    login(user)
    html = client.post("/studies/FRAM/protocol/check",
                       data={"protocol_text": json.dumps(amended(study))}).get_data(as_text=True)
    assert "Temps de mesure ajoutés" in html and "Semaine 8" in html
    assert "Appliquer l&#39;amendement" in html or "Appliquer l'amendement" in html
    assert "Timepoints added" not in html


def test_the_study_wide_anchors_are_each_patients_own(make_study, make_patient) -> None:
    from surveys.domain.patients import extend_window, patient_anchors, record_session, study_anchors

    study = make_study("ANCH")
    one = make_patient(study, "ONE", enrolled_days_ago=60, sessions_days_ago=(40, 12))
    record_session(db.session, one, actor="test", number=3, day=local_today() + timedelta(days=10),
                   planned=True)
    extend_window(db.session, one, "S1", local_today() + timedelta(days=3), actor="test", reason="phone call")
    two = make_patient(study, "TWO")
    gone = make_patient(study, "GONE", sessions_days_ago=(5,))
    gone.status = "withdrawn"
    db.session.flush()
    active = study_anchors(db.session, study)
    assert set(active) == {one.id, two.id}
    for patient in (one, two):
        db.session.refresh(patient)
        assert active[patient.id] == patient_anchors(patient)
    assert set(study_anchors(db.session, study, statuses=("withdrawn",))) == {gone.id}


def _w12_removed_and_w8_added(study: Study) -> dict[str, Any]:
    data = amended(study)
    data["timepoints"] = [tp for tp in data["timepoints"] if tp["id"] != "W12"]
    return data


def test_the_check_names_the_patients_of_each_impact(make_study, make_patient, library) -> None:
    study = make_study("WHO")
    make_patient(study, "IN-W8", enrolled_days_ago=70, sessions_days_ago=(55, 27))
    make_patient(study, "EARLY", sessions_days_ago=(10,))
    in_w12 = make_patient(study, "IN-W12", enrolled_days_ago=100, sessions_days_ago=(80,))
    start_response(db.session, in_w12, "W12", library["hair_status"], "en")
    db.session.flush()
    impact = check_amendment(db.session, study, _w12_removed_and_w8_added(study), library).impact
    assert impact.who["open_now"] == ("IN-W8",)
    assert impact.who["to_come"] == ("EARLY",)
    assert impact.who["closes_now"] == ("IN-W12",)
    assert impact.who["kept"] == ("IN-W12",)
    assert (impact.open_now, impact.to_come, impact.closes_now, impact.kept_patients) == (1, 1, 1, 1)


def test_the_page_lists_the_patients_of_each_impact_in_a_collapsible_list(
    client, login, make_user, make_study, make_patient, library
) -> None:
    study = make_study("WHOP")
    make_patient(study, "IN-W8", enrolled_days_ago=70, sessions_days_ago=(55, 27))
    in_w12 = make_patient(study, "IN-W12", enrolled_days_ago=100, sessions_days_ago=(80,))
    start_response(db.session, in_w12, "W12", library["hair_status"], "en")
    login(make_user("coordinator", (study,)))
    db.session.commit()
    text = json.dumps(_w12_removed_and_w8_added(study))
    html = client.post("/studies/WHOP/protocol/check", data={"protocol_text": text}).get_data(as_text=True)
    impact = html.split('id="impact"')[1].split("</section>")[0]
    assert impact.count("<details>") >= 3
    opens, closes = impact.split("a window open now")[1], impact.split("something they could answer")[1]
    assert "IN-W8" in opens.split("</li>")[0] and "IN-W12" not in opens.split("</li>")[0]
    assert "IN-W12" in closes.split("</li>")[0]


def test_the_cli_names_the_patients_of_each_impact(runner, make_study, make_patient, library,
                                                   tmp_path) -> None:
    study = make_study("WHOC")
    make_patient(study, "IN-W8", enrolled_days_ago=70, sessions_days_ago=(55, 27))
    in_w12 = make_patient(study, "IN-W12", enrolled_days_ago=100, sessions_days_ago=(80,))
    start_response(db.session, in_w12, "W12", library["hair_status"], "en")
    db.session.commit()
    path = tmp_path / "amendment.json"
    path.write_text(json.dumps(_w12_removed_and_w8_added(study)), encoding="utf-8")
    dry = runner.invoke(args=["studies", "amend", "WHOC", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    assert any("window open now" in line and "IN-W8" in line for line in lines), dry.output
    assert any("lose something" in line and "IN-W12" in line for line in lines), dry.output


@pytest.mark.parametrize(("version", "warned"), [("1.5", True), ("2.0.0", True), ("10.0", False),
                                                 ("2.1", False), ("v-next", False)])
def test_a_version_number_not_above_the_current_one_is_warned_not_refused(
    client, login, make_user, make_study, library, runner, tmp_path, version, warned
) -> None:
    study = make_study("VERS")
    checked = check_amendment(db.session, study, amended(study, version), library)
    assert bool(checked.warnings) is warned
    login(make_user("coordinator", (study,)))
    db.session.commit()
    html = client.post("/studies/VERS/protocol/check",
                       data={"protocol_text": json.dumps(amended(study, version))}).get_data(as_text=True)
    assert ("is not after the current version 2.0" in html) is warned
    assert "Apply the amendment" in html
    path = tmp_path / "amendment.json"
    path.write_text(json.dumps(amended(study, version)), encoding="utf-8")
    dry = runner.invoke(args=["studies", "amend", "VERS", str(path), "--dry-run"])
    assert dry.exit_code == 0 and ("is not after the current version 2.0" in dry.output) is warned


def test_the_french_difference_table_names_its_column_with_a_noun(client, login, make_user,
                                                                  make_study) -> None:
    study = make_study("FRCOL")
    data = amended(study, add_week8=False)
    timepoint(data, "W12")["opens"] = {"days": 50}
    user = make_user("coordinator", (study,))
    user.language = "fr"
    login(user)
    db.session.commit()
    html = client.post("/studies/FRCOL/protocol/check", data={"protocol_text": json.dumps(data)}).get_data(
        as_text=True)
    assert '<th scope="col">Modification</th>' in html and ">Changer</th>" not in html


@pytest.mark.parametrize(("change", "english", "french"), [
    (lambda d: timepoint(d, "T0")["instruments"].append("dlqi"), "unknown instrument",
     "le questionnaire « dlqi » n'existe pas"),
    (lambda d: timepoint(d, "W8").update(anchor="moon"), "'anchor' must be one of",
     "l'ancrage doit être"),
    (lambda d: timepoint(d, "W8").update(opens={"days": "x"}), "offset values must be whole numbers",
     "nombres entiers"),
    (lambda d: d.update(colour="blue"), "unknown key(s)", "clé(s) inconnue(s) : colour"),
])
def test_a_protocol_problem_reaches_a_french_coordinator_in_french(client, login, make_user, make_study,
                                                                   change, english, french) -> None:
    """"protocol: timepoint T0: unknown instrument 'dlqi'" stayed English on the French check page."""
    import html as html_module

    study = make_study("FRBAD")
    user = make_user("coordinator", (study,))
    user.language = "fr"
    db.session.commit()
    login(user)
    data = amended(study)
    change(data)
    response = client.post("/studies/FRBAD/protocol/check", data={"protocol_text": json.dumps(data)})
    page = html_module.unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert english not in page and french in page
    created = client.post("/studies/new", content_type="multipart/form-data", data={
        "code": "FRNEW", "name": "Nouvelle étude", "protocol_source": "upload", "emergency_number": "15",
        "protocol_file": (io.BytesIO(json.dumps(data).encode()), "protocol.json")})
    page = html_module.unescape(created.get_data(as_text=True))
    assert created.status_code == 400 and english not in page and french in page


def test_a_timepoint_without_a_french_label_is_warned_not_refused(
    client, login, make_user, make_study, library, runner, tmp_path
) -> None:
    """Patients may read French (the study's default or their own language): an English-only label
    would reach them in English, so the check lists every such timepoint, on the page and the CLI."""
    study = make_study("NOFR")
    data = amended(study)
    timepoint(data, "W8")["label"] = {"en": "Week 8"}
    timepoint(data, "M6")["label"] = {"en": "6 months", "fr": " "}
    checked = check_amendment(db.session, study, data, library)
    warning = " ".join(checked.warnings)
    assert "W8" in warning and "M6" in warning and "Week 8" in warning and "W12" not in warning
    login(make_user("coordinator", (study,)))
    db.session.commit()
    html = unescape(client.post("/studies/NOFR/protocol/check",
                                data={"protocol_text": json.dumps(data)}).get_data(as_text=True))
    assert "W8" in html and "without a label in French" in html and "Apply the amendment" in html
    path = tmp_path / "amendment.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    dry = runner.invoke(args=["studies", "amend", "NOFR", str(path), "--dry-run"])
    assert dry.exit_code == 0 and "without a label in French" in dry.output and "M6" in dry.output
    applied = runner.invoke(args=["studies", "amend", "NOFR", str(path), "--reason", "Week 8 visit"])
    assert applied.exit_code == 0 and "without a label in French" in applied.output


def test_a_protocol_labelled_in_every_language_draws_no_language_warning(make_study, library) -> None:
    study = make_study("ALLFR")
    assert check_amendment(db.session, study, amended(study), library).warnings == ()


WEEK6 = {"id": "W6", "label": {"en": "Week 6", "fr": "Semaine 6"}, "anchor": "first_session",
         "opens": {"days": 35}, "due": {"days": 42}, "overdue": {"days": 49}, "closes": {"days": 63},
         "instruments": ["hair_status"]}


def test_a_timepoint_an_amendment_appends_is_listed_when_it_happens_not_last(
    client, login, make_user, make_study, make_patient, library
) -> None:
    """An amendment appending W6 at the end of the JSON list showed '… 6 months, 12 months, Week 6'."""
    study = make_study("ORDER")
    patient = make_patient(study, "ORD-1", sessions_days_ago=(3,))
    data = amended(study, add_week8=False)
    data["timepoints"].append(copy.deepcopy(WEEK6))
    apply_amendment(db.session, study, data, library, reason="W6 visit", actor="test")
    db.session.commit()

    ids = [tp.id for tp in flow.protocol_of(study).timepoints]
    assert ids.index("W6") < ids.index("W12") < ids.index("M6") < ids.index("M12")
    assert list(windows_of(patient)).index("W6") < list(windows_of(patient)).index("W12")

    home = client.get(f"/p/{patient.token}").get_data(as_text=True)
    assert home.index("Week 6") < home.index("Week 12")
    login(make_user("coordinator", (study,)))
    page = client.get("/studies/ORDER/timeline").get_data(as_text=True)
    assert page.index("Week 6") < page.index("Week 12") < page.index("6 months")


@pytest.mark.parametrize(("raw", "english", "french"), [
    ("{not json", "a property name in double quotes was expected", "un nom de propriété entre guillemets"),
    ('{"id": "x",}', "a property name in double quotes was expected", "un nom de propriété entre guillemets"),
    ('{"id" "x"}', "':' was expected", "« : » était attendu"),
    ('{"id": }', "a value was expected", "une valeur était attendue"),
    ('{"id": "x"} 1', "extra text after the JSON object", "du texte après l'objet JSON"),
])
def test_a_json_syntax_error_is_worded_in_the_readers_language_with_its_place(
    client, login, make_user, make_study, raw, english, french
) -> None:
    """'(ligne 1, colonne 3 : Expecting property name enclosed in double quotes)' reached French staff."""
    import html as html_module

    study = make_study("JSONFR")
    user = make_user("coordinator", (study,))
    login(user)
    page = client.post("/studies/JSONFR/protocol/check", data={"protocol_text": raw})
    assert page.status_code == 400
    text = html_module.unescape(page.get_data(as_text=True))
    assert english in text and "line 1, column" in text and "Expecting" not in text
    user.language = "fr"
    db.session.commit()
    page = client.post("/studies/JSONFR/protocol/check", data={"protocol_text": raw})
    text = html_module.unescape(page.get_data(as_text=True))
    assert page.status_code == 400 and french in text and "ligne 1, colonne" in text
    assert "Expecting" not in text and "Extra data" not in text


NNBSP_COLON = "\u00a0:"


def test_the_french_timeline_counts_days_in_the_plural_and_fills_the_session_label(
    client, login, make_user, make_study, make_patient, library
) -> None:
    """The French timeline showed '-14 jour', 'S: Après la séance {n}' and 'Temps de mesure ajoutés: W6'."""
    import html as html_module

    study = make_study("FRTL")
    data = amended(study, add_week8=False)
    data["timepoints"].append(copy.deepcopy(WEEK6))
    apply_amendment(db.session, study, data, library, reason="W6 visit", actor="test")
    user = make_user("coordinator", (study,))
    user.language = "fr"
    db.session.commit()
    login(user)
    page = html_module.unescape(client.get("/studies/FRTL/timeline").get_data(as_text=True))
    assert "-14 jours" in page and "-14 jour<" not in page and "-1 jour<" in page
    assert "{n}" not in page and "Après la séance n" in page
    assert f"Temps de mesure ajoutés{NNBSP_COLON} W6" in page

    treated = make_patient(study, "FRHOME", language="fr", sessions_days_ago=(3,))
    home = html_module.unescape(client.get(f"/p/{treated.token}").get_data(as_text=True))
    assert f"Semaine 6{NNBSP_COLON} à partir du" in home
    waiting = make_patient(study, "FRWAIT", language="fr")
    home = html_module.unescape(client.get(f"/p/{waiting.token}").get_data(as_text=True))
    assert f"12 mois{NNBSP_COLON} les dates" in home and "12 mois:" not in home


def test_the_timeline_names_the_agents_of_a_conditional_questionnaire_in_french(client, login, make_user,
                                                                               make_study) -> None:
    """The French timeline said 'seulement avec dutasteride, finasteride' (the protocol's English words)."""
    import html as html_module

    make_study("AGFR")
    user = make_user("coordinator", (db.session.scalar(select(Study).where(Study.code == "AGFR")),))
    user.language = "fr"
    db.session.commit()
    login(user)
    page = html_module.unescape(client.get("/studies/AGFR/timeline").get_data(as_text=True))
    assert "seulement avec dutastéride, finastéride" in page and "dutasteride" not in page


def test_the_french_timeline_puts_a_no_break_space_before_each_colon(client, login, make_user,
                                                                     make_study) -> None:
    """'T0: Avant le traitement', 'Séances prévues: 4': French sets a no-break space before ':'."""
    import html as html_module

    study = make_study("COLFR")
    user = make_user("coordinator", (study,))
    user.language = "fr"
    db.session.commit()
    login(user)
    page = html_module.unescape(client.get("/studies/COLFR/timeline").get_data(as_text=True))
    assert f"T0{NNBSP_COLON} Avant le traitement" in page and "T0: " not in page
    assert not re.search(r"\w: ", re.sub(r"<[^>]+>", "", page.split("<main", 1)[1]))
