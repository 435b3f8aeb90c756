"""Consent: a study's consent texts by version, each patient's consent records, and the gate that
keeps questionnaires closed without a valid consent.

A patient's consent is *valid* when they hold a record for the study's required version or a later
one. The required version is the newest version marked `requires_reconsent`; when none is, any
version counts. Versions are ordered by id (the newest is the current one). A study gates its
questionnaires when it sets "consent required" or "patients accept consent on their device"; with
the latter a patient without a valid consent is shown the current text to accept, else they are
told to see the clinic.

The patient pages learn whether a patient's consent is valid from the link look-up itself
(`links.consent_valid_clause`, one correlated EXISTS in the same statement): no statement per answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from surveys.domain.audit import record
from surveys.domain.links import consent_valid_clause
from surveys.domain.models import ConsentRecord, ConsentVersion, Patient, Study
from surveys.domain.patients import EnrollmentError, study_today
from surveys.infra.db import utcnow
from surveys.infra.formatting import local_date

#: The ways staff record a consent obtained in the clinic (the patient's own acceptance is
#: "patient_device", stored by the patient pages).
STAFF_METHODS = ("paper", "verbal", "electronic")
DEVICE_METHOD = "patient_device"
MAX_TEXT = 50_000


def method_labels() -> dict[str, Any]:
    """Each consent method's label, translated (lazily)."""
    return {"paper": _l("On paper"), "verbal": _l("Verbal"), "electronic": _l("Electronic"),
            DEVICE_METHOD: _l("Accepted by the patient on their device")}


@dataclass(frozen=True, slots=True)
class RecordedConsent:
    """A stored consent record and, when it replaced an earlier record for the same version with another
    method or date, that record's method and local date (None otherwise)."""

    record: ConsentRecord
    replaced_method: str | None = None
    replaced_on: date | None = None


class ConsentError(EnrollmentError):
    """A consent version or record that cannot be stored, with a message for the person who typed it."""


def consent_valid(session: Session, patient: Patient) -> bool:
    """Whether an ORM patient holds a valid consent (one statement)."""
    return bool(session.scalar(select(consent_valid_clause(patient.id, patient.study_id))))


def gate(study: Any, consented: bool) -> str | None:
    """What stands before a questionnaire: None (it may open), "accept" (the patient accepts the
    current text on their device first) or "required" (the clinic must record consent first).

    `study` carries `consent_required` and `consent_on_phone` (an ORM Study or the link look-up's
    values); `consented` is the patient's valid-consent flag.
    """
    if consented or not (study.consent_required or study.consent_on_phone):
        return None
    return "accept" if study.consent_on_phone else "required"


def versions(session: Session, study_id: int) -> list[ConsentVersion]:
    """The study's consent versions, newest first."""
    return list(session.scalars(select(ConsentVersion).where(ConsentVersion.study_id == study_id)
                                .order_by(ConsentVersion.id.desc())))


def current_version(session: Session, study_id: int) -> ConsentVersion | None:
    """The study's newest consent version, or None when it has none."""
    return session.scalar(select(ConsentVersion).where(ConsentVersion.study_id == study_id)
                          .order_by(ConsentVersion.id.desc()).limit(1))


def add_version(session: Session, study: Study, version: str, text_en: str, text_fr: str, *,
                requires_reconsent: bool, actor: str) -> ConsentVersion:
    """Add a new consent version with its English and French text (audited); it becomes current.

    `version` is a label of 1-32 characters, unique in the study; both texts are required (at most
    MAX_TEXT characters). `requires_reconsent`: patients consented to an earlier version are asked
    again. Raises ConsentError. Flushes; the caller commits.
    """
    version = (version or "").strip()
    text_en, text_fr = (text_en or "").strip(), (text_fr or "").strip()
    if not 1 <= len(version) <= 32:
        raise ConsentError(_("The version label must be 1-32 characters."))
    if not text_en or not text_fr:
        raise ConsentError(_("Give the consent text in English and in French."))
    if len(text_en) > MAX_TEXT or len(text_fr) > MAX_TEXT:
        raise ConsentError(_("A consent text may hold at most %(n)s characters.", n=MAX_TEXT))
    if session.scalar(select(ConsentVersion.id).where(ConsentVersion.study_id == study.id,
                                                      ConsentVersion.version == version)):
        raise ConsentError(_("Version %(version)s already exists in this study.", version=version))
    row = ConsentVersion(study_id=study.id, version=version, text_en=text_en, text_fr=text_fr,
                         requires_reconsent=requires_reconsent, created_by=actor)
    session.add(row)
    session.flush()
    record(session, actor, "consent.version", entity="consent_version", entity_id=row.id, study_id=study.id,
           details={"version": version, "requires_reconsent": requires_reconsent,
                    "characters": {"en": len(text_en), "fr": len(text_fr)}})
    return row


def consent_given(method: str | None, consented_on: date | None, version: str | None) -> bool:
    """Whether the consent fields of an enrollment (form, `patients enroll`) ask to record a consent.

    In: the method (empty: not recorded now), the local date and the version label as given.
    Out: True when a method is given (`record_consent` then checks the rest); False when none of the
    three is. Raises ConsentError when a date or a version comes without a method: they would be lost.
    """
    if method:
        return True
    if consented_on is not None or (version or "").strip():
        raise ConsentError(_("A consent date or version was given without how consent was obtained: choose "
                             "how (%(values)s), or leave the date and version empty to record consent later.",
                             values=", ".join(str(method_labels()[m]) for m in STAFF_METHODS)))
    return False


def record_consent(session: Session, patient: Patient, *, method: str, consented_on: date | None,
                   version: str | None, actor: str) -> RecordedConsent:
    """Record how a patient's consent was obtained in the clinic (audited).

    `method`: one of STAFF_METHODS; `consented_on`: a local day of the study, not after today there
    and not before the local day the version was added (a text cannot be agreed to before it existed);
    `version`: the label of one of the study's versions (None: the current one). A second record for
    the same version replaces the first (a correction: one record per patient and version); the result
    then names the method and date it replaced, and so does the audit event. Raises ConsentError.
    Flushes; the caller commits.
    """
    if method not in STAFF_METHODS:
        raise ConsentError(_("How consent was obtained must be one of: %(values)s.",
                             values=", ".join(str(method_labels()[m]) for m in STAFF_METHODS)))
    if consented_on is None:
        raise ConsentError(_("Give the date consent was obtained."))
    if consented_on > study_today(patient.study):
        raise ConsentError(_("The consent date cannot be in the future."))
    if consented_on < date(2000, 1, 1):
        raise ConsentError(_("A consent date before 2000 is not plausible."))
    query = select(ConsentVersion).where(ConsentVersion.study_id == patient.study_id)
    chosen = session.scalar(
        query.where(ConsentVersion.version == version.strip()) if version
        else query.order_by(ConsentVersion.id.desc()).limit(1)
    )
    if chosen is None:
        raise ConsentError(_("The study has no consent version %(version)s; add it on the consent page "
                             "first.", version=version or ""))
    added = study_today(patient.study, chosen.created_at)
    if consented_on < added:
        raise ConsentError(_("Consent version %(version)s was added on %(date)s: a consent to it cannot be "
                             "dated earlier. Give the date it was obtained, or the version the patient "
                             "signed then.", version=chosen.version, date=local_date(added)))
    return _store(session, patient.id, patient.study_id, patient.code, chosen, method, consented_on, actor)


def accept_on_device(session: Session, patient_id: int, study: Any, patient_code: str | None = None, *,
                     version_id: int, now: datetime | None = None) -> ConsentRecord:
    """The patient accepted consent version `version_id` on their device (audited as the patient).

    Stored with the UTC instant (`now`) and its local day in the study's zone. Raises ConsentError
    when the version is not the study's current one (a text changed while the page was open).
    """
    current = current_version(session, study.id)
    if current is None or current.id != version_id:
        raise ConsentError(_("The consent text has changed since you opened it; please read it again."))
    now = now or utcnow()
    return _store(session, patient_id, study.id, patient_code, current, DEVICE_METHOD,
                  study_today(study, now), "patient", recorded_at=now).record


def _store(session: Session, patient_id: int, study_id: int, patient_code: str | None,
           version: ConsentVersion, method: str, consented_on: date, actor: str,
           recorded_at: datetime | None = None) -> RecordedConsent:
    row = session.scalar(select(ConsentRecord).where(ConsentRecord.patient_id == patient_id,
                                                     ConsentRecord.version_id == version.id))
    replaced = None
    if row is None:
        row = ConsentRecord(patient_id=patient_id, version_id=version.id)
        session.add(row)
    elif (row.method, row.consented_on) != (method, consented_on):
        replaced = (row.method, row.consented_on)
    row.method, row.consented_on, row.recorded_by = method, consented_on, actor
    row.recorded_at = recorded_at or utcnow()
    session.flush()
    details: dict[str, Any] = {"patient": patient_code, "version": version.version, "method": method,
                               "on": consented_on.isoformat()}
    if replaced is not None:
        details["replaced"] = {"method": replaced[0], "on": replaced[1].isoformat()}
    record(session, actor, "consent.record", entity="patient", entity_id=patient_id, study_id=study_id,
           details=details)
    return RecordedConsent(row, *(replaced or (None, None)))


def patient_consents(session: Session, patient_id: int) -> list[ConsentRecord]:
    """A patient's consent records, newest version first (each with its version loaded)."""
    return list(session.scalars(select(ConsentRecord).join(ConsentVersion)
                                .where(ConsentRecord.patient_id == patient_id)
                                .order_by(ConsentRecord.version_id.desc())))
