"""A Norwood-Hamilton or Sinclair stage is a category: no dashboard, patient view or export averages it.

The dashboards and patient views follow fixed lists of (instrument, score); none may name a
categorical score of any kept version. The exports write a stage as an integer code with its
labels and say it is never averaged; the staff record shows its label, not a number."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from instruments import categorical_scores
from reports.dashboards import dashboard, frames, patient_record
from surveys.domain.responses import save_answers, start_response, submit_response
from surveys.infra.db import db
from surveys.infra.library import instruments
from surveys.patient import views as patient_views
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


def test_no_averaged_list_names_a_categorical_score(library) -> None:
    categorical = {(inst.id, name) for inst in library.all_versions() for name in categorical_scores(inst)}
    assert ("hair_stage", "norwood") in categorical and ("hair_stage", "norwood_major") in categorical
    followed = {
        "frames.OUTCOMES": set(frames.OUTCOMES),
        "frames.RESPONDER_SCORES": set(frames.RESPONDER_SCORES),
        "dashboard.OUTCOME_LABELS": set(dashboard.OUTCOME_LABELS),
        "patient_record.Y_RANGES": set(patient_record.Y_RANGES),
        "patient views PATIENT_SCALES": {(i, s) for i, s, *_ in patient_views.PATIENT_SCALES},
        "patient views MARKED_WORSENING": set(patient_views.MARKED_WORSENING),
    }
    for where, keys in followed.items():
        assert not keys & categorical, where


def stage_response(patient, answers):
    inst = instruments()["hair_stage"]
    response = start_response(db.session, patient, "T0", inst, "en")
    save_answers(db.session, response, inst, answers)
    submit_response(db.session, response, inst)
    db.session.flush()
    return response


def test_exports_write_a_stage_as_a_labelled_category(client, login, make_user, make_patient) -> None:
    first = make_patient()
    stage_response(first, {"pattern": 1, "norwood": 6})
    stage_response(make_patient(first.study), {"pattern": 1, "norwood": 99})
    login(make_user("coordinator", (first.study,)))
    db.session.commit()
    code = first.study.code
    text = client.get(f"/studies/{code}/exports/scores").get_data(as_text=True)
    scores = pd.read_csv(io.StringIO(text), keep_default_na=False, dtype=str)
    stage = scores[scores.instrument == "hair_stage"]
    assert sorted(stage.hair_stage_norwood_score) == ["6", "99"]  # codes, not 6.0
    assert sorted(stage.hair_stage_norwood_major_score) == ["", "3"]  # "not sure": no major stage
    wide = pd.read_csv(io.BytesIO(client.get(f"/studies/{code}/exports/wide").data), keep_default_na=False,
                       dtype=str)
    assert "3" in set(wide.hair_stage_norwood_major_score)
    book = pd.read_csv(io.BytesIO(client.get(f"/studies/{code}/exports/codebook").data),
                       keep_default_na=False)
    for file in ("scores.csv", "wide.csv"):
        major = book[(book.file == file) & (book.variable == "hair_stage_norwood_major_score")].iloc[0]
        assert major.type == "integer" and "3=III" in major.codes and "7=VII" in major.codes
        assert "never average" in major.notes
        norwood = book[(book.file == file) & (book.variable == "hair_stage_norwood_score")].iloc[0]
        assert "99=None of these pictures" in norwood.codes
    who5 = book[(book.file == "scores.csv") & (book.variable == "who5_percent_score")].iloc[0]
    assert who5.type == "number" and "never average" not in who5.notes


def test_the_staff_record_shows_the_stage_label(client, login, make_user, make_patient) -> None:
    patient = make_patient()
    stage_response(patient, {"pattern": 1, "norwood": 6})
    login(make_user("clinician", (patient.study,)))
    db.session.commit()
    html = client.get(f"/studies/{patient.study.code}/patients/{patient.code}").get_data(as_text=True)
    assert "Hamilton-Norwood main stage = III;" in html  # each score by its title (the definition's)
    assert "Hamilton-Norwood stage = Stage III vertex" in html
    assert "Hamilton-Norwood stage = 6" not in html
