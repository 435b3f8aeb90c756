"""Test helpers for the staff side: a response that raises an alert, and a two-study world."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from argon2 import PasswordHasher

from surveys.domain.models import Alert, Patient, Response, StaffUser, Study
from surveys.domain.responses import save_answers, start_response, submit_response
from surveys.infra.db import db
from surveys.infra.library import instruments

# A fever after the session: a level 2 (same-day review) alert; the patient also wrote a note.
FEVER = {"rf_fever": 1, "other": "<script>alert('x')</script> felt hot & shivery"}
BREATHING_NOW = {"rf_breathing": 1, "rf_breathing_now": 1}  # level 3: emergency


def submit_pirc(patient: Patient, answers: Mapping[str, object], number: int = 1) -> Response:
    """Submit the post-injection checklist of session `number` with these answers."""
    inst = instruments()["pirc"]
    treatment = next(s for s in patient.sessions if s.number == number)
    response = start_response(db.session, patient, f"S{number}", inst, "en", treatment)
    save_answers(db.session, response, inst, answers)
    submit_response(db.session, response, inst)
    return response


def alert_of(response: Response) -> Alert:
    """The alert a response raised."""
    alert = db.session.query(Alert).filter_by(response_id=response.id).one()
    return alert


@dataclass
class World:
    """Study A (with a patient and an open alert) and study B, with members of each role in each."""

    study: Study
    other: Study
    patient: Patient
    alert: Alert
    members: dict[str, StaffUser] = field(default_factory=dict)
    outsiders: dict[str, StaffUser] = field(default_factory=dict)
    admin: StaffUser | None = None


def build_world(make_study: Callable[..., Any], make_patient: Callable[..., Any],
                make_user: Callable[..., Any]) -> World:
    """Two studies, a patient with two sessions and a fever alert in the first, users of every role."""
    study, other = make_study("ALPHA", oncall_email="oncall@alpha.test"), make_study("BRAVO")
    patient = make_patient(study, "A-001", sessions_days_ago=(10, 3), email="a001@example.test")
    make_patient(other, "B-001", sessions_days_ago=(10,))
    alert = alert_of(submit_pirc(patient, FEVER))
    world = World(study, other, patient, alert)
    for role in ("coordinator", "clinician"):
        world.members[role] = make_user(role, (study,), email=f"{role}@alpha.test")
        world.outsiders[role] = make_user(role, (other,), email=f"{role}@bravo.test")
    world.admin = make_user("admin", (), email="admin@clinic.test")
    db.session.flush()
    return world


@pytest.fixture(autouse=False)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters for tests that log in many times (production keeps the defaults)."""
    import surveys.domain.accounts

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(surveys.domain.accounts, "_hasher", cheap)
