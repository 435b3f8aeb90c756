"""Exports read by the real clients: R (load.R, any locale), PSPP (.sav), pyreadstat (.sav, .dta),
frictionless (keys), openpyxl (.xlsx), pandas (typed recipes) and the official FHIR R4 JSON schema.

The cohort holds the patients and answers that broke exports before: codes that look like
numbers (001, 010, 1E3, 1000), answers with line breaks, ';', leading '=', '-' or full-width
'＝', emoji and 2,000 characters, prior treatments with ';' inside, formulations spelt three ways.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from frictionless import Package
from openpyxl import load_workbook

from instruments.scoring import TEXT_MAX_LENGTH
from surveys.domain.models import Alert
from surveys.domain.patients import record_session
from surveys.infra.db import db
from tests.reports.test_exports import answer
from tests.today import local_today

CODES = ("001", "010", "1E3", "1000")
TEXTS = ("first line\nsecond line", "minoxidil; then finasteride", "=1+1", "-3 jours", "\uff1dSUM(A1)",
         "itchy \U0001F600 scalp", "x" * TEXT_MAX_LENGTH, 'quoted "word", comma')
PRIOR = ["minoxidil 5%; twice a day", "=finasteride", "PRP"]
FORMULATIONS = [{"id": "vit_ha", "label": {"en": "vitamins + hyaluronic acid",
                                           "fr": "vitamines + acide hyaluronique"}},
                {"id": "dutasteride", "label": {"en": "dutasteride 0.01% + vitamins"}}]
SPELLINGS = ("vitamins + hyaluronic acid", "Vitamins+Hyaluronic Acid", "vitamines + acide hyaluronique")
ROOT = Path(__file__).resolve().parents[2]


CONTACT_NOTE, RESOLUTION_NOTE = "left a message with Mrs Dupont's daughter", "seen by Dr Martin; fine"


def lived_alert(alert: Alert, user: Any) -> None:
    """Take the cohort's one alert through its lifecycle (issue 13) at known times.

    Raised 3 days ago; first contact 450 s later (0.125 h: 0.13 rounded half up, 0.12 half to
    even); resolved, reopened, then resolved again 50 h after it was raised.
    """
    from datetime import UTC, datetime

    from surveys.domain.alerts import record_contact_attempt, reopen_alert, resolve_alert

    raised = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    alert.created_at = alert.level_at = raised
    record_contact_attempt(db.session, alert, user, channel="phone", result="not_reached",
                           note=CONTACT_NOTE, attempted_at=raised + timedelta(seconds=450))
    record_contact_attempt(db.session, alert, user, channel="phone", result="reached",
                           attempted_at=raised + timedelta(hours=2))
    resolve_alert(db.session, alert, user, outcome="advice_given", note="first", ctcae_grade=1,
                  relatedness="possible", serious=False)
    reopen_alert(db.session, alert, user, "fever came back")
    final = resolve_alert(db.session, alert, user, outcome="seen_in_clinic", note=RESOLUTION_NOTE,
                          ctcae_grade=3, relatedness="probable", serious=True)
    final.resolved_at = alert.resolved_at = raised + timedelta(hours=50)
    db.session.flush()


def changed_answers(patient: Any) -> None:
    """Patient 001 changes their S1 checklist before sending it (issue 13's answer history): a pain
    grade changed, redness said, withdrawn (its follow-ups cleared), said again, withdrawn again."""
    from surveys.domain.responses import save_answers, start_response
    from surveys.infra.library import instruments

    inst = instruments()["pirc"]
    response = start_response(db.session, patient, "S1", inst, "en")
    save_answers(db.session, response, inst, {
        "pain_present": 1, "pain_worst": 3, "pain_now": 0, "pain_interference": 1, "redness_present": 1,
        "redness_worst": 2, "redness_now": 0, "redness_interference": 0, "rf_fever": 0,
        "other": "first draft"})
    save_answers(db.session, response, inst, {"redness_present": 0})
    save_answers(db.session, response, inst, {"redness_present": 1, "redness_worst": 4})


# (item, version, change, old code, new code) of patient 001's S1 checklist, as `changed_answers` and
# the final answers (`pirc`) leave them.
HISTORY = {("pain_worst", 2, "changed", 3, 2),
           ("redness_present", 2, "changed", 1, 0), ("redness_present", 3, "changed", 0, 1),
           ("redness_present", 4, "changed", 1, 0),
           ("redness_worst", 2, "cleared", 2, None), ("redness_worst", 3, "given_again", None, 4),
           ("redness_worst", 4, "cleared", 4, None),
           ("redness_now", 2, "cleared", 0, None), ("redness_interference", 2, "cleared", 0, None)}


def pirc(other: str, fever: int = 0) -> dict[str, Any]:
    return {"pain_present": 1, "pain_worst": 2, "pain_now": 0, "pain_interference": 1,
            "redness_present": 0, "rf_fever": fever, "other": other}


@pytest.fixture
def edge(make_study, make_patient, make_user) -> SimpleNamespace:
    study = make_study("EDGE")
    study.protocol = {**study.protocol, "formulations": FORMULATIONS}
    texts = iter(TEXTS)
    patients = []
    for n, code in enumerate(CODES):
        patient = make_patient(study, code, enrolled_days_ago=60, sex="female", birth_year=1970 + n,
                               diagnosis="female_pattern_hair_loss",
                               prior_treatments=PRIOR if n == 0 else [])
        for number, days in enumerate((40, 10), start=1):
            record_session(db.session, patient, actor="test", number=number,
                           day=local_today() - timedelta(days=days), agents=SPELLINGS[(n + number) % 3],
                           notes="tolerated well; no bruising" if number == 1 else "")
        answer(patient, "T0", "who5", {f"who5_{i}": (n + i) % 6 for i in range(1, 6)}, submitted_days_ago=45)
        if n == 0:
            changed_answers(patient)
        answer(patient, "S1", "pirc", pirc(next(texts), fever=int(n == 3)), submitted_days_ago=39)
        answer(patient, "S2", "pirc", pirc(next(texts)), submitted_days_ago=9)
        patients.append(patient)
    db.session.commit()
    coordinator = make_user("coordinator", (study,))
    db.session.flush()
    lived_alert(db.session.query(Alert).one(), coordinator)
    db.session.commit()
    return SimpleNamespace(study=study, patients=patients, coordinator=coordinator)


def stored_versions(edge: SimpleNamespace) -> set[str]:
    """The instrument versions the cohort's responses were answered in (text such as "2.0")."""
    from sqlalchemy import select

    from surveys.domain.models import Patient, Response

    return set(db.session.scalars(select(Response.instrument_version).join(Patient)
                                  .where(Patient.study_id == edge.study.id)))


def xlsx_rows(path: Path) -> list[tuple[Any, ...]]:
    """Every row of the first sheet (openpyxl's read-only workbook keeps its file open until closed)."""
    workbook = load_workbook(path, read_only=True)
    try:
        return list(workbook.active.iter_rows(values_only=True))
    finally:
        workbook.close()


def package(client, login, edge, tmp_path: Path, **args: Any) -> Path:
    login(edge.coordinator)
    response = client.get("/studies/EDGE/exports/datapackage", query_string=args)
    assert response.status_code == 200, response.data[:300]
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        archive.extractall(tmp_path)
    return tmp_path


def typed_csv(path: Path) -> pd.DataFrame:
    """The README's pandas recipe: the package's declared types, text columns as str."""
    descriptor = json.loads((path.parent / "datapackage.json").read_text(encoding="utf-8"))
    resource = next(r for r in descriptor["resources"] if r["path"] == path.name)
    text = {f["name"]: str for f in resource["schema"]["fields"] if f["type"] not in ("integer", "number")}
    return pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""], encoding="utf-8")


# --- joinable ---------------------------------------------------------------------------------

@pytest.mark.parametrize("deidentified", ["0", "1"])
def test_every_file_joins_patients_on_one_id_and_frictionless_checks_the_keys(
        client, login, edge, tmp_path, deidentified) -> None:
    folder = package(client, login, edge, tmp_path, deidentified=deidentified)
    report = Package(str(folder / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    descriptor = json.loads((folder / "datapackage.json").read_text())
    patients = set(typed_csv(folder / "patients.csv").patient)
    assert len(patients) == 4
    if deidentified == "0":
        assert patients == set(CODES)
    for resource in descriptor["resources"]:
        schema = resource["schema"]
        assert schema["primaryKey"]
        if resource["name"] != "patients":
            assert schema["foreignKeys"][0]["reference"] == {"resource": "patients", "fields": ["patient"]}
            assert set(typed_csv(folder / resource["path"]).patient) <= patients, resource["path"]
    answered = set(typed_csv(folder / "long.csv").patient)
    assert answered == set(typed_csv(folder / "wide.csv").patient) == patients


def test_a_broken_foreign_key_fails_validation(client, login, edge, tmp_path) -> None:
    folder = package(client, login, edge, tmp_path, deidentified="1")
    scores = (folder / "scores.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    first_id = scores[1].split(",")[0]
    (folder / "scores.csv").write_text(scores[0] + scores[1].replace(first_id, '"Rnobody"', 1)
                                       + "".join(scores[2:]), encoding="utf-8")
    assert not Package(str(folder / "datapackage.json")).validate().valid


def test_stable_pseudonyms_need_the_server_key_and_repeat_across_exports(app, client, login, edge) -> None:
    login(edge.coordinator)
    stable = {"deidentified": "1", "stable_ids": "1"}
    refused = client.get("/studies/EDGE/exports/patients", query_string=stable)
    assert refused.status_code == 400 and b"EXPORT_PSEUDONYM_KEY" in refused.data
    app.config["EXPORT_PSEUDONYM_KEY"] = "k" * 40
    try:
        ids = [list(pd.read_csv(io.BytesIO(client.get(
            "/studies/EDGE/exports/patients", query_string=stable).data)).patient)
            for _ in range(2)]
        random_ids = list(pd.read_csv(io.BytesIO(client.get(
            "/studies/EDGE/exports/patients", query_string={"deidentified": "1"}).data)).patient)
    finally:
        del app.config["EXPORT_PSEUDONYM_KEY"]
    assert ids[0] == ids[1] and all(i.startswith("K") and len(i) == 17 for i in ids[0])
    assert not set(ids[0]) & set(random_ids) and not set(ids[0]) & set(CODES)


# --- typed, complete --------------------------------------------------------------------------

def test_analysis_csvs_carry_text_exactly_and_codes_as_strings(client, login, edge, tmp_path) -> None:
    folder = package(client, login, edge, tmp_path)
    long = typed_csv(folder / "long.csv")
    assert set(long.patient) == set(CODES)  # four patients, not three
    assert set(long.instrument_version) == stored_versions(edge) and "2.0" in stored_versions(edge)
    assert set(long[long.item == "other"].text) == set(TEXTS)  # no ' prefix, line breaks kept
    prior = typed_csv(folder / "prior_treatments.csv")
    assert list(prior.treatment) == PRIOR and list(prior.patient) == ["001"] * 3
    sessions = typed_csv(folder / "sessions.csv")
    assert set(sessions.formulation) == {"vit_ha"}  # three spellings, one group
    assert len(sessions) == 8 and set(sessions.session) == {1, 2}
    alerts = typed_csv(folder / "alerts.csv")
    assert list(alerts.patient) == ["1000"] and "rf_fever" in alerts.rules.iloc[0]


def _history(frame: pd.DataFrame) -> set[tuple[Any, ...]]:
    coded = frame[frame.item != "other"]
    return {(r.item, r.version, r.change, None if pd.isna(r.old_code) else r.old_code,
             None if pd.isna(r.new_code) else r.new_code) for r in coded.itertuples()}


@pytest.mark.parametrize("deidentified", ["0", "1"])
def test_answer_history_holds_every_change_with_keys_to_patients_and_responses(
        client, login, edge, tmp_path, deidentified) -> None:
    folder = package(client, login, edge, tmp_path, deidentified=deidentified)
    history = typed_csv(folder / "answer_history.csv")
    assert len(set(history.patient)) == 1 and _history(history) == HISTORY
    assert set(history.changed_by) == {"patient"} and set(history.timepoint) == {"S1"}
    assert set(history.days_since_first_session) == {40}  # changed today, 40 days after the first session
    labels = history.set_index(["item", "version"])
    assert labels.loc[("pain_worst", 2)].old_label != labels.loc[("pain_worst", 2)].new_label
    schema = next(r for r in json.loads((folder / "datapackage.json").read_text())["resources"]
                  if r["name"] == "answer_history")["schema"]
    assert schema["primaryKey"] == ["patient", "timepoint", "instrument", "item", "version"]
    assert {"fields": ["patient", "timepoint", "instrument"],
            "reference": {"resource": "scores", "fields": ["patient", "timepoint", "instrument"]}
            } in schema["foreignKeys"]
    if deidentified == "1":
        assert "other" not in set(history.item) and "changed_at" not in history.columns
        assert b"first draft" not in (folder / "answer_history.csv").read_bytes()
    else:
        assert list(history.patient.unique()) == ["001"]
        text = history[history.item == "other"].iloc[0]
        assert (text.change, text.old_text, text.new_text) == ("changed", "first draft", TEXTS[0])
        assert history.changed_at.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
        assert history.changed_local_date.str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    # A change pointing at a response that is not in scores.csv breaks its foreign key.
    rows = (folder / "answer_history.csv").read_bytes().split(b"\r\n")
    rows[1] = rows[1].replace(b'"S1"', b'"S9"', 1)
    (folder / "answer_history.csv").write_bytes(b"\r\n".join(rows))
    assert not Package(str(folder / "datapackage.json")).validate().valid


def test_answer_history_from_the_page_api_and_cli(app, client, login, edge, runner, tmp_path) -> None:
    from reports.exports.api_tokens import create_token

    _, token = create_token(db.session, edge.coordinator, "analysis", [edge.study])
    db.session.commit()
    api = app.test_client().get("/api/studies/EDGE/exports/answer_history",
                                headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and len(pd.read_csv(io.BytesIO(api.data))) == len(HISTORY) + 1
    login(edge.coordinator)
    page = client.get("/studies/EDGE/exports")
    assert b"/exports/answer_history" in page.data and b'value="answer_history"' in page.data
    csv = client.get("/studies/EDGE/exports/answer_history", query_string={"deidentified": "1"})
    assert csv.status_code == 200 and len(pd.read_csv(io.BytesIO(csv.data))) == len(HISTORY)
    workbook = client.get("/studies/EDGE/exports/xlsx", query_string={"table": "answer_history"})
    (tmp_path / "history.xlsx").write_bytes(workbook.data)
    assert len(xlsx_rows(tmp_path / "history.xlsx")) == 1 + len(HISTORY) + 1  # header, coded, text
    out = tmp_path / "history.sav"
    result = runner.invoke(args=["export", "EDGE", "--format", "sav", "--table", "answer_history",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame, meta = pyreadstat.read_sav(str(out))
    assert len(frame) == len(HISTORY) + 1 and meta.variable_value_labels == {}  # string codes
    result = runner.invoke(args=["export", "EDGE", "--format", "answer_history", "--out", str(out)])
    assert result.exit_code == 0 and len(pd.read_csv(out)) == len(HISTORY) + 1


LIFECYCLE = {"state": "resolved", "contact_attempts": 2, "hours_to_first_contact": 0.13,
             "hours_to_resolution": 50.0, "outcome": "seen_in_clinic", "ctcae_grade": 3,
             "relatedness": "probable", "serious": 1, "reopened": 1}


@pytest.mark.parametrize("deidentified", ["0", "1"])
def test_alerts_carry_the_lifecycle_contact_resolution_grade_relatedness_and_seriousness(
        client, login, edge, tmp_path, deidentified) -> None:
    folder = package(client, login, edge, tmp_path, deidentified=deidentified)
    alert = typed_csv(folder / "alerts.csv").iloc[0]
    assert {name: alert[name] for name in LIFECYCLE} == LIFECYCLE
    for fmt, reader in (("sav", pyreadstat.read_sav), ("dta", pyreadstat.read_dta)):
        native, meta = reader(str(folder / f"alerts.{fmt}"))
        assert native.ctcae_grade.iloc[0] == 3 and native.outcome.iloc[0] == "seen_in_clinic"
        assert meta.variable_value_labels["ctcae_grade"][3] == "severe or medically significant"
        assert meta.variable_value_labels["serious"][1] == "yes"
    written = b"".join(path.read_bytes() for path in folder.iterdir() if path.is_file())
    assert CONTACT_NOTE.encode() not in written  # contact notes are never exported
    if deidentified == "1":
        assert RESOLUTION_NOTE.encode() not in written and b"first_contact_at" not in written
        assert not {"raised_at", "first_contact_at", "resolved_at", "resolution_note"} & set(alert.index)
    else:
        raised = edge.patients[3]  # the alert's patient, code 1000
        assert alert.patient == raised.code and alert.resolution_note == RESOLUTION_NOTE
        first = datetime.strptime(alert.first_contact_at, "%Y-%m-%dT%H:%M:%SZ")
        resolved = datetime.strptime(alert.resolved_at, "%Y-%m-%dT%H:%M:%SZ")
        assert resolved - first == timedelta(hours=50, seconds=-450)


def test_de_identified_sessions_and_alerts_hold_no_dates_or_free_text(client, login, edge, tmp_path) -> None:
    folder = package(client, login, edge, tmp_path, deidentified="1")
    assert not (folder / "prior_treatments.csv").exists()
    sessions = typed_csv(folder / "sessions.csv")
    assert list(sessions.columns) == ["patient", "session", "days_since_first_session", "formulation"]
    assert set(sessions.days_since_first_session) == {0, 30}
    alerts = typed_csv(folder / "alerts.csv")
    assert "raised_at" not in alerts.columns and "action_taken" not in alerts.columns


def _rscript(folder: Path, lang: str, script: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": lang, "LC_ALL": lang,
           "HOME": str(folder)}
    return subprocess.run(["Rscript", "--vanilla", "-e", script], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


R_REPORT = """
source("load.R")
out <- file("report.json", open = "w", encoding = "UTF-8")
texts <- long$text[!is.na(long$text)]
writeLines(c("{",
  sprintf('"rows": {"patients": %d, "long": %d, "wide": %d, "scores": %d, "sessions": %d, "alerts": %d, %s},',
          nrow(patients), nrow(long), nrow(wide), nrow(scores), nrow(sessions), nrow(alerts),
          sprintf('"answer_history": %d', nrow(answer_history))),
  sprintf('"codes": [%s],', paste0('"', sort(unique(long$patient)), '"', collapse = ", ")),
  sprintf('"classes": ["%s", "%s", "%s"],', class(long$patient), class(long$instrument_version),
          class(wide$who5_percent_score)),
  sprintf('"versions": ["%s"],', paste(unique(long$instrument_version), collapse = '", "')),
  sprintf('"alert": ["%s", "%s", "%s", "%s"],', alerts$outcome, as.character(alerts$ctcae_grade),
          as.character(alerts$serious), format(alerts$hours_to_first_contact)),
  sprintf('"longest": %d, "emoji": %s, "breaks": %s, "levels": "%s"', max(nchar(texts, type = "chars")),
          tolower(any(grepl("\\U0001F600", texts, fixed = TRUE))),
          tolower(any(grepl("\\n", texts, fixed = TRUE))),
          levels(wide$who5_who5_1)[1]),
  "}"), out)
close(out)
"""


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed (CI installs r-base-core)")
@pytest.mark.parametrize("lang", ["C.UTF-8", "C"])
def test_load_r_reads_every_row_and_string_codes_in_any_locale(client, login, edge, tmp_path, lang) -> None:
    folder = package(client, login, edge, tmp_path)
    result = _rscript(folder, lang, R_REPORT)
    assert result.returncode == 0, result.stderr
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    expected = {name: len(typed_csv(folder / f"{name}.csv")) for name in report["rows"]}
    assert report["rows"] == expected and expected["long"] > 40
    assert report["codes"] == sorted(CODES)
    assert report["classes"] == ["character", "character", "numeric"]
    assert set(report["versions"]) == stored_versions(edge)  # "2.0" stays "2.0", not 2
    assert report["longest"] == TEXT_MAX_LENGTH and report["emoji"] and report["breaks"]
    assert report["levels"] == "All of the time"
    assert report["alert"] == ["seen_in_clinic", "severe or medically significant", "yes", "0.13"]


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed (CI installs r-base-core)")
def test_load_r_stops_when_a_file_lost_rows(client, login, edge, tmp_path) -> None:
    folder = package(client, login, edge, tmp_path)
    lines = (folder / "scores.csv").read_bytes().split(b"\r\n")
    (folder / "scores.csv").write_bytes(b"\r\n".join([*lines[:-2], b""]))
    result = _rscript(folder, "C", 'source("load.R")')
    assert result.returncode != 0
    assert "scores.csv: read" in result.stderr and "the export wrote" in result.stderr


# --- native statistical files -----------------------------------------------------------------

def test_pyreadstat_reads_back_sav_and_dta_with_labels_and_full_strings(client, login, edge,
                                                                        tmp_path) -> None:
    folder = package(client, login, edge, tmp_path)
    for table in ("long", "wide", "scores", "patients", "sessions", "alerts", "answer_history"):
        expected = typed_csv(folder / f"{table}.csv")
        sav, _ = pyreadstat.read_sav(str(folder / f"{table}.sav"))
        dta, _ = pyreadstat.read_dta(str(folder / f"{table}.dta"))
        assert len(sav) == len(dta) == len(expected), table
        assert list(sav.columns) == list(expected.columns)
        assert all(len(name) <= 32 for name in dta.columns)
        assert list(sav.patient) == list(dta.patient) == list(expected.patient)
    long, meta = pyreadstat.read_sav(str(folder / "long.sav"))
    assert set(long[long["item"] == "other"].text) == set(TEXTS)
    label = meta.column_names_to_labels["instrument_version"]
    assert label.startswith("Version of the instrument definition answered")
    _, meta = pyreadstat.read_sav(str(folder / "wide.sav"))
    assert meta.variable_value_labels["who5_who5_1"][5.0] == "All of the time"
    dta, meta = pyreadstat.read_dta(str(folder / "long.dta"))
    assert set(dta[dta["item"] == "other"].text) == set(TEXTS)


def test_stata_names_are_at_most_32_characters_and_keep_the_full_name_in_the_label() -> None:
    from reports.exports.analysis_syntax import stata_names

    names = stata_names(["satisfaction_would_recommend_score", "satisfaction_would_recommend_band", "who5_1"])
    assert all(len(n) <= 32 for n in names) and len(set(names)) == 3 and names[2] == "who5_1"
    assert names[0].startswith("satisfaction_would_recommen_")


@pytest.mark.skipif(shutil.which("pspp") is None, reason="PSPP is not installed (CI installs pspp)")
def test_pspp_opens_every_sav_of_load_sps_with_its_labels(client, login, edge, tmp_path) -> None:
    folder = package(client, login, edge, tmp_path)
    syntax = (folder / "load.sps").read_text(encoding="utf-8") + "\n".join([
        "", "DATASET ACTIVATE long.", "DISPLAY DICTIONARY /VARIABLES=instrument_version text.",
        "SAVE TRANSLATE /OUTFILE='long_back.csv' /TYPE=CSV /FIELDNAMES /REPLACE.",
        "DATASET ACTIVATE wide.", "DISPLAY DICTIONARY /VARIABLES=who5_who5_1.",
        "DATASET ACTIVATE alerts.", "DISPLAY DICTIONARY /VARIABLES=ctcae_grade serious outcome.", "LIST.",
        "DATASET ACTIVATE patients.", "LIST.", ""])
    (folder / "check.sps").write_text(syntax, encoding="utf-8")
    result = subprocess.run(["pspp", "-O", "format=csv", "-o", "out.csv", "check.sps"], cwd=folder,
                            capture_output=True, text=True, timeout=120, check=False)
    output = (folder / "out.csv").read_text(encoding="utf-8", errors="replace")
    assert result.returncode == 0, result.stdout + result.stderr + output
    assert "error" not in output.lower(), output
    assert "Version of the instrument definition answered" in output.replace("\n", " ")
    assert "All of the time" in output
    assert "severe or medically significant" in output and "seen_in_clinic" in output
    for code in CODES:
        assert code in output  # the patients dataset survived the files read after it
    back = pd.read_csv(folder / "long_back.csv", dtype=str, keep_default_na=False)
    answers = {t.strip() for t in back[back["item"].str.strip() == "other"].text}
    assert answers == {t.strip() for t in TEXTS}


# --- spreadsheets -----------------------------------------------------------------------------

def test_xlsx_has_numbers_as_numbers_dates_as_dates_and_defused_text(client, login, edge, tmp_path) -> None:
    login(edge.coordinator)
    response = client.get("/studies/EDGE/exports/xlsx", query_string={"table": "long"})
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    path = tmp_path / "long.xlsx"
    path.write_bytes(response.data)
    rows = xlsx_rows(path)
    header, body = rows[0], rows[1:]
    column = {name: i for i, name in enumerate(header)}
    assert {r[column["patient"]] for r in body} == set(CODES)
    assert all(isinstance(r[column["code"]], int) for r in body if r[column["code"]] is not None)
    assert all(hasattr(r[column["answered_at"]], "year") for r in body)
    texts = {r[column["text"]] for r in body if r[column["text"]] is not None}
    assert "'=1+1" in texts and "'-3 jours" in texts and "'\uff1dSUM(A1)" in texts
    assert "first line\nsecond line" in texts and "x" * TEXT_MAX_LENGTH in texts
    sessions = client.get("/studies/EDGE/exports/xlsx", query_string={"table": "sessions"})
    (tmp_path / "sessions.xlsx").write_bytes(sessions.data)
    rows = xlsx_rows(tmp_path / "sessions.xlsx")
    assert rows[0][:3] == ("patient", "session", "date") and hasattr(rows[1][2], "year")


def test_french_excel_csv_opens_as_windows_excel_reads_a_double_clicked_file(client, login, edge) -> None:
    """What Excel on a French Windows does with a .csv opened by double click: UTF-8 only when the
    file starts with a byte-order mark (else the ANSI code page, Windows-1252, which has no emoji
    and turns "é" into "Ã©"); cells split on the locale's list separator ';'; a decimal comma;
    a `sep=` first line would make it ignore the mark, so there must be none. No spreadsheet
    program runs here (LibreOffice is not installed): the file is read by those rules."""
    import csv

    login(edge.coordinator)
    for table in ("long", "scores", "alerts", "answer_history"):
        data = client.get(f"/studies/EDGE/exports/{table}", query_string={"excel": "1", "lang": "fr"}).data
        assert data.startswith(b"\xef\xbb\xbf") and not data[3:].lower().startswith(b"sep="), table
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
        assert rows[0][0] == "patient", table
        assert len({len(r) for r in rows}) == 1, table  # ';' splits every row into the same cells
        if table == "long":
            texts = {r[rows[0].index("text")] for r in rows[1:]}
            assert "first line\nsecond line" in texts and "minoxidil; then finasteride" in texts
            assert "itchy \U0001F600 scalp" in texts and "'=1+1" in texts and "'\uff1dSUM(A1)" in texts
            with pytest.raises(UnicodeEncodeError):  # why not Windows-1252: the emoji has no code there
                "itchy \U0001F600 scalp".encode("cp1252")
        if table == "scores":
            column = rows[0].index("who5_percent_score")
            values = [r[column] for r in rows[1:] if r[column]]
            assert values and all(float(v.replace(",", ".")) >= 0 for v in values)
            assert any("," in v for v in values) and not any("." in v for v in values)  # 52,0 not 52.0


def test_native_formats_from_the_cli(runner, edge, tmp_path) -> None:
    for fmt, reader in (("sav", pyreadstat.read_sav), ("dta", pyreadstat.read_dta)):
        out = tmp_path / f"scores.{fmt}"
        result = runner.invoke(args=["export", "EDGE", "--format", fmt, "--table", "scores",
                                     "--out", str(out)])
        assert result.exit_code == 0, result.output
        frame, _ = reader(str(out))
        assert sorted(set(frame.patient)) == sorted(CODES)
    out = tmp_path / "wide.xlsx"
    result = runner.invoke(args=["export", "EDGE", "--format", "xlsx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(xlsx_rows(out)) == 13  # header + 4 patients x 3 timepoints


# --- FHIR -------------------------------------------------------------------------------------

def _fhir_schema(files: list[Path]) -> dict[str, Any]:
    node, script = shutil.which("node"), ROOT / "tests" / "fhir" / "validate.js"
    if node is None:
        pytest.skip("node is not installed")
    modules = ROOT / "tests" / "fhir" / "node_modules" / "@asymmetrik" / "fhir-json-schema-validator"
    if not modules.exists():  # like the axe-core scans: `make install-dev` (and CI) install it
        pytest.skip("the FHIR R4 schema is not installed: run `make install-dev` (npm ci --prefix "
                    "tests/fhir)")
    result = subprocess.run([node, str(script), *map(str, files)], capture_output=True, text=True,
                            timeout=120, check=False)
    summary = json.loads(result.stdout or "{}")
    assert result.returncode == 0, json.dumps(summary)[:3000] + result.stderr
    return summary


@pytest.mark.parametrize("deidentified", ["0", "1"])
def test_official_fhir_r4_schema_validates_the_bundle_and_the_ndjson(client, login, edge, tmp_path,
                                                                     deidentified) -> None:
    login(edge.coordinator)
    bundle = client.get("/studies/EDGE/exports/fhir", query_string={"deidentified": deidentified})
    (tmp_path / "bundle.json").write_bytes(bundle.data)
    bulk = client.get("/studies/EDGE/exports/fhir-ndjson", query_string={"deidentified": deidentified})
    assert bulk.status_code == 200 and bulk.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(bulk.data)) as archive:
        assert sorted(archive.namelist()) == ["Questionnaire.ndjson", "QuestionnaireResponse.ndjson"]
        archive.extractall(tmp_path)
    summary = _fhir_schema([tmp_path / "bundle.json", tmp_path / "Questionnaire.ndjson",
                            tmp_path / "QuestionnaireResponse.ndjson"])
    assert summary[str(tmp_path / "QuestionnaireResponse.ndjson")]["resources"] == 12
    lines = (tmp_path / "QuestionnaireResponse.ndjson").read_text(encoding="utf-8").splitlines()
    assert all(json.loads(line)["resourceType"] == "QuestionnaireResponse" for line in lines)
    entries = [e["resource"] for e in json.loads(bundle.data)["entry"]]
    assert len([e for e in entries if e["resourceType"] == "QuestionnaireResponse"]) == 12


def test_the_schema_check_can_fail(tmp_path) -> None:  # skipped with the schema check itself
    (tmp_path / "bad.ndjson").write_text('{"resourceType": "QuestionnaireResponse", "status": "nonsense"}\n')
    with pytest.raises(AssertionError):
        _fhir_schema([tmp_path / "bad.ndjson"])


def test_alert_rows_follow_the_response_filters(client, login, edge) -> None:
    login(edge.coordinator)
    assert db.session.query(Alert).count() == 1
    only_t0 = pd.read_csv(io.BytesIO(client.get("/studies/EDGE/exports/alerts",
                                                query_string={"timepoint": "T0"}).data))
    assert len(only_t0) == 0


# --- honest docs ------------------------------------------------------------------------------

def test_exports_md_names_exactly_the_columns_of_every_table(app, edge) -> None:
    import re

    from reports.exports.codebook import file_variables
    from reports.exports.options import ExportOptions
    from reports.exports.runs import export_context
    from surveys.infra.library import instruments

    documented: dict[str, set[str]] = {}
    for line in (ROOT / "docs" / "EXPORTS.md").read_text(encoding="utf-8").splitlines():
        found = re.match(r"- `(\w+\.csv)` \([^)]*\): (.*)", line)
        if found:
            documented[found[1]] = set(re.findall(r"`([^`]+)`", found[2]))
    exported: dict[str, set[str]] = {}
    prefixes = tuple(f"{i.id}_" for i in instruments().values())
    for deidentified in (False, True):
        options = ExportOptions(format="long", deidentified=deidentified)
        ctx = export_context(edge.study, options, instruments())
        for file, variables in file_variables(ctx).items():
            exported.setdefault(file, set()).update(
                v.name for v in variables if not v.name.startswith(prefixes))
    assert set(documented) == set(exported)
    for file, names in documented.items():
        literal = {n for n in names if "<" not in n and not n.startswith("_")}
        assert literal == exported[file], file


def test_codebook_says_when_an_item_is_asked_its_missing_codes_and_the_scoring_version(client, login,
                                                                                       edge) -> None:
    login(edge.coordinator)
    codebook = pd.read_csv(io.BytesIO(client.get("/studies/EDGE/exports/codebook").data), dtype=str,
                           keep_default_na=False)
    wide = codebook[codebook.file == "wide.csv"].set_index("variable")
    assert "Asked only if pirc_pain_present = 1" in wide.notes["pirc_pain_worst"]
    assert "Asked of everyone" in wide.notes["pirc_pain_present"]
    assert "-98 (SPSS user-missing)" in wide.notes["who5_who5_1"]
    assert "Scoring version rses-2.0-s3" in wide.notes["rses_total_score"]


def test_a_wide_dta_whose_first_100_rows_never_asked_an_item_still_writes(tmp_path) -> None:
    """Red flags are rare: a follow-up item is 'not asked' for the first hundreds of rows, then
    answered. pyreadstat 1.3 types an object column by its first 100 values, took such a column for
    text and failed on the first answer ('float' object has no attribute 'encode')."""
    from reports.exports.codebook import Variable
    from reports.exports.native import NOT_ASKED, write_dta

    values = [NOT_ASKED] * 150 + [float("nan")] * 10 + [0.0, 1.0]
    frame = pd.DataFrame({"patient": [f"P{n}" for n in range(len(values))], "pirc_rf_fever_now": values})
    variables = [Variable("patient", "Patient", "string"),
                 Variable("pirc_rf_fever_now", "Fever now?", "integer", ((0, "no"), (1, "yes")))]
    write_dta(frame, variables, tmp_path / "wide.dta", "EDGE wide", not_asked=["pirc_rf_fever_now"])
    back, meta = pyreadstat.read_dta(str(tmp_path / "wide.dta"), user_missing=True)
    assert list(back.pirc_rf_fever_now[-2:]) == [0.0, 1.0]
    assert (back.pirc_rf_fever_now[:150] == "a").all() and back.pirc_rf_fever_now[150:160].isna().all()
    assert meta.variable_value_labels["pirc_rf_fever_now"]["a"].startswith("not asked")
    assert meta.readstat_variable_types["pirc_rf_fever_now"] == "double"


def test_items_not_asked_are_declared_missing_in_sav_and_dta(client, login, edge, tmp_path) -> None:
    login(edge.coordinator)
    for fmt, reader, not_asked in (("sav", pyreadstat.read_sav, -98.0), ("dta", pyreadstat.read_dta, "a")):
        path = tmp_path / f"wide.{fmt}"
        path.write_bytes(client.get(f"/studies/EDGE/exports/{fmt}", query_string={"table": "wide"}).data)
        declared, meta = reader(str(path), user_missing=True)
        with_pirc = declared[declared.timepoint.isin(["S1", "S2"])]
        # redness was answered "no": its follow-up items were not asked, and say so
        assert set(with_pirc.pirc_redness_worst) == {not_asked}
        assert meta.variable_value_labels["pirc_redness_worst"][not_asked].startswith("not asked")
        assert not declared[declared.timepoint == "T0"].pirc_redness_worst.notna().any()  # no pirc at T0
        plain, _ = reader(str(path))  # without user-missing values: plain missing
        assert plain[plain.timepoint.isin(["S1", "S2"])].pirc_redness_worst.isna().all()
        assert set(with_pirc.pirc_pain_worst) == {2}  # asked and answered: the answer


def test_answer_history_names_who_changed_an_answer_by_role_never_by_name() -> None:
    from reports.exports.answer_history import changed_by

    assert changed_by("own_device", None) == changed_by("tablet_in_clinic", "coordinator") == "patient"
    assert changed_by("staff_interview", "clinician") == "clinician"
    assert changed_by("paper_entry", "coordinator") == "coordinator"
    assert changed_by("paper_entry", None) == "staff"  # the account no longer exists
