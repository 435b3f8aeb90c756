"""The audit trail in words: a label for each action code and a name for each record an event is about.

One table for every page that shows the trail: the staff audit page and the data subject's access
summary (reports.exports.access). Codes are what `surveys.domain.audit.record` stores; a code
without a label here is shown as stored.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from surveys.domain.audit import RecordKey

#: What an audit event records, in the reader's language (keyed by `AuditEvent.action`).
ACTION_LABELS = {
    "alert.contact_attempt": _l("Contact attempt about a safety alert"),
    "alert.reopen": _l("Safety alert reopened"),
    "alert.resolve": _l("Safety alert resolved"),
    "api_token.create": _l("API token created"),
    "api_token.revoke": _l("API token revoked"),
    "clinician_stage.record": _l("Hair-loss stage recorded by a clinician"),
    "consent.record": _l("Consent recorded"),
    "consent.version": _l("Consent text version added"),
    "demo.load": _l("Demo data loaded"),
    "demo.reset_walkthrough": _l("Demo walkthrough reset"),
    "export": _l("Export downloaded"),
    "link.email": _l("Personal link sent by e-mail"),
    "link.issue": _l("Personal link issued"),
    "link.revoke": _l("Personal link revoked"),
    "login.failure": _l("Failed sign-in"),
    "login.success": _l("Signed in"),
    "login.throttled": _l("Sign-in blocked after too many attempts"),
    "logout": _l("Signed out"),
    "patient.access": _l("Copy of the data provided (right of access)"),
    "patient.complete": _l("Participation completed"),
    "patient.enroll": _l("Enrolled in the study"),
    "patient.erase": _l("Data erased"),
    "patient.reactivate": _l("Participation active again after a protocol amendment"),
    "patient.reinstate": _l("Withdrawal cancelled"),
    "patient.update": _l("Record updated"),
    "patient.view": _l("Record viewed"),
    "patient.withdraw": _l("Withdrawn from the study"),
    "read": _l("Page viewed"),
    "reauth.failure": _l("Identity confirmation failed"),
    "response.paper_entry": _l("Paper questionnaire entered"),
    "response.staff_interview": _l("Questionnaire answered with a staff member"),
    "session.create": _l("Treatment session recorded"),
    "session.update": _l("Treatment session changed"),
    "session.end": _l("Signed out of one device"),
    "session.end_all": _l("Signed out of every device"),
    "session.reauth": _l("Identity confirmed"),
    "session.reauth_failure": _l("Identity confirmation failed"),
    "study.create": _l("Study created"),
    "study.formulations": _l("Study formulations changed"),
    "study.protocol_amend": _l("Study protocol amended"),
    "study.settings": _l("Study settings changed"),
    "tablet.end": _l("Clinic tablet session ended"),
    "tablet.start": _l("Clinic tablet session started"),
    "user.create": _l("Staff account created"),
    "user.deactivate": _l("Staff account deactivated"),
    "user.invite": _l("Staff member invited"),
    "user.invite_accept": _l("Invitation accepted"),
    "user.language": _l("Interface language changed"),
    "user.password_change": _l("Password changed"),
    "user.password_reset": _l("Password reset"),
    "user.password_reset_request": _l("Password reset requested"),
    "user.reactivate": _l("Staff account reactivated"),
    "user.role_change": _l("Staff role changed"),
    "user.totp_enable": _l("Two-step sign-in turned on"),
    "user.totp_reset": _l("Two-step sign-in reset"),
    "window.extend": _l("Questionnaire window extended"),
}

#: The kind of record an event is about (keyed by `AuditEvent.entity`), for records since deleted.
ENTITY_LABELS = {
    "patient": _l("patient"),
    "study": _l("study"),
    "staff_user": _l("staff account"),
    "alert": _l("alert"),
    "response": _l("answers"),
    "treatment_session": _l("treatment session"),
    "tablet_session": _l("tablet session"),
    "staff_session": _l("staff sign-in session"),
    "api_token": _l("API token"),
    "consent_version": _l("consent version"),
}


def action_label(action: str) -> str:
    """The translated label of an audit action code (the code itself when it has none)."""
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def record_label(entity: str | None, entity_id: str | None,
                 records: Mapping[tuple[str, str], RecordKey]) -> str:
    """How the audit page names the record an event is about, in the reader's language.

    In: the event's `entity` and `entity_id`, and the keys `surveys.domain.audit.record_keys` read.
    Out: a patient's code, a study's code, a staff e-mail, "alert of <patient code>" and so on; a
    record since deleted as its kind and "#id" (never a bare id that reads like a patient code);
    "" for an event about no record.
    """
    if not entity:
        return ""
    key = records.get((entity, entity_id or ""))
    if key is None:
        kind = str(ENTITY_LABELS.get(entity, entity))
        if not entity_id:
            return kind
        if not entity_id.isdigit():  # already a human key (the read log names a study by its code)
            return f"{kind} {entity_id}"
        return _("%(kind)s #%(id)s", kind=kind, id=entity_id)
    named = {
        "alert": lambda: _("alert of %(patient)s", patient=key.key),
        "response": lambda: _("answers of %(patient)s", patient=key.key),
        "treatment_session": lambda: _("session %(number)s of %(patient)s", number=key.number,
                                       patient=key.key),
        "tablet_session": lambda: _("tablet session of %(patient)s", patient=key.key),
        "staff_session": lambda: _("sign-in session of %(email)s", email=key.key),
        "api_token": lambda: _("API token “%(name)s”", name=key.key),
        "consent_version": lambda: _("consent version %(version)s", version=key.key),
    }
    return named[entity]() if entity in named else key.key
