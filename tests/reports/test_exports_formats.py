"""The standard formats: a Frictionless Data Package with R/Stata/SPSS syntax, and a FHIR R4 Bundle."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from fhir.resources.R4B.bundle import Bundle
from frictionless import Package
from sqlalchemy import select

from surveys.domain.models import AuditEvent, Patient, Response
from surveys.infra.db import db
from tests.reports.test_exports import build_cohort, download, read_csv

TABLES = ("patients", "long", "wide", "scores", "answer_history", "sessions", "prior_treatments", "alerts",
          "clinician_stages")
FILES = ({"datapackage.json", "codebook.csv", "codebook.json", "load.R", "load.do", "load.sps"}
         | {f"{t}.{ext}" for t in TABLES for ext in ("csv", "sav", "dta")})


@pytest.fixture
def cohort(make_study, make_patient, make_user):
    return build_cohort(make_study, make_patient, make_user)


def unpack(data: bytes, into: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        assert names == FILES or names == {n for n in FILES if not n.startswith("prior_treatments")}
        archive.extractall(into)
    return into


@pytest.mark.parametrize("deidentified", ["0", "1"])
def test_data_package_validates_with_frictionless(client, login, cohort, tmp_path, deidentified) -> None:
    login(cohort.users.coordinator)
    response = client.get("/studies/EXPA/exports/datapackage", query_string={"deidentified": deidentified})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    folder = unpack(response.data, tmp_path)
    report = Package(str(folder / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    descriptor = json.loads((folder / "datapackage.json").read_text())
    expected = [f"{t}.csv" for t in TABLES if deidentified == "0" or t != "prior_treatments"]
    assert [r["path"] for r in descriptor["resources"]] == expected
    for resource in descriptor["resources"]:
        header = list(pd.read_csv(folder / resource["path"], nrows=0).columns)
        assert header == [f["name"] for f in resource["schema"]["fields"]]
    event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()))
    assert event.details["format"] == "datapackage" and event.details["files"]["long.csv"] > 0


def test_data_package_schema_catches_a_code_outside_the_instrument(client, login, cohort, tmp_path) -> None:
    login(cohort.users.coordinator)
    folder = unpack(client.get("/studies/EXPA/exports/datapackage").data, tmp_path)
    wide = (folder / "wide.csv").read_text().replace(",-3,", ",-9,", 1)
    (folder / "wide.csv").write_text(wide)
    assert not Package(str(folder / "datapackage.json")).validate().valid


def test_data_package_csvs_equal_the_single_exports(client, login, cohort, tmp_path) -> None:
    login(cohort.users.coordinator)
    folder = unpack(client.get("/studies/EXPA/exports/datapackage", query_string={"values": "labels"}).data,
                    tmp_path)
    for name in ("long", "scores"):
        assert (folder / f"{name}.csv").read_bytes() == download(client, "EXPA", name).data
    wide = read_csv((folder / "wide.csv").read_bytes())
    assert wide.who5_who5_1.dtype.kind in "if"  # the package always carries codes; syntax adds labels


def test_syntax_files_label_values_from_the_codebook(client, login, cohort, tmp_path) -> None:
    login(cohort.users.coordinator)
    folder = unpack(client.get("/studies/EXPA/exports/datapackage").data, tmp_path)
    r_code = (folder / "load.R").read_text()
    assert 'wide <- read_export("wide.csv", 4L, c("patient" = "character"' in r_code
    assert 'wide[["who5_who5_1"]] <- factor(wide[["who5_who5_1"]], levels = c(5, 4, 3, 2, 1, 0)' in r_code
    assert '"All of the time"' in r_code
    stata = (folder / "load.do").read_text()
    assert 'import delimited using "wide.csv"' in stata and "label values who5_who5_1 lbl" in stata
    assert '-3 "Greatly decreased"' in stata and 'save "wide.dta", replace' in stata
    assert "capture" not in stata and "assert _N == 4" in stata
    spss = (folder / "load.sps").read_text()
    assert "GET FILE='wide.sav'." in spss and "DATASET COPY wide." in spss


def test_fhir_bundle_validates_against_r4_and_references_its_questionnaires(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    response = client.get("/studies/EXPA/exports/fhir")
    assert response.status_code == 200 and response.mimetype == "application/fhir+json"
    document = json.loads(response.data)
    bundle = Bundle.model_validate(document)
    assert bundle.type == "collection"
    resources = [e["resource"] for e in document["entry"]]
    questionnaires = {f"{r['url']}|{r['version']}" for r in resources if r["resourceType"] == "Questionnaire"}
    answers = [r for r in resources if r["resourceType"] == "QuestionnaireResponse"]
    submitted = db.session.scalars(select(Response).join(Patient).where(
        Patient.study_id == cohort.a.id, Response.status == "submitted")).all()
    assert len(answers) == len(submitted) == 5
    assert {r["questionnaire"] for r in answers} <= questionnaires
    who5 = next(r for r in answers if r["questionnaire"].startswith("urn:instrument:who5")
                and r["subject"]["identifier"]["value"] == "A-001")
    assert who5["item"][0]["answer"][0]["valueCoding"]["code"] == "5"
    assert "authored" in who5


def test_de_identified_fhir_bundle_still_validates(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    document = json.loads(client.get("/studies/EXPA/exports/fhir", query_string={"deidentified": "1"}).data)
    Bundle.model_validate(document)
    answers = [e["resource"] for e in document["entry"]
               if e["resource"]["resourceType"] == "QuestionnaireResponse"]
    assert all("authored" not in r for r in answers)
    assert any(r.get("extension") for r in answers)
    pirc = next(r for r in answers if "pirc" in r["questionnaire"])
    assert "other" not in {i["linkId"] for i in pirc["item"]}


def test_every_export_format_names_its_charset_once_on_the_web_and_the_api(client, login, cohort) -> None:
    from reports.exports.api_tokens import create_token
    from reports.exports.options import FORMATS

    login(cohort.users.coordinator)
    _token, secret = create_token(db.session, cohort.users.coordinator, "types", [cohort.a])
    db.session.commit()
    for fmt in (f for f in FORMATS if f != "prior_treatments"):  # free text: never de-identified
        web = client.get(f"/studies/EXPA/exports/{fmt}", query_string={"deidentified": "1"})
        api = client.get(f"/api/studies/EXPA/exports/{fmt}", query_string={"deidentified": "1"},
                         headers={"Authorization": f"Bearer {secret}"})
        for response in (web, api):
            assert response.status_code == 200, fmt
            content_type = response.headers["Content-Type"]
            assert content_type.count("charset") <= 1, (fmt, content_type)
            if response.mimetype.startswith("text/"):
                assert content_type == f"{response.mimetype}; charset=utf-8", (fmt, content_type)
