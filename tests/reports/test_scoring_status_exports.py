"""The scoring status of a response (complete, prorated, incomplete) travels with it into every
export: scores.csv and wide.csv had it; long.csv carries it as a column, FHIR as an extension."""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import pytest

from reports.exports.fhir import SCORING_STATUS_EXTENSION, SCORING_STATUS_SYSTEM
from surveys.domain.responses import save_answers, start_response, submit_response
from surveys.infra.db import db
from surveys.infra.library import instruments
from tests.reports.test_exports_clients import _fhir_schema
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

RSES_ONE_MISSING = {f"rses_{i}": 2 for i in range(1, 10)}  # rses_10 unanswered: prorated
WHO5_ALL = {f"who5_{i}": 3 for i in range(1, 6)}
HAIR_PART = {"thinning": 4}  # item by item: answered items scored, status incomplete

EXPECTED = {"rses": "prorated", "who5": "complete", "hair_status": "incomplete"}


@pytest.fixture
def study_code(make_patient, make_user, login) -> str:
    patient = make_patient()
    for iid, answers in (("rses", RSES_ONE_MISSING), ("who5", WHO5_ALL), ("hair_status", HAIR_PART)):
        inst = instruments()[iid]
        response = start_response(db.session, patient, "T0", inst, "en")
        save_answers(db.session, response, inst, answers)
        submit_response(db.session, response, inst)
        assert response.score_status == EXPECTED[iid]
    login(make_user("coordinator", (patient.study,)))
    db.session.commit()
    return patient.study.code


@pytest.mark.parametrize("deidentified", ["0", "1"])
def test_long_csv_says_each_answer_s_scoring_status(client, study_code, deidentified) -> None:
    query = {"deidentified": deidentified}
    long = pd.read_csv(io.BytesIO(client.get(f"/studies/{study_code}/exports/long", query_string=query).data),
                       keep_default_na=False)
    columns = list(long.columns)
    assert columns.index("status") == columns.index("window_extended") + 1
    assert long.groupby("instrument")["status"].agg(set).to_dict() == {k: {v} for k, v in EXPECTED.items()}
    scores = pd.read_csv(io.BytesIO(client.get(f"/studies/{study_code}/exports/scores",
                                               query_string=query).data), keep_default_na=False)
    assert dict(zip(scores.instrument, scores.status, strict=True)) == EXPECTED
    book = pd.read_csv(io.BytesIO(client.get(f"/studies/{study_code}/exports/codebook",
                                             query_string=query).data), keep_default_na=False)
    status = book[(book.file == "long.csv") & (book.variable == "status")].iloc[0]
    assert status.type == "string" and "prorated=" in status.codes and "missing-item rule" in status.label


def test_the_datapackage_long_table_carries_the_status(client, study_code) -> None:
    package = client.get(f"/studies/{study_code}/exports/datapackage")
    with zipfile.ZipFile(io.BytesIO(package.data)) as archive:
        schema = json.loads(archive.read("datapackage.json"))
        long = pd.read_csv(io.BytesIO(archive.read("long.csv")), keep_default_na=False)
    fields = next(r for r in schema["resources"] if r["name"] == "long")["schema"]["fields"]
    status = next(f for f in fields if f["name"] == "status")
    assert status["constraints"]["enum"] == ["complete", "prorated", "incomplete"]
    assert set(long[long.instrument == "rses"].status) == {"prorated"}


@pytest.mark.parametrize("deidentified", ["0", "1"])
def test_fhir_responses_carry_the_scoring_status_and_pass_the_r4_schema(client, study_code, tmp_path,
                                                                       deidentified) -> None:
    bundle = client.get(f"/studies/{study_code}/exports/fhir", query_string={"deidentified": deidentified})
    responses = [e["resource"] for e in json.loads(bundle.data)["entry"]
                 if e["resource"]["resourceType"] == "QuestionnaireResponse"]
    found = {}
    for resource in responses:
        (coding,) = [x["valueCoding"] for x in resource["extension"] if x["url"] == SCORING_STATUS_EXTENSION]
        assert coding["system"] == SCORING_STATUS_SYSTEM
        found[resource["questionnaire"].split(":")[-1].split("|")[0]] = coding["code"]
    assert found == EXPECTED
    (tmp_path / "bundle.json").write_bytes(bundle.data)
    bulk = client.get(f"/studies/{study_code}/exports/fhir-ndjson",
                      query_string={"deidentified": deidentified})
    with zipfile.ZipFile(io.BytesIO(bulk.data)) as archive:
        archive.extractall(tmp_path)
        lines = archive.read("QuestionnaireResponse.ndjson").decode().splitlines()
    assert all(SCORING_STATUS_EXTENSION in line for line in lines)
    summary = _fhir_schema([tmp_path / "bundle.json", tmp_path / "QuestionnaireResponse.ndjson"])
    assert summary[str(tmp_path / "QuestionnaireResponse.ndjson")]["resources"] == 3
