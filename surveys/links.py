"""Personal patient links: random tokens, stored only as hashes, revocable and re-issuable."""

from __future__ import annotations

import hashlib
import io
import secrets

import segno
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, joinedload

from surveys.db import utcnow
from surveys.models import Patient, PatientLink

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


# Built once: every patient request runs it, and a prebuilt statement skips SQLAlchemy's
# per-call construction and cache-key work. The patient, their study and their sessions come in
# the same statement (a patient has a handful of sessions): every patient page needs them.
_LINK_BY_HASH = (
    select(PatientLink)
    .where(PatientLink.token_hash == bindparam("token_hash"))
    .options(joinedload(PatientLink.patient).joinedload(Patient.study),
             joinedload(PatientLink.patient).joinedload(Patient.sessions))
)


def find_link(session: Session, token: str) -> PatientLink | None:
    """The link a token opens (revoked or not), or None for an unknown token, in one statement."""
    if not token or len(token) > 128:
        return None
    result = session.execute(_LINK_BY_HASH, {"token_hash": hash_token(token)})
    return result.unique().scalar_one_or_none()


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
