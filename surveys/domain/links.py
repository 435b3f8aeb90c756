"""Personal patient links: random tokens, stored only as hashes, revocable and re-issuable.

A patient may hold several live links, each with its own expiry and revocation: the printed
handout's QR code and its short code (replaced together when a new handout is printed), links
e-mailed by staff and links carried by reminders (each new, expiring after LINK_DAYS days, never
touching the printed one).
"""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import segno
from sqlalchemy import ColumnElement, bindparam, exists, func, literal_column, select, update
from sqlalchemy.orm import Session

from surveys.domain.models import (
    ConsentRecord,
    ConsentVersion,
    Patient,
    PatientLink,
    Study,
    TabletSession,
    TreatmentSession,
    WindowExtension,
)
from surveys.infra.db import utcnow

TOKEN_BYTES = 24  # 192 bits of randomness, above the 128-bit floor
#: How long an e-mailed or reminder link works (days): long enough to answer, short enough to age out.
LINK_DAYS = 14
#: The short code's alphabet: capitals and digits without look-alikes (no 0/O/Q/D, 1/I/L, 2/Z,
#: 5/S, 8/B, 6/b, U/V): 20 symbols, so 10 of them carry about 43 bits; the code page is
#: rate-limited like links (10 failed tries a minute, 50 a day per address).
SHORT_CODE_ALPHABET = "ACEFGHJKMNPRTWXY3479"
SHORT_CODE_LENGTH = 10
#: Kinds a new printed handout replaces (its QR code and its short code).
HANDOUT_KINDS = ("handout", "code")


def new_short_code() -> str:
    """A random short code: SHORT_CODE_LENGTH symbols of SHORT_CODE_ALPHABET (what is stored and typed)."""
    return "".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(SHORT_CODE_LENGTH))


def normalise_short_code(typed: str) -> str:
    """A typed short code as stored: capitals, no spaces or dashes ("acex-7m3k 9tp" -> "ACEX7M3K9TP")."""
    return "".join(ch for ch in typed.upper() if not ch.isspace() and ch not in "-.")


def format_short_code(code: str) -> str:
    """A short code as printed, in groups easy to read out: "ACEF-GHJK-MN"."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored (the token itself never is)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_link(
    session: Session, patient: Patient | PatientLike, *, kind: str = "handout", days: int | None = None,
) -> str:
    """Issue a new link of a kind; returns its token (shown once, only its hash is stored).

    A "handout" or "code" link replaces the patient's live handout and code links (a new printed
    sheet); "email" and "reminder" links are added beside the others and expire after `days`
    (default LINK_DAYS). A "code" link's token is a short code (new_short_code).
    """
    now = utcnow()
    if kind in HANDOUT_KINDS:
        session.execute(
            update(PatientLink)
            .where(PatientLink.patient_id == patient.id, PatientLink.revoked_at.is_(None),
                   PatientLink.kind == kind)
            .values(revoked_at=now)
        )
        expires = None if days is None else now + timedelta(days=days)
    else:
        expires = now + timedelta(days=LINK_DAYS if days is None else days)
    token = new_short_code() if kind == "code" else secrets.token_urlsafe(TOKEN_BYTES)
    session.add(PatientLink(patient_id=patient.id, token_hash=hash_token(token), created_at=now, kind=kind,
                            expires_at=expires))
    session.flush()
    return token


@dataclass(frozen=True, slots=True)
class Handout:
    """A printed handout's two ways in: the QR code's link token and the short code."""

    token: str
    short_code: str


def issue_handout(session: Session, patient: Patient) -> Handout:
    """A new printed handout: its QR link and its short code, replacing the previous handout's."""
    return Handout(token=issue_link(session, patient, kind="handout"),
                   short_code=issue_link(session, patient, kind="code"))


def revoke_link(session: Session, patient: Patient, link_id: int) -> bool:
    """Revoke one live link of a patient; False when it is not theirs or not live."""
    result = session.execute(
        update(PatientLink)
        .where(PatientLink.id == link_id, PatientLink.patient_id == patient.id,
               PatientLink.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)


def link_state(link: PatientLink | OpenedLink, now: datetime | None = None) -> str:
    """"active", "revoked" or "expired"."""
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at is not None and (now or utcnow()) >= link.expires_at:
        return "expired"
    return "active"


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
    planned: bool = False


@dataclass(frozen=True, slots=True)
class LinkedExtension:
    """A window staff reopened or extended: its timepoint and the last local day it stays open."""

    timepoint: str
    closes_on: date


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
    window_extensions: tuple[LinkedExtension, ...] = ()
    consented: bool = False  # holds a consent for the study's required version or a later one
    consented_before: bool = False  # holds a consent record of any version (re-consent: an earlier one)


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
    clinic_phone: str | None = None
    timezone: str = "Europe/Paris"
    consent_required: bool = False
    consent_on_phone: bool = False


@dataclass(frozen=True, slots=True)
class OpenedLink:
    """What a token opens: the link's state, its patient and their study."""

    link_id: int
    revoked_at: datetime | None
    expires_at: datetime | None
    kind: str
    patient: LinkedPatient
    study: LinkedStudy


#: What the services the patient pages call accept: the ORM objects, or the values read by open_link.
PatientLike = Patient | LinkedPatient
StudyLike = Study | LinkedStudy
SessionLike = TreatmentSession | LinkedSession

def consent_valid_clause(patient_id: Any, study_id: Any) -> ColumnElement[bool]:
    """SQL: whether the patient (`patient_id`, `study_id`: columns or values) holds a valid consent.

    A correlated EXISTS for a larger select (the patient link look-up) or a scalar select of its own.
    """
    required = (
        select(func.coalesce(func.max(ConsentVersion.id), 0))
        .where(ConsentVersion.study_id == study_id, ConsentVersion.requires_reconsent.is_(True))
        .scalar_subquery()
    )
    return exists().where(ConsentRecord.patient_id == patient_id, ConsentRecord.version_id >= required)


# A row per treatment session and extended window (one row with NULLs before the first session):
# a patient has a handful of sessions and rarely an extended window.
_PATIENT_COLUMNS = (
    Patient.id.label("patient_id"), Patient.study_id, Patient.language, Patient.status, Patient.email,
    Patient.enrolled_at, Patient.status_on,
    Study.code, Study.contact, Study.emergency_number, Study.show_scores_to_patients, Study.protocol,
    Study.emergency_country, Study.clinic_phone, Study.timezone,
    Study.consent_required, Study.consent_on_phone,
    consent_valid_clause(Patient.id, Patient.study_id).label("consented"),
    exists().where(ConsentRecord.patient_id == Patient.id).label("consented_before"),
    TreatmentSession.id.label("session_id"), TreatmentSession.number, TreatmentSession.date,
    TreatmentSession.agents, TreatmentSession.planned,
    WindowExtension.timepoint.label("extended_timepoint"), WindowExtension.closes_on,
)


def _with_patient(statement: Any, patient_id: Any) -> Any:
    return (
        statement.join(Patient, Patient.id == patient_id)
        .join(Study, Study.id == Patient.study_id)
        .outerjoin(TreatmentSession, TreatmentSession.patient_id == Patient.id)
        .outerjoin(WindowExtension, WindowExtension.patient_id == Patient.id)
        .order_by(TreatmentSession.number)
    )


_OPENED_BY_HASH = _with_patient(
    select(PatientLink.id.label("link_id"), PatientLink.revoked_at, PatientLink.expires_at, PatientLink.kind,
           *_PATIENT_COLUMNS).select_from(PatientLink),
    PatientLink.patient_id,
).where(PatientLink.token_hash == bindparam("token_hash"))
# A clinic tablet lent to a patient opens the same pages with its own token (see surveys.domain.tablet).
_OPENED_BY_TABLET = _with_patient(
    select(TabletSession.id.label("link_id"), TabletSession.ended_at.label("revoked_at"),
           literal_column("NULL").label("expires_at"), literal_column("'tablet'").label("kind"),
           *_PATIENT_COLUMNS).select_from(TabletSession),
    TabletSession.patient_id,
).where(TabletSession.token_hash == bindparam("token_hash"))


def _opened(rows: Any) -> OpenedLink:
    row = rows[0]
    sessions = tuple({r.session_id: LinkedSession(id=r.session_id, number=r.number, date=r.date,
                                                  agents=r.agents or "", planned=bool(r.planned))
                      for r in rows if r.session_id is not None}.values())
    extensions = tuple({r.extended_timepoint: LinkedExtension(r.extended_timepoint, r.closes_on)
                        for r in rows if r.extended_timepoint is not None}.values())
    patient = LinkedPatient(
        id=row.patient_id, study_id=row.study_id, language=row.language, status=row.status, email=row.email,
        enrolled_at=row.enrolled_at, sessions=sessions, status_on=row.status_on, timezone=row.timezone,
        window_extensions=extensions, consented=bool(row.consented),
        consented_before=bool(row.consented_before),
    )
    study = LinkedStudy(id=row.study_id, code=row.code, contact=row.contact,
                        emergency_number=row.emergency_number,
                        show_scores_to_patients=row.show_scores_to_patients, protocol=row.protocol,
                        emergency_country=row.emergency_country or "FR", clinic_phone=row.clinic_phone,
                        timezone=row.timezone, consent_required=bool(row.consent_required),
                        consent_on_phone=bool(row.consent_on_phone))
    return OpenedLink(link_id=row.link_id, revoked_at=row.revoked_at, expires_at=row.expires_at,
                      kind=row.kind, patient=patient, study=study)


def open_link(session: Session, token: str) -> OpenedLink | None:
    """What a token opens (revoked or not), or None for an unknown token: one Core statement.

    Every patient request starts here, so it reads plain rows (no ORM objects, identity map or
    unit of work) into frozen values that the patient pages and the services they call read.
    """
    if not token or len(token) > 128:
        return None
    rows = session.execute(_OPENED_BY_HASH, {"token_hash": hash_token(token)}).all()
    return _opened(rows) if rows else None


def open_tablet_token(session: Session, token: str) -> OpenedLink | None:
    """What a clinic tablet's token opens (kind "tablet"; `revoked_at` is when it ended), or None."""
    if not token or len(token) > 128:
        return None
    rows = session.execute(_OPENED_BY_TABLET, {"token_hash": hash_token(token)}).all()
    return _opened(rows) if rows else None


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
