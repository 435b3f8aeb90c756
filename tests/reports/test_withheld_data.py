"""Consent withdrawn, data not to be kept: from the withdrawal on, the patient's answers, scores, free
text and clinical facts are withheld from every analysis output (every export file and format, the
cohort dashboard) until an admin erases them; the patient's own access archive still holds them;
undoing the withdrawal makes them visible again."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from frictionless import Package
from sqlalchemy import select

from reports.dashboards.dashboard import load_frames
from reports.dashboards.frames import Filters
from reports.exports.options import NATIVE_FORMATS, TABLES
from surveys.domain.clinician_stage import record_clinician_stage
from surveys.domain.models import Patient
from surveys.domain.participation import awaiting_erasure
from surveys.infra.db import db
from tests.conftest import TEST_PASSWORD
from tests.reports.test_exports import read_csv
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing
from tests.surveys.test_patient_rights import OTHER_TEXT, SECRET_TEXT
from tests.surveys.test_patient_rights import world as world
from tests.today import local_today

pytestmark = pytest.mark.usefixtures("fast_password_hashing")
DISCARD = "consent_withdrawn_discard_data"


def _withdraw(client: Any, reason: str = DISCARD) -> Any:
    return client.post("/studies/RIGHTS/patients/S-1/withdraw",
                       data={"on": local_today().isoformat(), "reason": reason})


def _package(client: Any, folder: Path, deidentified: str) -> dict[str, pd.DataFrame]:
    """Every table of a data package export, validated against its own Table Schemas."""
    data = client.get("/studies/RIGHTS/exports/datapackage", query_string={"deidentified": deidentified}).data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(folder)
    report = Package(str(folder / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    return {path.name: read_csv(path.read_bytes(), dtype=str) for path in folder.glob("*.csv")
            if path.name != "codebook.csv"}


def _plain(data: bytes) -> bytes:
    """An export's bytes, its files joined when it is a zip (the FHIR NDJSON)."""
    if not data.startswith(b"PK"):
        return data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return b"".join(archive.read(name) for name in archive.namelist())


def _other_rows(tables: dict[str, pd.DataFrame]) -> dict[str, list[Any]]:
    return {name: frame[frame["patient"] == "O-1"].fillna("").values.tolist()
            for name, frame in tables.items()}


@pytest.fixture
def staged(world: Any, library: Any) -> Any:  # noqa: F811 (the imported fixture)
    """The world of test_patient_rights, with a clinician's stage of the subject too."""
    subject = world[1]
    record_clinician_stage(db.session, subject, library["hair_stage"], timepoint="T0", key="norwood:3",
                           actor="test")
    db.session.commit()
    return world


def test_consent_withdrawn_without_keeping_data_withholds_them_from_every_analysis_output(
    client, login, staged, tmp_path: Path
) -> None:
    study, subject, _other, admin = staged
    login(admin)
    before = _package(client, tmp_path / "before", "0")
    for name in ("long.csv", "scores.csv", "sessions.csv", "alerts.csv", "clinician_stages.csv"):
        assert (before[name]["patient"] == "S-1").any(), name
    frames_before = load_frames(db.session, study.id, Filters())

    response = _withdraw(client)
    assert response.status_code == 303  # an admin is led to the erasure form at once
    assert response.headers["Location"].endswith("/studies/RIGHTS/patients/S-1/erase")
    assert [p.code for p in awaiting_erasure(db.session, study)] == ["S-1"]
    exports_page = client.get("/studies/RIGHTS/exports").get_data(as_text=True)
    assert "1 patient withdrew consent without keeping the data" in exports_page

    after = _package(client, tmp_path / "after", "0")
    for name, frame in after.items():
        rows = frame[frame["patient"] == "S-1"]
        assert len(rows) == (1 if name == "patients.csv" else 0), name
    (row,) = after["patients.csv"][after["patients.csv"]["patient"] == "S-1"].to_dict("records")
    assert (row["participation"], row["participation_date"], row["withdrawal_reason"]) == (
        "withdrawn", local_today().isoformat(), DISCARD)
    for withheld in ("sex", "birth_year", "diagnosis", "consent_version", "consent_method"):
        assert pd.isna(row[withheld]), withheld
    assert row["prior_treatment_count"] == "0"
    assert _other_rows(after) == _other_rows(before)  # another patient's data untouched

    anonymous = _package(client, tmp_path / "deidentified", "1")
    patients = anonymous["patients.csv"]
    assert (patients["participation"] == "withdrawn").sum() == 1
    withdrawn = patients.loc[patients["participation"] == "withdrawn", "patient"].item()
    assert all((frame["patient"] != withdrawn).all()
               for name, frame in anonymous.items() if name != "patients.csv")

    everything = b""
    for fmt in (*TABLES, "fhir", "fhir-ndjson"):
        everything += _plain(client.get(f"/studies/RIGHTS/exports/{fmt}").data)
    assert b"S-1" in everything  # patients.csv names the withdrawn patient, nothing else does
    assert SECRET_TEXT.encode() not in everything and OTHER_TEXT.encode() in everything
    assert b"session note about the subject" not in everything and b"ketoconazole" not in everything
    for fhir in ("fhir", "fhir-ndjson"):
        data = _plain(client.get(f"/studies/RIGHTS/exports/{fhir}").data)
        assert b'"S-1"' not in data and b'"O-1"' in data
    for fmt in NATIVE_FORMATS:
        for table in ("long", "wide", "scores", "alerts", "sessions", "clinician_stages"):
            data = client.get(f"/studies/RIGHTS/exports/{fmt}", query_string={"table": table}).data
            path = tmp_path / f"{table}.{fmt}"
            path.write_bytes(data)
            frame = (pd.read_excel(path, dtype=str) if fmt == "xlsx"
                     else (pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta)(str(path))[0])
            assert "S-1" not in set(frame["patient"].astype(str)), (fmt, table)

    frames = load_frames(db.session, study.id, Filters())
    for name, frame in vars(frames).items():
        if "patient_id" in frame and name != "patients":
            assert subject.id not in set(frame["patient_id"]), name
    assert frames.grades["count"].sum() < frames_before.grades["count"].sum()
    (kept,) = frames.patients[frames.patients["patient_id"] == subject.id].to_dict("records")
    assert kept["status"] == "withdrawn" and pd.isna(kept["sex"]) and pd.isna(kept["birth_year"])
    assert len(load_frames(db.session, study.id, Filters(sex="female")).patients) == 0
    assert client.get("/studies/RIGHTS/dashboard").status_code == 200

    # The data subject still gets everything held about them until erasure.
    archive = zipfile.ZipFile(io.BytesIO(client.get("/studies/RIGHTS/patients/S-1/access.zip").data))
    answers = read_csv(archive.read("answers.csv"))
    assert len(answers) == 7 and set(answers["patient"]) == {"S-1"}
    assert SECRET_TEXT in archive.read("summary.html").decode()
    assert b'"S-1"' in archive.read("questionnaire_responses.fhir.json")

    # The list of patients awaiting erasure, then the erasure: a tombstone, off the list.
    listing = client.get("/studies/RIGHTS/patients").get_data(as_text=True)
    assert "Awaiting erasure" in listing and "/studies/RIGHTS/patients/S-1/erase" in listing
    form = client.get("/studies/RIGHTS/patients/S-1/erase").get_data(as_text=True)
    assert re.search(r'<option (selected value="consent_withdrawn"|value="consent_withdrawn" selected)', form)
    erased = client.post("/studies/RIGHTS/patients/S-1/erase", data={
        "reason": "consent_withdrawn", "confirm_code": "S-1", "password": TEST_PASSWORD})
    assert erased.status_code == 303
    db.session.expire_all()
    assert db.session.scalar(select(Patient.status).where(Patient.id == subject.id)) == "erased"
    assert awaiting_erasure(db.session, study) == []
    assert "Awaiting erasure" not in client.get("/studies/RIGHTS/patients").get_data(as_text=True)
    final = _package(client, tmp_path / "erased", "0")
    assert final["patients.csv"].set_index("patient").loc["S-1", "participation"] == "erased"
    assert _other_rows(final) == _other_rows(before)


def test_undoing_such_a_withdrawal_makes_the_data_visible_again(client, login, staged) -> None:
    study, subject, _other, admin = staged
    login(admin)
    _withdraw(client)
    assert b"S-1" not in client.get("/studies/RIGHTS/exports/long").data
    assert client.post("/studies/RIGHTS/patients/S-1/reinstate").status_code == 303
    long = read_csv(client.get("/studies/RIGHTS/exports/long").data)
    assert (long["patient"] == "S-1").sum() == 7
    assert awaiting_erasure(db.session, study) == []
    assert subject.id in set(load_frames(db.session, study.id, Filters()).scores["patient_id"])


def test_other_withdrawals_keep_the_data_in_the_analysis(client, login, staged) -> None:
    _study, _subject, _other, admin = staged
    login(admin)
    response = _withdraw(client, "consent_withdrawn_keep_data")
    assert response.headers["Location"].endswith("/studies/RIGHTS/patients/S-1/manage")
    assert (read_csv(client.get("/studies/RIGHTS/exports/long").data)["patient"] == "S-1").sum() == 7


def test_a_coordinator_recording_it_is_told_an_admin_must_erase(client, login, make_user, staged) -> None:
    study = staged[0]
    coordinator = make_user("coordinator", (study,))
    db.session.commit()
    login(coordinator)
    response = _withdraw(client)
    assert response.headers["Location"].endswith("/studies/RIGHTS/patients/S-1/manage")
    page = client.get("/studies/RIGHTS/patients/S-1/manage").get_data(as_text=True)
    assert "withheld from exports and dashboards" in page
    listing = client.get("/studies/RIGHTS/patients").get_data(as_text=True)
    assert "Awaiting erasure" in listing and "/erase" not in listing  # coordinators cannot erase


def test_the_withdraw_command_says_what_follows(runner, staged) -> None:
    result = runner.invoke(args=["patients", "withdraw", "RIGHTS", "S-1", "--on", local_today().isoformat(),
                                 "--reason", DISCARD])
    assert result.exit_code == 0, result.output
    assert "patients erase RIGHTS S-1 --yes" in result.output
