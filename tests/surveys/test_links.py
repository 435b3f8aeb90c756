"""Personal links: long random tokens kept only as hashes, revocable, re-issuable, printable."""

from __future__ import annotations

import math

from sqlalchemy import select

from surveys.domain.links import (
    TOKEN_BYTES,
    hash_token,
    issue_link,
    open_link,
    patient_url,
    qr_svg,
    revoke_links,
)
from surveys.domain.models import PatientLink
from surveys.infra.db import db
from tests.conftest import statements_run


def test_tokens_carry_at_least_128_bits_and_differ(make_patient):
    patients = [make_patient() for _ in range(5)]
    tokens = {p.token for p in patients}
    assert len(tokens) == 5
    assert TOKEN_BYTES * 8 >= 128
    assert all(len(t) >= math.ceil(128 / 6) for t in tokens)  # url-safe base64: 6 bits a character


def test_only_the_hash_of_a_token_is_stored(make_patient):
    patient = make_patient()
    [link] = db.session.scalars(select(PatientLink).where(PatientLink.patient_id == patient.id))
    assert link.token_hash == hash_token(patient.token)
    assert patient.token not in link.token_hash
    assert open_link(db.session, patient.token).link_id == link.id


def test_reissuing_revokes_the_old_link(make_patient):
    patient = make_patient()
    new = issue_link(db.session, patient)
    assert open_link(db.session, patient.token).revoked_at is not None
    assert open_link(db.session, new).revoked_at is None


def test_revoking_leaves_no_live_link(make_patient):
    patient = make_patient()
    assert revoke_links(db.session, patient) == 1
    assert revoke_links(db.session, patient) == 0
    assert open_link(db.session, patient.token).revoked_at is not None


def test_a_link_brings_its_patient_study_and_sessions_in_one_statement(make_patient):
    patient = make_patient(enrolled_days_ago=60, sessions_days_ago=(40, 12))
    token, study_code = patient.token, patient.study.code
    db.session.expunge_all()  # nothing already loaded
    with statements_run() as statements:
        found = open_link(db.session, token)
        assert (found.study.code, [s.number for s in found.patient.sessions]) == (study_code, [1, 2])
    assert [s for s in statements if s.lstrip().upper().startswith("SELECT")] == statements[-1:]


def test_unknown_empty_or_oversized_tokens_find_nothing(app):
    assert open_link(db.session, "") is None
    assert open_link(db.session, "x" * 129) is None
    assert open_link(db.session, "not-issued") is None


def test_qr_code_is_a_standalone_svg_of_the_url():
    svg = qr_svg(patient_url("https://prom.example/", "abc"), title="Your link")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert "<title>Your link</title>" in svg
    assert "style=" not in svg and "<script" not in svg
    assert qr_svg("https://prom.example/p/abc") != qr_svg("https://prom.example/p/abd")
