"""Words for the codes staff pages show (window states, patient status, roles), in the reader's
language. Registered app-wide as template globals, so the reports pages use the same words."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from surveys.domain.audit_labels import action_label, record_label
from surveys.domain.erasure import erasure_reason_label
from surveys.domain.participation import reason_label, status_label
from surveys.staff.blueprint import bp
from surveys.staff.forms import DIAGNOSIS_LABELS, LANGUAGE_NAMES, SETTING_LABELS, SEX_LABELS

#: A questionnaire window's state (surveys.domain.schedule.STATES, plus the worklist's "missed").
STATE_LABELS = {
    "not_scheduled": _l("not scheduled"),
    "upcoming": _l("upcoming"),
    "open": _l("open"),
    "due": _l("due"),
    "overdue": _l("overdue"),
    "closed": _l("closed"),
    "completed": _l("completed"),
    "missed": _l("missed"),
    "partial": _l("partly answered"),
}
ROLE_LABELS = {"admin": _l("administrator"), "coordinator": _l("coordinator"), "clinician": _l("clinician")}
#: What a timepoint's window is counted from (surveys.domain.protocol.ANCHORS).
ANCHOR_LABELS = {
    "enrollment": _l("enrollment"),
    "first_session": _l("first session"),
    "each_session": _l("each session"),
    "last_session": _l("last session"),
}
#: A protocol property an amendment changes (surveys.domain.amendments).
PROTOCOL_FIELD_LABELS = {
    "anchor": _l("anchor"),
    "opens": _l("opens"),
    "due": _l("due"),
    "overdue": _l("overdue"),
    "closes": _l("closes"),
    "close_at_next_session": _l("closes at the next session"),
    "open_from_enrollment": _l("open from enrollment"),
    "label": _l("label"),
    "planned_sessions": _l("planned sessions"),
    "session_interval_days": _l("days between sessions"),
    "title": _l("title"),
    "formulations": _l("formulations"),
}
#: An agent a protocol names in `if_agents` (surveys.domain.protocol.ProtocolInstrument), as a word in
#: the reader's language; an agent not listed here is shown as the protocol writes it.
AGENT_LABELS = {
    "dutasteride": _l("dutasteride"),
    "finasteride": _l("finasteride"),
    "minoxidil": _l("minoxidil"),
}


def agent_names(agents: Iterable[str]) -> str:
    """The agents of an `if_agents` list, comma-separated, each in the reader's language."""
    return ", ".join(str(AGENT_LABELS.get(agent.lower(), agent)) for agent in agents)


@bp.app_template_global("colon")  # a global, not a context variable: macros imported without context use it
def colon() -> str:
    """The colon after a term ("W12: Week 12") as the reader's language sets it: French puts a no-break
    space (U+00A0, as the catalogue does elsewhere) before it. A rule of the language's typography, not
    wording, so it is not a catalogue entry (a lone ":" msgid would read as untranslated English)."""
    locale = get_locale()
    return "\u00a0:" if locale is not None and locale.language == "fr" else ":"


#: A response's status and a scoring outcome, as the patient record shows them.
RESPONSE_LABELS = {
    "in_progress": _l("in progress"),
    "submitted": _l("submitted"),
    "complete": _l("scored"),
    "prorated": _l("scored, prorated"),
    "incomplete": _l("not scorable"),
}


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {"state_labels": STATE_LABELS, "role_labels": ROLE_LABELS,
            "response_labels": RESPONSE_LABELS, "anchor_labels": ANCHOR_LABELS,
            "protocol_field_labels": PROTOCOL_FIELD_LABELS, "sex_labels": SEX_LABELS,
            "diagnosis_labels": DIAGNOSIS_LABELS, "language_names": LANGUAGE_NAMES,
            "status_label": status_label, "reason_label": reason_label,
            "erasure_reason_label": erasure_reason_label, "action_label": action_label,
            "record_label": record_label, "setting_labels": SETTING_LABELS,
            "agent_names": agent_names}
