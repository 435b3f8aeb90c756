"""`flask patients enroll STUDY CODE...` prints each new patient's personal link."""

from __future__ import annotations

from sqlalchemy import select

from surveys.domain.links import open_link
from surveys.domain.models import Patient
from surveys.infra.db import db


def test_enroll_prints_a_working_link_per_patient(runner, make_study, client):
    study = make_study("CLI1")
    result = runner.invoke(args=["patients", "enroll", "CLI1", "A01", "A02", "--language", "fr",
                                 "--email", "a@example.test"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["A01", "A02"]
    for line in lines:
        url = line.split("\t")[1]
        assert url.startswith("http://localhost/p/")
        token = url.rsplit("/", 1)[1]
        link = open_link(db.session, token)
        assert link is not None and link.patient.study_id == study.id
        assert client.get(f"/p/{token}").status_code == 200
    languages = db.session.scalars(select(Patient.language).where(Patient.study_id == study.id)).all()
    assert languages == ["fr", "fr"]


def test_enroll_refuses_an_unknown_study(runner, app):
    result = runner.invoke(args=["patients", "enroll", "NOPE", "A01"])
    assert result.exit_code != 0
    assert "No study with code NOPE" in result.output


def test_enroll_enrolls_nobody_when_one_code_is_bad(runner, make_study):
    study = make_study("CLI2")
    result = runner.invoke(args=["patients", "enroll", "CLI2", "B01", "bad code!"])
    assert result.exit_code != 0
    assert "Nobody was enrolled" in result.output
    assert db.session.scalars(select(Patient).where(Patient.study_id == study.id)).all() == []
