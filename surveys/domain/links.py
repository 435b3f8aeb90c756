"""Personal patient links: random tokens, stored only as hashes, revocable and re-issuable."""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import segno
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from surveys.domain.models import Patient, PatientLink, Study, TreatmentSession
from surveys.infra.db import utcnow

TOKEN_BYTES = 24  # 192 bits of randomness, above the 128-bit floor


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored (the token itself never is)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_link(session: Session, patient: Patient) -> str:
    """Revoke the patient's live links and issue a new one; returns the token (shown once)."""
    now = utcnow()
    session.execute(
        update(PatientLink)
        .where(PatientLink.patient_id == patient.id, PatientLink.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(PatientLink(patient_id=patient.id, token_hash=hash_token(token), created_at=now))
    session.flush()
    return token


def revoke_links(session: Session, patient: Patient) -> int:
    """Revoke every live link of a patient; returns how many were revoked."""
    result = session.execute(
        update(PatientLink)
        .where(PatientLink.patient_id == patient.id, PatientLink.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class LinkedSession:
    """A treatment session, as the patient pages use it (its anchor date)."""

    id: int
    number: int
    date: date
    agents: str = ""


@dataclass(frozen=True, slots=True)
class LinkedPatient:
    """The patient a link opens, as the patient pages use them: plain values, not ORM objects."""

    id: int
    study_id: int
    language: str
    status: str
    email: str | None
    enrolled_at: datetime
    sessions: tuple[LinkedSession, ...]  # by number
    status_on: date | None = None  # the local date of a withdrawal or completion
    timezone: str = "UTC"  # the study's IANA zone: the patient's windows are counted in its local days


@dataclass(frozen=True, slots=True)
class LinkedStudy:
    """The patient's study, as the patient pages use it."""

    id: int
    code: str
    contact: str
    emergency_number: str
    show_scores_to_patients: bool
    protocol: dict[str, Any]
    emergency_country: str = "FR"


@dataclass(frozen=True, slots=True)
class OpenedLink:
    """What a token opens: the link's state, its patient and their study."""

    link_id: int
    revoked_at: datetime | None
    patient: LinkedPatient
    study: LinkedStudy


#: What the services the patient pages call accept: the ORM objects, or the values read by open_link.
PatientLike = Patient | LinkedPatient
StudyLike = Study | LinkedStudy
SessionLike = TreatmentSession | LinkedSession

# A row per treatment session (one row with NULLs before the first): a patient has a handful.
_OPENED_BY_HASH = (
    select(
        PatientLink.id.label("link_id"), PatientLink.revoked_at,
        Patient.id.label("patient_id"), Patient.study_id, Patient.language, Patient.status, Patient.email,
        Patient.enrolled_at, Patient.status_on,
        Study.code, Study.contact, Study.emergency_number, Study.show_scores_to_patients, Study.protocol,
        Study.emergency_country,
        Study.timezone,
        TreatmentSession.id.label("session_id"), TreatmentSession.number, TreatmentSession.date,
        TreatmentSession.agents,
    )
    .join(Patient, Patient.id == PatientLink.patient_id)
    .join(Study, Study.id == Patient.study_id)
    .outerjoin(TreatmentSession, TreatmentSession.patient_id == Patient.id)
    .where(PatientLink.token_hash == bindparam("token_hash"))
    .order_by(TreatmentSession.number)
)


def open_link(session: Session, token: str) -> OpenedLink | None:
    """What a token opens (revoked or not), or None for an unknown token: one Core statement.

    Every patient request starts here, so it reads plain rows (no ORM objects, identity map or
    unit of work) into frozen values that the patient pages and the services they call read.
    """
    if not token or len(token) > 128:
        return None
    rows = session.execute(_OPENED_BY_HASH, {"token_hash": hash_token(token)}).all()
    if not rows:
        return None
    row = rows[0]
    sessions = tuple(LinkedSession(id=r.session_id, number=r.number, date=r.date, agents=r.agents or "")
                     for r in rows if r.session_id is not None)
    patient = LinkedPatient(
        id=row.patient_id, study_id=row.study_id, language=row.language, status=row.status, email=row.email,
        enrolled_at=row.enrolled_at, sessions=sessions, status_on=row.status_on, timezone=row.timezone,
    )
    study = LinkedStudy(id=row.study_id, code=row.code, contact=row.contact,
                        emergency_number=row.emergency_number,
                        show_scores_to_patients=row.show_scores_to_patients, protocol=row.protocol,
                        emergency_country=row.emergency_country or "FR")
    return OpenedLink(link_id=row.link_id, revoked_at=row.revoked_at, patient=patient, study=study)


def patient_url(base_url: str, token: str) -> str:
    """The full personal URL for a token."""
    return f"{base_url.rstrip('/')}/p/{token}"


def qr_svg(url: str, title: str = "") -> str:
    """A standalone SVG document of the URL's QR code (for printed handouts); error level M."""
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(
        buffer, kind="svg", scale=6, border=4, xmldecl=False, title=title or None, nl=False
    )
    return buffer.getvalue().decode("utf-8")
