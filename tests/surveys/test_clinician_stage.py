"""The clinician's own hair-loss stage (issue 14): recorded per patient and timepoint on the patient's
page, audited, shown beside the self-rated stage, and exported (clinician_stages.csv, codebook)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from surveys.domain.models import AuditEvent, ClinicianStage
from surveys.infra.db import db
from tests.reports.test_exports import answer, read_csv
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def clinician(client: Any, login: Any, make_user: Any, make_study: Any) -> Any:
    study = make_study("STAGE")
    user = make_user("clinician", (study,))
    login(user)
    user.study = study
    db.session.commit()
    return user


def stages(patient_id: int) -> list[tuple[str, str, int]]:
    db.session.expire_all()
    query = select(ClinicianStage).where(ClinicianStage.patient_id == patient_id).order_by("timepoint")
    return [(s.timepoint, s.scale, s.code) for s in db.session.scalars(query)]


def test_a_clinician_records_their_stage_beside_the_self_rated_one(client, clinician, make_patient) -> None:
    patient = make_patient(clinician.study, "S-1", enrolled_days_ago=20, sessions_days_ago=(10,))
    answer(patient, "T0", "hair_stage", {"pattern": 1, "norwood": 4})  # the patient says III
    db.session.commit()
    base = f"/studies/{clinician.study.code}/patients/S-1"
    page = client.get(f"{base}/manage").get_data(as_text=True)
    assert "Record the clinician's stage" in page and "Norwood-Hamilton: Stage III" in page
    response = client.post(f"{base}/stage", data={"timepoint": "T0", "stage": "norwood:6"})
    assert response.status_code == 302
    assert stages(patient.id) == [("T0", "norwood", 6)]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "clinician_stage.record"))
    assert event.details["new"] == {"scale": "norwood", "code": 6, "version": "2.0"}
    assert event.details["old"] is None
    page = client.get(f"{base}/manage").get_data(as_text=True)
    row = page[page.index("<td>Before treatment</td>"):].split("</tr>", 1)[0]
    assert "Stage III –" in row and "Stage III vertex" in row  # self-rated beside the clinician's
    assert row.count("(major stage III)") == 2  # hair_stage 2.0's derivation: III vertex is a III
    # again at the same timepoint: replaced, the trail keeps both
    assert client.post(f"{base}/stage", data={"timepoint": "T0", "stage": "sinclair:2"}).status_code == 302
    assert stages(patient.id) == [("T0", "sinclair", 2)]
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "clinician_stage.record")).all()
    assert len(events) == 2 and events[1].details["old"]["code"] == 6


@pytest.mark.parametrize(("data", "message"), [
    ({"timepoint": "T0", "stage": "norwood:99"}, "Not a valid choice"),  # a patient's "not sure"
    ({"timepoint": "T0", "stage": ""}, "Choose a stage"),
    ({"timepoint": "M12", "stage": "norwood:2"}, "Not a valid choice"),  # not open yet
    ({"timepoint": "X9", "stage": "norwood:2"}, "Not a valid choice"),
])
def test_a_bad_stage_or_timepoint_is_refused_with_nothing_stored(client, clinician, make_patient, data,
                                                                 message) -> None:
    patient = make_patient(clinician.study, "S-2", enrolled_days_ago=20, sessions_days_ago=(10,))
    db.session.commit()
    response = client.post(f"/studies/{clinician.study.code}/patients/S-2/stage", data=data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert stages(patient.id) == []


def test_the_stage_page_speaks_french(client, clinician, make_patient) -> None:
    make_patient(clinician.study, "S-3", enrolled_days_ago=20)
    db.session.commit()
    page = client.get(f"/studies/{clinician.study.code}/patients/S-3/manage",
                      headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Stade de perte de cheveux" in page and "Enregistrer le stade" in page


def test_the_export_carries_the_clinicians_stages_with_their_codebook(client, login, make_study, make_patient,
                                                                      make_user) -> None:
    study = make_study("STEXP")
    patient = make_patient(study, "E-1", enrolled_days_ago=20, sessions_days_ago=(10,))
    other = make_patient(study, "E-2", enrolled_days_ago=20, sessions_days_ago=(10,))
    from surveys.domain.clinician_stage import record_clinician_stage
    from surveys.infra.library import instruments

    record_clinician_stage(db.session, patient, instruments()["hair_stage"], timepoint="T0", key="norwood:7",
                           actor="test")
    record_clinician_stage(db.session, other, instruments()["hair_stage"], timepoint="T0", key="sinclair:3",
                           actor="test")
    coordinator = make_user("coordinator", (study,))
    db.session.commit()
    login(coordinator)
    table = read_csv(client.get(f"/studies/{study.code}/exports/clinician_stages").data)
    assert list(table.columns) == ["patient", "timepoint", "scale", "norwood", "norwood_major", "sinclair",
                                   "instrument_version", "recorded_at"]
    rows = table.drop(columns="recorded_at").astype(object).where(table.notna(), None).values.tolist()
    assert rows == [["E-1", "T0", "norwood", 7, 4, None, "2.0"],
                    ["E-2", "T0", "sinclair", None, None, 3, "2.0"]]
    codebook = read_csv(client.get(f"/studies/{study.code}/exports/codebook").data)
    stage_rows = codebook[codebook.file == "clinician_stages.csv"].set_index("variable")
    norwood, major = stage_rows.loc["norwood"], stage_rows.loc["norwood_major"]
    assert "7=Stage IV" in norwood.codes and "not sure" not in norwood.codes
    assert major.codes.startswith("1=I | 2=II | 3=III")
    deidentified = read_csv(client.get(f"/studies/{study.code}/exports/clinician_stages",
                                       query_string={"deidentified": "1"}).data)
    assert "recorded_at" not in deidentified.columns and "E-1" not in set(deidentified.patient)
