"""Protocol amendments: a new version of a study's protocol, checked, shown as a difference against
the current one, then applied with a reason.

Windows are never stored (`schedule.py` computes them from each patient's anchors), so applying an
amendment replaces `Study.protocol` and `Study.protocol_version` and adds a `StudyProtocol` row: every
patient's windows follow at once. Responses keep the protocol version they were started under
(`Response.protocol_version`), so answers at a timepoint or for an instrument the amendment removes
stay where they were, under the old version. What else follows from the schedule and is stored:
a patient marked `completed` whose schedule gains a window that has not closed is active again
(audited); reminders read the current protocol at each run, so new windows get theirs; window
extensions are kept by timepoint id and apply only while the protocol has that timepoint.

The staff page (`surveys/staff/protocol_views.py`) and `flask --app app studies amend` both call
`check_amendment`, then `apply_amendment`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from babel import Locale
from babel.lists import format_list
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from instruments import Instrument
from surveys.domain.audit import record
from surveys.domain.models import PATIENT_STATUSES, Patient, Response, Study, StudyProtocol
from surveys.domain.participation import last_window_close
from surveys.domain.patients import study_anchors, study_protocol
from surveys.domain.protocol import (
    Protocol,
    ProtocolError,
    ProtocolInstrument,
    Timepoint,
    instrument_sections,
    parse_protocol,
)
from surveys.domain.schedule import ANSWERABLE, Window, compute_schedule
from surveys.infra.db import utcnow
from surveys.infra.i18n import LANGUAGES

MAX_REASON = 2000
MAX_VERSION = 32  # StudyProtocol.version, Study.protocol_version
MAX_PROTOCOL_TEXT = 200_000  # characters of JSON a page or file may hold
OFFSETS = ("opens", "due", "overdue", "closes")
_TO_COME = frozenset({"upcoming", "not_scheduled"})


class AmendmentError(ProtocolError):
    """A protocol amendment (or a protocol file) that cannot be checked or applied; the message says why
    (translated). A ProtocolError, hence a ValueError."""


class AmendmentConflict(AmendmentError):
    """The study's protocol changed between the check and the apply: check again."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One property that changed: its name, the old and the new value (offsets are timedeltas)."""

    name: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class TimepointChange:
    """A timepoint both versions have, and what changed in it."""

    id: str
    old: Timepoint
    new: Timepoint
    fields: tuple[FieldChange, ...] = ()
    instruments_added: tuple[str, ...] = ()
    instruments_removed: tuple[str, ...] = ()
    instruments_changed: tuple[str, ...] = ()  # asked under other conditions (agents, time limit)


@dataclass(frozen=True, slots=True)
class ProtocolDifference:
    """What a new protocol version changes against the current one."""

    old_version: str
    new_version: str
    added: tuple[Timepoint, ...] = ()
    removed: tuple[Timepoint, ...] = ()
    changed: tuple[TimepointChange, ...] = ()
    study_fields: tuple[FieldChange, ...] = ()  # planned_sessions, session_interval_days, title, formulations

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.study_fields)

    def summary(self) -> dict[str, Any]:
        """A plain-JSON summary (for the audit trail): timepoint ids and changed properties."""
        changed: dict[str, Any] = {}
        for change in self.changed:
            entry: dict[str, Any] = {f.name: [_plain(f.old), _plain(f.new)] for f in change.fields}
            for key in ("instruments_added", "instruments_removed", "instruments_changed"):
                if getattr(change, key):
                    entry[key] = list(getattr(change, key))
            changed[change.id] = entry
        return {"added": [tp.id for tp in self.added], "removed": [tp.id for tp in self.removed],
                "changed": changed,
                "study": {f.name: [_plain(f.old), _plain(f.new)] for f in self.study_fields}}


#: The kinds of impact `PatientImpact.who` names the patients of (each a count field of its own).
IMPACT_KINDS = ("open_now", "to_come", "moved", "closes_now", "kept")


@dataclass(frozen=True, slots=True)
class PatientImpact:
    """What an amendment does to the study's patients now (counts of patients, unless said), and who:
    `who` maps each of IMPACT_KINDS to the codes of the patients counted there, in enrollment order."""

    patients: int = 0  # active patients (completed ones that would be reactivated included)
    open_now: int = 0  # get something to answer now that they did not have
    to_come: int = 0  # get a window still to come that they did not have
    closes_now: int = 0  # lose something they could answer now (a window closed or shortened, a part dropped)
    moved: int = 0  # have a window whose dates move
    reactivated: tuple[str, ...] = ()  # codes of completed patients who become active again
    kept_patients: int = 0  # have answers at a removed timepoint or for a removed instrument
    kept_responses: int = 0  # those responses (they stay under the old version)
    in_progress_dropped: int = 0  # of those, responses still in progress that are no longer asked
    extensions_dropped: int = 0  # window extensions at removed timepoints (kept, no longer apply)
    who: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"patients": self.patients, "open_now": self.open_now, "to_come": self.to_come,
                "closes_now": self.closes_now, "moved": self.moved, "reactivated": list(self.reactivated),
                "kept_patients": self.kept_patients, "kept_responses": self.kept_responses,
                "in_progress_dropped": self.in_progress_dropped,
                "extensions_dropped": self.extensions_dropped}


@dataclass(frozen=True, slots=True)
class AmendmentCheck:
    """A checked amendment: the new protocol, its data as it will be stored, the difference against
    the current version, its impact on patients now, and the fingerprint of the protocol it was
    checked against (`base`, see `protocol_fingerprint`); `warnings`: what the checker should look at
    twice without it being refused (translated), e.g. a version number not after the current one."""

    protocol: Protocol
    data: dict[str, Any]
    difference: ProtocolDifference
    impact: PatientImpact
    base: str
    warnings: tuple[str, ...] = ()


def _plain(value: Any) -> Any:
    return offset_text(value) if isinstance(value, timedelta) else value


def offset_text(delta: timedelta) -> str:
    """An offset as the protocol file says it: '+14 d', '-1 d', '+36 h' (whole days when it can)."""
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24:+d} d" if hours % 24 == 0 else f"{hours:+d} h"


def protocol_fingerprint(data: Mapping[str, Any]) -> str:
    """A SHA-256 of a protocol's JSON (keys sorted): what a checked amendment was checked against."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()


def protocol_text(data: Mapping[str, Any]) -> str:
    """A protocol's JSON as people edit it: indented, keys in the file's order, non-ASCII kept."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def protocol_problem(error: ProtocolError) -> str:
    """A protocol's refusal in the reader's language: where (the timepoint) and what is wrong.

    In: a ProtocolError from `parse_protocol` (its `problem`, `timepoint` and `detail`). Out: the
    translated sentence; an error without a `problem` (already written for people) as its message.
    """
    d = error.detail
    key, keys, instrument = d.get("key", ""), d.get("keys", ""), d.get("instrument", "")
    texts = {
        "not_an_object": lambda: _("the protocol must be one JSON object."),
        "missing_keys": lambda: _("the protocol lacks: %(keys)s.", keys=keys),
        "unknown_keys": lambda: _("unknown key(s): %(keys)s.", keys=keys),
        "no_timepoints": lambda: _("'timepoints' must be a list of at least one timepoint."),
        "formulations_not_a_list": lambda: _("'formulations' must be a list."),
        "bad_formulation": lambda: _("each formulation needs an 'id' (a-z, 0-9, _), and may have a 'label' "
                                     "per language and a list of 'aliases'."),
        "repeated_formulation": lambda: _("formulation '%(id)s' is listed twice.", id=d.get("formulation")),
        "timepoint_not_an_object": lambda: _("a timepoint must be an object."),
        "timepoint_unknown_keys": lambda: _("unknown key(s): %(keys)s.", keys=keys),
        "bad_timepoint_id": lambda: _("the 'id' must be letters and digits, at most 16."),
        "repeated_timepoint": lambda: _("this timepoint id is used twice."),
        "bad_anchor": lambda: _("the anchor must be one of: %(choices)s.", choices=d.get("choices", "")),
        "no_english_label": lambda: _("the 'label' needs at least an English text ('en')."),
        "offsets_out_of_order": lambda: _("the window must run opens ≤ due ≤ overdue ≤ closes."),
        "no_instruments": lambda: _("'instruments' must list at least one questionnaire."),
        "bad_offset": lambda: _("'%(key)s' must be an object with 'days' and/or 'hours'.", key=key),
        "offset_not_whole": lambda: _("'%(key)s': days and hours must be whole numbers.", key=key),
        "bad_instrument": lambda: _("a questionnaire is named by its id, or by an object with 'instrument'."),
        "bad_if_agents": lambda: _("'if_agents' must be a list of words naming agents."),
        "unknown_instrument": lambda: _("the questionnaire “%(instrument)s” does not exist in this "
                                        "installation.", instrument=instrument),
        "unknown_section": lambda: _("the questionnaire “%(instrument)s” has no part “%(section)s”.",
                                     instrument=instrument, section=d.get("section", "")),
    }
    if error.problem not in texts:
        return str(error)
    problem = texts[error.problem]()
    if error.timepoint is None:
        return problem
    return _("timepoint %(timepoint)s: %(problem)s", timepoint=error.timepoint, problem=problem)


def json_problem(message: str) -> str:
    """The parser's English problem (`json.JSONDecodeError.msg`) in the reader's language; a kind the
    table does not know becomes a plain "syntax error" rather than the parser's English. The keys are
    the json module's messages word for word ("Invalid \\uXXXX escape" included, XXXX and all)."""
    kinds = {
        "Expecting property name enclosed in double quotes":
            lambda: _("a property name in double quotes was expected"),
        "Expecting value": lambda: _("a value was expected"),
        "Expecting ',' delimiter": lambda: _("',' was expected"),
        "Expecting ':' delimiter": lambda: _("':' was expected"),
        "Unterminated string starting at": lambda: _("a text in quotes is not closed"),
        "Invalid control character at": lambda: _("a text in quotes holds a control character"),
        "Invalid \\escape": lambda: _("a text in quotes holds an invalid escape"),
        "Invalid \\uXXXX escape": lambda: _("a text in quotes holds an invalid escape"),
        "Extra data": lambda: _("extra text after the JSON object"),
    }
    return kinds.get(message, lambda: _("syntax error"))()


def read_protocol_json(raw: bytes | str) -> dict[str, Any]:
    """The JSON object of an uploaded or typed protocol; AmendmentError when it is not UTF-8, not JSON,
    too long, or not one object."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise AmendmentError(_("The protocol file is not UTF-8 text.")) from exc
    if not raw.strip():
        raise AmendmentError(_("Give the new protocol: edit the text or choose a file."))
    if len(raw) > MAX_PROTOCOL_TEXT:
        raise AmendmentError(_("The protocol is too long (at most %(n)s characters).", n=MAX_PROTOCOL_TEXT))
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AmendmentError(_("The protocol file is not valid JSON (line %(line)s, column %(column)s: "
                               "%(problem)s).", line=exc.lineno, column=exc.colno,
                               problem=json_problem(exc.msg))) from exc
    if not isinstance(data, dict):
        raise AmendmentError(_("The protocol file must hold one JSON object."))
    return data


def _entry_key(entry: ProtocolInstrument) -> str:
    return f"{entry.instrument}/{entry.section}" if entry.section else entry.instrument


def _timepoint_change(old: Timepoint, new: Timepoint) -> TimepointChange | None:
    fields = [FieldChange(name, getattr(old, name), getattr(new, name))
              for name in ("anchor", *OFFSETS, "close_at_next_session", "open_from_enrollment")
              if getattr(old, name) != getattr(new, name)]
    if dict(old.label) != dict(new.label):
        fields.append(FieldChange("label", dict(old.label), dict(new.label)))
    before = {_entry_key(e): e for e in old.instruments}
    after = {_entry_key(e): e for e in new.instruments}
    added = tuple(k for k in after if k not in before)
    removed = tuple(k for k in before if k not in after)
    conditions = tuple(k for k in after if k in before and after[k] != before[k])
    if not (fields or added or removed or conditions):
        return None
    return TimepointChange(old.id, old, new, tuple(fields), added, removed, conditions)


def protocol_difference(old: Protocol, new: Protocol, old_data: Mapping[str, Any] | None = None,
                        new_data: Mapping[str, Any] | None = None) -> ProtocolDifference:
    """The difference between two protocol versions: timepoints added, removed and changed (window
    offsets, anchor, closing at the next session, instruments), and the study-wide properties
    (planned sessions, session interval, title, and with the raw data the list of formulations)."""
    before = {tp.id: tp for tp in old.timepoints}
    after = {tp.id: tp for tp in new.timepoints}
    changed = [c for tp_id, tp in after.items() if tp_id in before
               if (c := _timepoint_change(before[tp_id], tp)) is not None]
    study_fields = [FieldChange(name, getattr(old, name), getattr(new, name))
                    for name in ("planned_sessions", "session_interval_days")
                    if getattr(old, name) != getattr(new, name)]
    if dict(old.title) != dict(new.title):
        study_fields.append(FieldChange("title", dict(old.title), dict(new.title)))
    if old_data is not None and new_data is not None:
        old_list, new_list = old_data.get("formulations", []), new_data.get("formulations", [])
        if old_list != new_list:
            study_fields.append(FieldChange("formulations", [f.get("id") for f in old_list],
                                            [f.get("id") for f in new_list]))
    return ProtocolDifference(
        old_version=old.version, new_version=new.version,
        added=tuple(tp for tp_id, tp in after.items() if tp_id not in before),
        removed=tuple(tp for tp_id, tp in before.items() if tp_id not in after),
        changed=tuple(changed), study_fields=tuple(study_fields),
    )


def _pairs(windows: Sequence[Window], states: Mapping[tuple[str, str], str],
           wanted: frozenset[str]) -> set[tuple[str, str]]:
    """(timepoint, instrument) of the windows in `wanted` states, not yet submitted."""
    return {(w.timepoint, e.instrument) for w in windows if w.state in wanted for e in w.instruments
            if states.get((w.timepoint, e.instrument)) != "submitted"}


def _no_longer_asked(old: Protocol, new: Protocol, timepoint: str, instrument: str) -> bool:
    """Whether the new protocol no longer asks `instrument` at `timepoint` (a window id: T0, S3)."""
    try:
        before = old.timepoint(timepoint)
    except KeyError:
        return False  # not asked by the current version either: nothing changes for it
    if instrument not in {e.instrument for e in before.instruments}:
        return False
    try:
        after = new.timepoint(timepoint)
    except KeyError:
        return True
    return instrument not in {e.instrument for e in after.instruments}


def patient_impact(session: Session, study: Study, old: Protocol, new: Protocol,
                   now: datetime | None = None) -> PatientImpact:
    """What replacing `old` by `new` does to the study's patients at `now` (UTC; default the clock).

    Active patients, and completed ones (they become active again when the new schedule has a window
    that has not closed), are compared window by window under both versions. Withdrawn and erased
    patients are asked nothing either way; their answers count among those kept under the old version.
    """
    now = now or utcnow()
    patients = session.execute(select(Patient.id, Patient.code, Patient.status)
                               .where(Patient.study_id == study.id).order_by(Patient.id)).all()
    anchors_of = study_anchors(session, study, statuses=PATIENT_STATUSES)
    states: dict[int, dict[tuple[str, str], str]] = {}
    for patient_id, tp, inst, status in session.execute(
            select(Response.patient_id, Response.timepoint, Response.instrument_id, Response.status)
            .join(Patient, Patient.id == Response.patient_id).where(Patient.study_id == study.id)):
        states.setdefault(patient_id, {})[tp, inst] = status
    removed_ids = {tp.id for tp in old.timepoints} - {tp.id for tp in new.timepoints}
    # A timepoint's windows hang on the anchors alone, never on other timepoints: comparing only the
    # timepoints that differ gives the same answer, several times faster on a large cohort.
    same = {tp.id for tp in old.timepoints if tp in new.timepoints}
    old_part = replace(old, timepoints=tuple(tp for tp in old.timepoints if tp.id not in same))
    new_part = replace(new, timepoints=tuple(tp for tp in new.timepoints if tp.id not in same))
    counts = dict(patients=0, kept_responses=0, in_progress_dropped=0, extensions_dropped=0)
    who: dict[str, list[str]] = {kind: [] for kind in IMPACT_KINDS}
    reactivated: list[str] = []
    asked: dict[tuple[str, str], bool] = {}
    for pid, code, status in patients:
        own, anchors = states.get(pid, {}), anchors_of.get(pid)
        if anchors is None:  # enrolled since the first read
            continue
        for pair in own:
            if pair not in asked:
                asked[pair] = not _no_longer_asked(old, new, *pair)
        kept = [state for pair, state in own.items() if not asked[pair]]
        if kept:
            who["kept"].append(code)
            counts["kept_responses"] += len(kept)
            counts["in_progress_dropped"] += kept.count("in_progress")
        counts["extensions_dropped"] += sum(
            1 for tp in anchors.extensions if _definition_id(old, tp) in removed_ids)
        if status not in ("active", "completed"):
            continue
        if status == "completed":
            if not _unfinished(compute_schedule(new, anchors, now), now):
                continue
            reactivated.append(code)
        before, after = compute_schedule(old_part, anchors, now), compute_schedule(new_part, anchors, now)
        counts["patients"] += 1
        now_before, now_after = _pairs(before, own, ANSWERABLE), _pairs(after, own, ANSWERABLE)
        later_before, later_after = _pairs(before, own, _TO_COME), _pairs(after, own, _TO_COME)
        dates = {w.timepoint: (w.opens_at, w.closes_at) for w in before}
        for kind, concerned in (
                ("open_now", now_after - now_before),
                ("to_come", later_after - later_before - now_before),
                ("closes_now", now_before - now_after),
                ("moved", any(w.timepoint in dates and dates[w.timepoint] != (w.opens_at, w.closes_at)
                              for w in after))):
            if concerned:
                who[kind].append(code)
    return PatientImpact(reactivated=tuple(reactivated), open_now=len(who["open_now"]),
                         to_come=len(who["to_come"]), closes_now=len(who["closes_now"]),
                         moved=len(who["moved"]), kept_patients=len(who["kept"]),
                         who={kind: tuple(codes) for kind, codes in who.items()}, **counts)


def _definition_id(protocol: Protocol, window_id: str) -> str | None:
    try:
        return protocol.timepoint(window_id).id
    except KeyError:
        return None


def _unfinished(windows: Sequence[Window], now: datetime) -> bool:
    """A schedule with a window not closed yet (or without dates: its anchor is still to come)."""
    return any(w.closes_at is None or w.closes_at > now for w in windows)


def _with_study_formulations(study: Study, data: dict[str, Any]) -> dict[str, Any]:
    """The new data as it will be stored: without a 'formulations' list of its own, it keeps the
    study's (edited on the formulations page, not part of the schedule)."""
    if "formulations" in data or "formulations" not in study.protocol:
        return data
    return {**data, "formulations": study.protocol["formulations"]}


def check_amendment(session: Session, study: Study, new_data: Any, library: Mapping[str, Instrument],
                    now: datetime | None = None) -> AmendmentCheck:
    """Check a new protocol version for a study and compare it with the current one.

    In: the new protocol's JSON data (an object), the instrument library. The new version must
    validate (`parse_protocol` against the library's instruments and sections), keep the study's
    protocol id, carry a version label never used by this study (1-32 characters) and change
    something besides the version. Out: `AmendmentCheck` (the difference and the impact on patients
    now). Raises AmendmentError with the reason; stores nothing.
    """
    if not isinstance(new_data, dict):
        raise AmendmentError(_("The protocol file must hold one JSON object."))
    try:
        protocol = parse_protocol(new_data, source="protocol", known_instruments=instrument_sections(library))
    except ProtocolError as exc:
        problem = protocol_problem(exc)  # in the reader's language, as every refusal here
        raise AmendmentError(_("The new protocol is not valid: %(problem)s", problem=problem)) from exc
    current = study_protocol(study)
    if protocol.id != current.id:
        raise AmendmentError(_("The new protocol is '%(new)s', the study follows '%(old)s': an amendment "
                               "keeps the protocol id.", new=protocol.id[:64], old=current.id))
    version = protocol.version.strip()
    if not version or len(version) > MAX_VERSION or version != protocol.version:
        raise AmendmentError(_("The version must be a label of 1 to %(n)s characters, without spaces "
                               "around it.", n=MAX_VERSION))
    used = set(session.scalars(select(StudyProtocol.version).where(StudyProtocol.study_id == study.id)))
    if version in used or version == study.protocol_version:
        raise AmendmentError(_("Version %(version)s is already used by this study: give the amendment a new "
                               "version.", version=version))
    data = _with_study_formulations(study, new_data)
    if {k: v for k, v in data.items() if k != "version"} == {
            k: v for k, v in study.protocol.items() if k != "version"}:
        raise AmendmentError(_("The new protocol is the same as the current one: nothing to amend."))
    difference = protocol_difference(current, protocol, study.protocol, data)
    impact = patient_impact(session, study, current, protocol, now)
    warnings = []
    if not version_follows(study.protocol_version, version):
        warnings.append(_("Version %(new)s is not after the current version %(old)s: check the number (it "
                          "is accepted, versions are ordered by when they were applied).",
                          new=version, old=study.protocol_version))
    warnings.extend(untranslated_labels(protocol))
    return AmendmentCheck(protocol=protocol, data=data, difference=difference, impact=impact,
                          base=protocol_fingerprint(study.protocol), warnings=tuple(warnings))


def untranslated_labels(protocol: Protocol) -> list[str]:
    """Warnings (translated) for the patient-visible texts of a protocol missing in a patient language.

    In: a parsed protocol. Out: one warning per language of `LANGUAGES` (any of which a patient may
    be given, by the study's default or their own) listing each timepoint whose label lacks that
    language or leaves it blank: those patients would read the English label. Timepoint labels are
    the protocol's only text patients see (its title and formulations are for staff).
    """
    warnings = []
    for lang in LANGUAGES:
        missing = [_("%(id)s (“%(label)s”)", id=tp.id, label=tp.label["en"]) for tp in protocol.timepoints
                   if not str(tp.label.get(lang) or "").strip()]
        if missing:
            language = Locale.parse(lang).get_display_name(str(get_locale() or "en"))
            warnings.append(_("Timepoints without a label in %(language)s: %(timepoints)s. Patients who read "
                              "%(language)s would see them in English.", language=language,
                              timepoints=format_list(missing, locale=str(get_locale() or "en"))))
    return warnings


def _version_number(label: str) -> tuple[int, ...] | None:
    """'2.10' -> (2, 10), trailing zeros dropped ('2.0.0' equals '2'); None for a label that is not
    dot-separated whole numbers ('v-next', '2026-11')."""
    parts = label.split(".")
    if not all(part.isdigit() and part.isascii() for part in parts):
        return None
    numbers = [int(part) for part in parts]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def version_follows(current: str, new: str) -> bool:
    """Whether version label `new` reads as after `current`: False only when both are dot-separated
    numbers and `new` is not greater ('2.1' -> '1.5', '2.0' -> '2.0.0'); True for free labels, which
    cannot be compared (nothing orders versions by their label: the history goes by date applied)."""
    old_number, new_number = _version_number(current), _version_number(new)
    return old_number is None or new_number is None or new_number > old_number


def apply_amendment(session: Session, study: Study, new_data: Any, library: Mapping[str, Instrument], *,
                    reason: str, actor: str, expected_base: str | None = None,
                    now: datetime | None = None) -> AmendmentCheck:
    """Check and apply a protocol amendment: the study follows the new version from now on.

    `reason` (required, at most MAX_REASON characters) is kept with the version and in the audit
    trail. `expected_base`: the fingerprint the amendment was checked against (`AmendmentCheck.base`);
    when the study's protocol has changed since, AmendmentConflict is raised and nothing is stored.
    Stores the new protocol and version on the study and a `StudyProtocol` row; makes completed
    patients whose new schedule has a window not yet closed active again (`patient.reactivate`,
    audited); audits one `study.protocol_amend` event (old and new version, reason, the summary of
    the difference and the impact). Responses keep the version they were started under. Raises
    AmendmentError (nothing stored); flushes; the caller commits.
    """
    reason = (reason or "").strip()
    if not reason:
        raise AmendmentError(_("Give the reason for the amendment."))
    if len(reason) > MAX_REASON:
        raise AmendmentError(_("The reason: at most %(n)s characters.", n=MAX_REASON))
    # One amendment at a time per study (PostgreSQL row lock; SQLite serialises writers anyway).
    session.execute(select(Study.id).where(Study.id == study.id).with_for_update())
    session.refresh(study, ["protocol", "protocol_version"])
    if expected_base is not None and expected_base != protocol_fingerprint(study.protocol):
        raise AmendmentConflict(_("The study's protocol was changed by someone else after your check "
                                  "(it is now version %(version)s): check the amendment again.",
                                  version=study.protocol_version))
    checked = check_amendment(session, study, new_data, library, now)
    old_version = study.protocol_version
    study.protocol = checked.data
    study.protocol_version = checked.protocol.version
    session.add(StudyProtocol(study_id=study.id, version=checked.protocol.version, protocol=checked.data,
                              reason=reason, applied_by=actor, applied_at=utcnow()))
    session.flush()
    for patient in session.scalars(select(Patient).where(Patient.study_id == study.id,
                                                         Patient.code.in_(checked.impact.reactivated))
                                   .options(selectinload(Patient.sessions))):
        if last_window_close(patient, study, now or utcnow()) is not None:
            continue
        old_on = patient.status_on.isoformat() if patient.status_on else None
        patient.status, patient.status_on = "active", None
        record(session, actor, "patient.reactivate", entity="patient", entity_id=patient.id,
               study_id=study.id, details={"patient": patient.code, "completed_on": old_on,
                                           "source": "protocol_amend", "version": checked.protocol.version})
    session.flush()
    record(session, actor, "study.protocol_amend", entity="study", entity_id=study.id, study_id=study.id,
           details={"old_version": old_version, "new_version": checked.protocol.version, "reason": reason,
                    "changes": checked.difference.summary(), "impact": checked.impact.summary()})
    return checked


def protocol_history(session: Session, study: Study) -> list[tuple[StudyProtocol, ProtocolDifference | None]]:
    """The study's protocol versions, newest first, each with its difference against the version before
    it (None for the version the study was created with, or a stored version that no longer parses)."""
    rows = list(session.scalars(select(StudyProtocol).where(StudyProtocol.study_id == study.id)
                                .order_by(StudyProtocol.applied_at, StudyProtocol.id)))
    history: list[tuple[StudyProtocol, ProtocolDifference | None]] = []
    previous: tuple[Protocol, dict[str, Any]] | None = None
    for row in rows:
        try:
            parsed: Protocol | None = parse_protocol(row.protocol, source=f"version {row.version}")
        except ProtocolError:
            parsed = None
        difference = None
        if parsed is not None and previous is not None:
            difference = protocol_difference(previous[0], parsed, previous[1], row.protocol)
        history.append((row, difference))
        if parsed is not None:
            previous = (parsed, row.protocol)
    return history[::-1]
