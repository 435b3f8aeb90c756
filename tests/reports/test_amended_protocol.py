"""Answers given under an earlier protocol version read correctly everywhere after an amendment that
removed their timepoint or instrument: every page opens, every export names the version answered."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from fhir.resources.R4B.bundle import Bundle
from frictionless import Package

from surveys.domain.amendments import apply_amendment
from surveys.domain.protocol_history import protocol_versions
from surveys.infra.db import db
from surveys.infra.library import instruments
from tests.reports.test_exports import answer, build_cohort, download, read_csv
from tests.surveys.staff_world import alert_of

W8 = {"id": "W8", "label": {"en": "Week 8", "fr": "Semaine 8"}, "anchor": "first_session",
      "opens": {"days": 49}, "due": {"days": 56}, "overdue": {"days": 63}, "closes": {"days": 77},
      "instruments": ["hair_status"]}


def amend(study: Any, version: str = "2.1") -> dict[str, Any]:
    """Amend the study's protocol (W12 and RF6 removed, W8 added, hair_change asked nowhere) with the
    amendment service."""
    data = copy.deepcopy(study.protocol)
    data["version"] = version
    kept = []
    for tp in data["timepoints"]:
        if tp["id"] in ("W12", "RF6"):
            continue
        tp["instruments"] = [e for e in tp["instruments"] if e != "hair_change"]
        kept.append(tp)
        if tp["id"] == "S":
            kept.append(copy.deepcopy(W8))
    data["timepoints"] = kept
    apply_amendment(db.session, study, data, instruments(), reason="W8 replaces W12", actor="test")
    assert study.protocol_version == version
    return data


@pytest.fixture
def amended(make_study, make_patient, make_user) -> SimpleNamespace:
    """The export cohort (answers under 2.0, one at W12 of hair_change), a red flag answered at RF6, then
    amendment 2.1 (no W12, RF6 nor hair_change) and a W8 answer under it."""
    cohort = build_cohort(make_study, make_patient, make_user)
    cohort.rf6 = answer(cohort.p1, "RF6", "pirc", {"rf_fever": 1})
    cohort.alert = alert_of(cohort.rf6)
    answer(cohort.p1, "W12", "hair_status", {"thinning": 6, "hair_bother": 5, "shedding_amount": 3})
    amend(cohort.a)
    cohort.w8 = answer(cohort.p1, "W8", "hair_status",
                       {"thinning": 5, "hair_bother": 4, "shedding_amount": 2})
    db.session.commit()
    return cohort


def test_the_history_keeps_removed_timepoints_in_a_sensible_order(amended) -> None:
    history = protocol_versions(db.session, amended.a)
    assert list(history.versions) == ["2.0", "2.1"] and history.current.version == "2.1"
    order = [tp.id for tp in history.timepoints()]
    assert order.index("S") < order.index("W8") < order.index("W12") < order.index("EOT")
    assert order.index("EOT") < order.index("RF6") < order.index("RF12")
    assert [tp.id for tp in history.removed()] == ["W12", "RF6"]
    assert history.label("W12", "fr", "2.0") == "Semaine 12"
    assert history.label("S3", "en", "2.1") == "After session 3"
    assert history.label("X9", "en") == "X9"
    assert "hair_change" in history.instrument_ids()


def test_long_scores_and_wide_name_the_protocol_version_of_each_response(client, login, amended) -> None:
    login(amended.users.coordinator)
    long = read_csv(download(client, "EXPA", "long").data, dtype={"protocol_version": str})
    versions = long.groupby(["timepoint", "instrument"]).protocol_version.unique().to_dict()
    assert list(versions[("W12", "hair_change")]) == ["2.0"]
    assert list(versions[("T0", "who5")]) == ["2.0"] and list(versions[("W8", "hair_status")]) == ["2.1"]
    scores = read_csv(download(client, "EXPA", "scores").data, dtype={"protocol_version": str})
    assert set(scores[scores.timepoint == "W12"].protocol_version) == {"2.0"}
    assert set(scores[scores.timepoint == "W8"].protocol_version) == {"2.1"}
    wide = read_csv(download(client, "EXPA", "wide").data,
                    dtype={"hair_change_protocol_version": str, "hair_status_protocol_version": str})
    w12 = wide[wide.timepoint == "W12"].iloc[0]
    assert w12.hair_change_protocol_version == "2.0" and w12.hair_change_amount == -3
    assert wide[wide.timepoint == "W8"].iloc[0].hair_status_protocol_version == "2.1"
    deidentified = read_csv(download(client, "EXPA", "long", deidentified="1").data,
                            dtype={"protocol_version": str})
    assert set(deidentified.protocol_version) == {"2.0", "2.1"}


def test_a_removed_timepoint_is_still_a_filter_and_a_codebook_code(client, login, amended) -> None:
    login(amended.users.coordinator)
    only = download(client, "EXPA", "long", timepoint="W12")
    assert only.status_code == 200
    assert set(read_csv(only.data).timepoint) == {"W12"}
    codebook = read_csv(download(client, "EXPA", "codebook").data)
    timepoint = codebook[(codebook.file == "long.csv") & (codebook.variable == "timepoint")]
    assert timepoint.notes.str.contains("W12").any() or timepoint.codes.str.contains("W12").any()
    row = codebook[(codebook.file == "long.csv") & (codebook.variable == "protocol_version")]
    assert len(row) == 1 and "2.0" in row.iloc[0].codes and "2.1" in row.iloc[0].codes
    assert "protocol_version" in set(codebook[codebook.file == "scores.csv"].variable)
    assert "hair_change_protocol_version" in set(codebook[codebook.file == "wide.csv"].variable)
    assert "W12" in client.get("/studies/EXPA/exports").get_data(as_text=True)


@pytest.mark.parametrize("deidentified", ["0", "1"])
def test_the_data_package_validates_after_the_amendment(client, login, amended, tmp_path,
                                                        deidentified) -> None:
    login(amended.users.coordinator)
    response = client.get("/studies/EXPA/exports/datapackage", query_string={"deidentified": deidentified})
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        archive.extractall(tmp_path)
    report = Package(str(tmp_path / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    long, _meta = pyreadstat.read_sav(str(tmp_path / "long.sav"))
    assert set(long.protocol_version) == {"2.0", "2.1"}
    scores, _meta = pyreadstat.read_dta(str(tmp_path / "scores.dta"))
    assert set(scores.protocol_version) == {"2.0", "2.1"}
    r_code = (tmp_path / "load.R").read_text()
    assert '"protocol_version" = "character"' in r_code
    alerts = pd.read_csv(tmp_path / "alerts.csv", dtype={"protocol_version": str})
    assert alerts.set_index("timepoint").protocol_version.to_dict() == {"RF6": "2.0"}  # raised under 2.0


def test_fhir_responses_carry_their_protocol_version(client, login, amended) -> None:
    from reports.exports.fhir import PROTOCOL_VERSION_EXTENSION

    login(amended.users.coordinator)
    document = json.loads(client.get("/studies/EXPA/exports/fhir").data)
    Bundle.model_validate(document)
    answers = [e["resource"] for e in document["entry"]
               if e["resource"]["resourceType"] == "QuestionnaireResponse"]
    versions = {r["questionnaire"].split("|")[0]: {x["valueString"] for x in r["extension"]
                                                    if x["url"] == PROTOCOL_VERSION_EXTENSION}
                for r in answers}
    assert versions["urn:instrument:hair_change"] == {"2.0"}
    assert versions["urn:instrument:hair_status"] == {"2.1"}
    assert all(any(x["url"] == PROTOCOL_VERSION_EXTENSION for x in r["extension"]) for r in answers)


def test_the_access_archive_names_the_protocol_versions(client, login, make_user, amended) -> None:
    admin = make_user("admin", (amended.a,))
    db.session.commit()
    login(admin)
    response = client.get("/studies/EXPA/patients/A-001/access.zip")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        names = archive.namelist()
        answers = next(n for n in names if n.endswith(".csv") and "answer" in n)
        frame = pd.read_csv(io.BytesIO(archive.read(answers)), dtype=str, keep_default_na=False)
        summary = next(archive.read(n).decode() for n in names if n.endswith(".html"))
    assert set(frame.protocol_version) == {"2.0", "2.1"}
    assert "Week 12" in summary


def test_every_page_opens_after_a_timepoint_with_answers_was_removed(client, login, make_user,
                                                                     amended) -> None:
    admin = make_user("admin", (amended.a,))
    db.session.commit()
    login(admin)
    for url in ("/studies/EXPA/dashboard", "/studies/EXPA/dashboard.json", "/studies/EXPA/patients/A-001",
                "/studies/EXPA/patients/A-001/manage", "/studies/EXPA/patients", "/studies/EXPA/worklist",
                "/studies/EXPA/timeline", "/studies/EXPA/alerts", "/studies/EXPA/alerts?show=all",
                "/studies/EXPA/patients/A-001/paper", "/studies/EXPA/patients/A-001/interview",
                "/studies/EXPA/exports"):
        page = client.get(url)
        assert page.status_code == 200, url
    manage = client.get("/studies/EXPA/patients/A-001/manage").get_data(as_text=True)
    assert "Week 12" in manage
    record = client.get("/studies/EXPA/patients/A-001").get_data(as_text=True)
    assert "Week 12" in record
    alerts = client.get("/studies/EXPA/alerts?show=all").get_data(as_text=True)
    assert "6 weeks after the last session" in alerts
    for fmt in ("long", "wide", "scores", "answer_history", "codebook", "datapackage", "fhir", "fhir-ndjson",
                "sav", "dta", "xlsx"):
        assert download(client, "EXPA", fmt).status_code == 200, fmt
        assert download(client, "EXPA", fmt, deidentified="1").status_code == 200, fmt


def test_the_patients_own_pages_open_after_the_amendment(client, amended) -> None:
    amended.a.show_scores_to_patients = True
    db.session.commit()
    token = amended.p1.token
    assert client.get(f"/p/{token}").status_code == 200
    scores = client.get(f"/p/{token}/scores")
    assert scores.status_code == 200
    html = scores.get_data(as_text=True)
    assert "Week 12" in html and "Week 8" in html and html.index("Week 8") < html.index("Week 12")
    removed = client.get(f"/p/{token}/q/W12")
    assert removed.status_code in (302, 303, 404)
    assert client.get(f"/p/{token}/q/W12/hair_change").status_code in (302, 303, 404)


def test_answers_keep_their_version_in_the_database_when_the_study_is_amended(amended) -> None:
    assert amended.rf6.protocol_version == "2.0" and amended.w8.protocol_version == "2.1"


def test_syntax_columns_match(client, login, amended, tmp_path: Path) -> None:
    login(amended.users.coordinator)
    with zipfile.ZipFile(io.BytesIO(client.get("/studies/EXPA/exports/datapackage").data)) as archive:
        archive.extractall(tmp_path)
    descriptor = json.loads((tmp_path / "datapackage.json").read_text())
    for resource in descriptor["resources"]:
        header = list(pd.read_csv(tmp_path / resource["path"], nrows=0).columns)
        assert header == [f["name"] for f in resource["schema"]["fields"]]


def test_the_dashboard_keeps_a_removed_timepoint_in_its_outcome_tables(client, login, make_study,
                                                                        make_patient, make_user) -> None:
    study = make_study("AMEND")
    patients = [make_patient(study, f"D-{n}", sessions_days_ago=(100,)) for n in range(6)]
    hair = {"thinning": 5, "hair_bother": 4, "shedding_amount": 2}
    for patient in patients:
        answer(patient, "T0", "hair_status", hair, submitted_days_ago=101)
        answer(patient, "W12", "hair_status", {**hair, "thinning": 3}, submitted_days_ago=10)
    amend(study)
    for patient in patients:
        answer(patient, "W8", "hair_status", {**hair, "thinning": 4})
    user = make_user("coordinator", (study,))
    db.session.commit()
    login(user)
    page = client.get("/studies/AMEND/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    table = html[html.index('id="alt-outcome-hair_status-thinning"'):]
    table = table[:table.index("</div>")]
    assert "Week 8" in table and "Week 12" in table and "Before treatment" in table
    assert table.index("Before treatment") < table.index("Week 8") < table.index("Week 12")
