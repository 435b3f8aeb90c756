"""hair_status 2.0: thinning asked apart from shedding, a 7-day recall for bother, shedding on absolute
amounts. A stored 1.0 response keeps 1.0 (scores, labels, codebook); new responses are 2.0."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from instruments import score
from instruments.scoring import meaningful_change
from surveys.domain.models import Response, Score
from surveys.domain.responses import save_answers, start_response, submit_response
from surveys.infra.db import db
from surveys.infra.library import instruments
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

OLD = {"hair_severity": 7, "hair_bother": 10, "shedding": 4}
NEW = {"thinning": 6, "hair_bother": 8, "shedding_amount": 4}


def stored(patient: Any, version: str, answers: dict[str, Any], timepoint: str = "T0") -> Response:
    inst = instruments().version("hair_status", version)
    response = start_response(db.session, patient, timepoint, inst, "en")
    save_answers(db.session, response, inst, answers)
    submit_response(db.session, response, inst)
    db.session.flush()
    return response


def scores_of(response: Response) -> dict[str, Any]:
    rows = db.session.scalars(select(Score).where(Score.response_id == response.id))
    return {s.scale: (s.value, s.scoring_version) for s in rows}


def test_2_0_is_current_and_asks_thinning_apart_from_shedding(library) -> None:
    assert [i.version for i in library.versions("hair_status")] == ["1.0", "2.0"]
    new = library["hair_status"]
    assert new.version == "2.0"
    assert [i.id for i in new.items] == ["thinning", "hair_bother", "shedding_amount"]
    assert "lose" not in new.item("thinning").texts["en"]  # thinning: how the hair looks, not hair lost
    assert new.item("hair_bother").texts["en"].startswith("Over the past 7 days")
    assert new.item("hair_bother").texts["fr"].startswith("Au cours des 7 derniers jours")
    shedding = new.item("shedding_amount")
    for lang in ("en", "fr"):
        assert "normal" not in shedding.texts[lang] and "habituel" not in shedding.texts[lang]
        assert all(any(ch.isdigit() for ch in o.labels[lang]) for o in shedding.options)  # absolute amounts
    for said in ("hair_severity", "7-day", "absolute", "satisfaction 1.1"):
        assert said in new.notes


def test_french_satisfaction_asks_for_a_rating_not_yes_no(library) -> None:
    text = library["satisfaction"].item("satisfaction").texts["fr"]
    assert "note" in text and not text.lower().startswith("êtes-vous")


def test_a_stored_1_0_response_scores_exactly_as_before(make_patient) -> None:
    response = stored(make_patient(), "1.0", OLD)
    assert response.instrument_version == "1.0"
    assert scores_of(response) == {k: (float(v), "hair_status-1.0-s1") for k, v in OLD.items()}


def test_2_0_scores_item_by_item_with_its_own_scoring_version(make_patient) -> None:
    new = instruments()["hair_status"]
    result = score(new, NEW)
    assert result.status == "complete" and result.scores == NEW
    assert score(new, {"thinning": 3}).status == "incomplete"
    assert meaningful_change(new) == {"thinning": 2.0, "hair_bother": 2.0}
    response = stored(make_patient(), "2.0", NEW)
    assert scores_of(response) == {k: (float(v), "hair_status-2.0-s1") for k, v in NEW.items()}


def test_a_2_0_answer_out_of_range_or_of_1_0_is_refused(make_patient, client) -> None:
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/hair_status"
    assert client.post(url, data={"item": "shedding_amount", "answer": "0"}).status_code == 400
    assert client.post(url, data={"item": "hair_severity", "answer": "3"}).status_code in (400, 404)
    assert db.session.scalar(select(Response)) is None or not db.session.scalar(select(Response)).answers


def test_the_default_protocol_gives_new_responses_2_0(client, make_patient) -> None:
    patient = make_patient()
    assert client.post(f"/p/{patient.token}/q/T0/hair_status",
                       data={"item": "thinning", "answer": "4"}).status_code == 303
    response = db.session.scalar(select(Response).where(Response.instrument_id == "hair_status"))
    assert response.instrument_version == "2.0"
    assert {a.item_id: a.code for a in response.answers} == {"thinning": 4}


def test_exports_and_codebook_label_each_response_by_its_version(client, login, make_user,
                                                                 make_patient) -> None:
    old_patient = make_patient()
    new_patient = make_patient(old_patient.study)
    stored(old_patient, "1.0", OLD)
    stored(new_patient, "2.0", NEW)
    login(make_user("coordinator", (old_patient.study,)))
    db.session.commit()
    code = old_patient.study.code
    long = pd.read_csv(io.BytesIO(client.get(f"/studies/{code}/exports/long").data),
                       dtype={"instrument_version": str}, keep_default_na=False)
    hair = long[long.instrument == "hair_status"].set_index(["instrument_version", "item"])
    assert hair.loc[("1.0", "shedding"), "label"] == "Much more than normal"
    assert hair.loc[("2.0", "shedding_amount"), "label"] == "Many (about 100 to 200, a small tuft)"
    assert hair.loc[("1.0", "hair_severity"), "label"] == "7"
    scores = pd.read_csv(io.BytesIO(client.get(f"/studies/{code}/exports/scores").data),
                         dtype={"instrument_version": str}, keep_default_na=False)
    versions = set(scores[scores.instrument == "hair_status"].scoring_version)
    assert versions == {"hair_status-1.0-s1", "hair_status-2.0-s1"}
    book = pd.read_csv(io.BytesIO(client.get(f"/studies/{code}/exports/codebook").data),
                       dtype={"instrument_version": str}, keep_default_na=False)
    wide = book[book.file == "wide.csv"].set_index("variable")
    assert wide.loc["hair_status_hair_severity", "instrument_version"] == "1.0"
    assert wide.loc["hair_status_hair_severity", "notes"].startswith("Asked in version 1.0 only")
    assert wide.loc["hair_status_thinning", "instrument_version"] == "2.0"
    assert "Much more than normal" in wide.loc["hair_status_shedding", "codes"]
    bother = wide.loc["hair_status_hair_bother"]
    assert bother.label.startswith("Over the past 7 days")
    assert "Version 1.0 asked: 'How much does your hair loss bother you?'" in bother.notes
