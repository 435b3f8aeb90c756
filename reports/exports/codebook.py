"""The variables of every export file, described once: the row generators write these columns,
and the codebook, the Table Schemas and the R/Stata/SPSS syntax are generated from them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from instruments import Instrument, categorical_scores
from reports.exports.csv_cells import csv_chunks, dialect_of
from reports.exports.deidentify import AGE_BANDS, Pseudonyms
from reports.exports.options import ExportOptions
from surveys.domain.clinician_stage import STAGE_INSTRUMENT, major_stage_labels, stage_choices
from surveys.domain.models import (
    CONSENT_METHODS,
    ERASURE_REASONS,
    PATIENT_STATUSES,
    SEXES,
    WITHDRAWAL_REASONS,
    Study,
)
from surveys.domain.patients import DIAGNOSES
from surveys.domain.protocol_history import ProtocolHistory, protocol_versions_of
from surveys.infra.db import utcnow

Code = int | str
SCORE_STATUSES = (("complete", "All items needed were answered"),
                  ("prorated", "Scored from the answered items (missing-item rule)"),
                  ("incomplete", "Too many missing items: scores are empty"))
ALERT_LEVELS = ((1, "next visit"), (2, "same-day review"), (3, "emergency"))


@dataclass(frozen=True)
class Variable:
    """One column of an export file."""

    name: str
    label: str
    type: str  # Table Schema type: integer, number, string, date, datetime
    codes: tuple[tuple[Code, str], ...] = ()
    instrument: str | None = None
    instrument_version: str | None = None
    validated: bool | None = None
    licence: str | None = None
    translation_status: str | None = None
    notes: str = ""
    exhaustive: bool = True  # False: the codes illustrate the values (no enum in the Table Schema)


@dataclass(frozen=True)
class ExportContext:
    """A study, the options of one export and the instruments it covers."""

    study: Study
    options: ExportOptions
    instruments: tuple[Instrument, ...]
    patient_id: int | None = None  # one data subject only (right of access), else the whole study
    #: the data subject's own copy (right of access): holds the data withheld from analysis too
    #: (consent withdrawn without keeping them, `surveys.domain.participation.data_analysable`)
    subject_access: bool = False
    #: every kept version of each instrument, oldest first (responses keep the version answered)
    versions: Mapping[str, tuple[Instrument, ...]] = field(default_factory=dict)
    # De-identified: how patients are named, one object per export so that every file of it
    # (and every format written from it) gives a patient the same pseudonym.
    pseudonyms: Callable[[int], str] = field(default_factory=Pseudonyms, compare=False)
    #: every version of the study's protocol (read from the study's session when not given)
    history: ProtocolHistory | None = field(default=None, compare=False)

    @property
    def deidentified(self) -> bool:
        return self.options.deidentified

    @property
    def protocols(self) -> ProtocolHistory:
        """Every version of the study's protocol, oldest first (responses name the one answered under)."""
        if self.history is None:
            object.__setattr__(self, "history", protocol_versions_of(self.study))
        assert self.history is not None
        return self.history

    def kept(self, inst: Instrument) -> tuple[Instrument, ...]:
        """The versions of an instrument an export describes, newest (current) first."""
        return tuple(reversed(self.versions.get(inst.id, (inst,))))

    def all_versions(self) -> tuple[Instrument, ...]:
        """Every kept version of every covered instrument, newest first within an instrument."""
        return tuple(version for inst in self.instruments for version in self.kept(inst))


def _translation(inst: Instrument) -> str:
    return "; ".join(f"{lang}: {inst.translation_status.get(lang, '?')}" for lang in inst.languages)


def _about(inst: Instrument) -> dict[str, Any]:
    return {"instrument": inst.id, "instrument_version": inst.version, "validated": inst.validated,
            "licence": inst.licence, "translation_status": _translation(inst)}


def band_names(inst: Instrument) -> dict[str, list[str]]:
    """The band names of each banded scale of an instrument."""
    return {rule["score"]: [r["name"] for r in rule.get("ranges", ())]
            for rule in inst.scoring.get("bands", ())}


def flag_names(inst: Instrument) -> list[str]:
    """The ids of the flags an instrument can raise."""
    return [rule["id"] for rule in inst.scoring.get("flags", ())]


def _timepoint_codes(ctx: ExportContext) -> tuple[tuple[Code, str], ...]:
    """Every timepoint any version of the protocol defined, labelled from its own version; one removed by
    an amendment says which versions had it (its answers stay under the version they were given in)."""
    lang, history = ctx.options.lang, ctx.protocols
    codes = []
    for tp in history.timepoints():
        label = tp.label_for(lang)
        if tp.anchor == "each_session":
            codes.append((f"{tp.id}1, {tp.id}2, ...", label.replace("{n}", "n")))
            continue
        had = [version for version, protocol in history.versions.items()
               if any(known.id == tp.id for known in protocol.timepoints)]
        if tp.id not in {known.id for known in history.current.timepoints}:
            label += f" (protocol version {', '.join(had)} only; removed by an amendment)"
        codes.append((tp.id, label))
    return tuple(codes)


def _protocol_versions(ctx: ExportContext) -> tuple[tuple[Code, str], ...]:
    """The study's protocol versions, oldest first, the current one marked."""
    return tuple((version, f"{protocol.id} {version}" + (" (current)" if protocol is ctx.protocols.current
                                                        else ""))
                 for version, protocol in ctx.protocols.versions.items())


def _protocol_version(ctx: ExportContext, inst: Instrument | None = None) -> Variable:
    """The protocol version a response was answered under (of `inst`'s response, in wide.csv)."""
    label = ("Version of the study protocol the response was started under (a protocol amendment never "
             "moves answers already given; the timepoint is that version's)")
    # Not an enum: a stored version that no longer parses is left out of the codes, not out of the data.
    if inst is None:
        return Variable("protocol_version", label, "string", _protocol_versions(ctx), exhaustive=False)
    return Variable(f"{inst.id}_protocol_version", f"{label}: {inst.id}", "string", _protocol_versions(ctx),
                    exhaustive=False, **_about(inst))


def _patient(ctx: ExportContext) -> Variable:
    if not ctx.deidentified:
        return Variable("patient", "Patient code in the study (joins every file of the export)", "string")
    if ctx.options.stable_ids:
        return Variable("patient", "Patient pseudonym, the same in every file and every stable-id export "
                        "of this study (keyed hash; not the study code)", "string")
    return Variable("patient", "Patient pseudonym, the same in every file of this export and new for "
                    "every export (not the study code)", "string")


def _leading(ctx: ExportContext) -> list[Variable]:
    return [
        _patient(ctx),
        Variable("timepoint", "Timepoint of the study protocol", "string",
                 _timepoint_codes(ctx), exhaustive=False),
        Variable("days_since_first_session", "Days from the first treatment session to the "
                 "submission, both local days of the study's time zone; negative before it, empty if no "
                 "session is recorded", "integer"),
    ]


#: How a response was collected (surveys.domain.models.MODES), with its label.
MODE_CODES = (
    ("own_device", "On the patient's own device, with their personal link"),
    ("tablet_in_clinic", "On a clinic tablet in the clinic (answer in clinic)"),
    ("staff_interview", "Read out and recorded by staff (interview)"),
    ("paper_entry", "On paper, transcribed by staff"),
)


def _response_variables(ctx: ExportContext) -> list[Variable]:
    """What every row of long.csv and scores.csv says about its response: instrument, version,
    protocol version, language, mode of administration."""
    lang = ctx.options.lang
    return [
        Variable("instrument", "Instrument id", "string",
                 tuple((i.id, i.title.get(lang, i.id)) for i in ctx.instruments)),
        Variable("instrument_version", "Version of the instrument definition answered (the response is "
                 "scored and labelled with that version's rules)", "string",
                 tuple((i.version, f"{i.id} {i.version}") for i in ctx.all_versions()), exhaustive=False),
        _protocol_version(ctx),
        Variable("language", "Language the patient answered in", "string",
                 (("en", "English"), ("fr", "French"))),
        _mode(),
    ]


def _mode(inst: Instrument | None = None) -> Variable:
    """The mode of administration of a response (of `inst`'s response, in wide.csv)."""
    if inst is None:
        return Variable("mode", "Mode of administration", "string", MODE_CODES)
    return Variable(f"{inst.id}_mode", f"Mode of administration of {inst.id}", "string", MODE_CODES,
                    **_about(inst))


def long_variables(ctx: ExportContext) -> list[Variable]:
    """Columns of long.csv: one row per answer."""
    lang = ctx.options.lang
    variables = [
        *_leading(ctx),
        *_response_variables(ctx),
        Variable("window_extended", "1 when the response was given after its window's own close, in a "
                 "window staff reopened or extended for this patient (with a reason, audited)", "integer",
                 ((0, "no"), (1, "yes"))),
        Variable("status", "Scoring status of the response the answer belongs to (as in scores.csv; "
                 "prorated: scored from the answered items by the missing-item rule)", "string",
                 SCORE_STATUSES),
        Variable("item", "Item id within the instrument; wide.csv column <instrument>_<item> "
                 "gives its question and codes", "string"),
        Variable("code", "Answer code (empty for free text)", "integer"),
        Variable("label", f"Label of the answer code ({lang})", "string"),
    ]
    if not ctx.deidentified:
        variables += [Variable("text", "Free-text answer (text items only)", "string"),
                      Variable("answered_at", "When the answer was saved (UTC)", "datetime")]
    return variables


#: What the codebook says of a categorical score (instruments.categorical_scores).
CATEGORY_NOTE = ("a category, not a measurement: count each code, never average the codes nor read "
                 "their differences as distances")


def _only_in(version: Instrument, current: Instrument) -> str:
    return "" if version is current else f"Asked in version {version.version} only; "


def _worded_otherwise(ctx: ExportContext, inst: Instrument, item_id: str, text: str) -> str:
    """A note naming each other kept version that asked the same item id in other words (e.g. a new
    recall period): the column holds both, each row's version says which wording was answered."""
    lang = ctx.options.lang
    notes = []
    for version in ctx.kept(inst):
        if version.has_item(item_id):
            other = version.item(item_id).texts.get(lang, item_id)
            if other != text:
                notes.append(f"Version {version.version} asked: '{other}'. ")
    return "".join(notes)


_OPERATORS = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}


def condition_text(condition: Any, prefix: str = "") -> str:
    """A show_if condition (instruments/conditions.py) as a readable sentence over export column names."""
    if not isinstance(condition, Mapping):
        return str(condition)
    if "all" in condition:
        return " and ".join(f"({condition_text(c, prefix)})" for c in condition["all"])
    if "any" in condition:
        return " or ".join(f"({condition_text(c, prefix)})" for c in condition["any"])
    if "not" in condition:
        return f"not ({condition_text(condition['not'], prefix)})"
    if "same" in condition:
        return "same answer to " + ", ".join(f"{prefix}{i}" for i in condition["same"])
    subject = (f"{prefix}{condition['item']}" if "item" in condition
               else f"score {condition.get('score') or condition.get('context')}")
    for op, sign in _OPERATORS.items():
        if op in condition:
            return f"{subject} {sign} {condition[op]}"
    if "in" in condition:
        return f"{subject} in {{{', '.join(str(v) for v in condition['in'])}}}"
    return json.dumps(condition, sort_keys=True)


def _asked(inst: Instrument, show_if: Any) -> str:
    if show_if is None:
        return "Asked of everyone who answers the instrument"
    return f"Asked only if {condition_text(show_if, f'{inst.id}_')}"


MISSING_NOTE = ("Missing: an empty cell means not asked (condition false) or not answered; in wide.sav "
                "and wide.dta an item whose condition did not hold is -98 (SPSS user-missing) / .a "
                "(Stata), labelled 'not asked'")


def _item_variables(ctx: ExportContext, inst: Instrument) -> list[Variable]:
    """The item columns: the current version's items, then those only older versions asked."""
    lang, labels = ctx.options.lang, ctx.options.values == "labels"
    out = []
    seen: set[str] = set()
    for version in ctx.kept(inst):
        for item in version.items:
            if item.id in seen:
                continue
            seen.add(item.id)
            older = _only_in(version, inst)
            asked = _asked(inst, item.show_if)
            if item.is_text:
                if not ctx.deidentified:
                    notes = f"{older}Free text; never scored. {asked}. {MISSING_NOTE}."
                    out.append(Variable(f"{inst.id}_{item.id}", item.texts.get(lang, item.id), "string",
                                        notes=notes, **_about(version)))
                continue
            codes = tuple((o.code, o.labels.get(lang, str(o.code))) for o in item.options)
            worded = _worded_otherwise(ctx, inst, item.id, item.texts.get(lang, item.id))
            notes = f"{older}{worded}{'Option labels. ' if labels else ''}{asked}. {MISSING_NOTE}."
            out.append(Variable(f"{inst.id}_{item.id}", item.texts.get(lang, item.id),
                                "string" if labels else "integer", codes, notes=notes, **_about(version)))
    return out


def _score_variables(ctx: ExportContext, inst: Instrument, *, status: bool) -> list[Variable]:
    out = []
    if status:
        out.append(Variable(f"{inst.id}_status", f"Scoring status of {inst.id} (prorated: scored from "
                            "the answered items by the missing-item rule)", "string",
                            SCORE_STATUSES, **_about(inst)))
        out.append(_mode(inst))
        out.append(_protocol_version(ctx, inst))
    seen: set[str] = set()
    flags: list[str] = []
    for version in ctx.kept(inst):
        bands = band_names(version)
        categories = categorical_scores(version, ctx.options.lang)
        for rule in version.scoring.get("scores", ()):
            scale = rule["name"]
            if scale in seen:
                continue
            seen.add(scale)
            older = _only_in(version, inst)
            note = str(rule.get("note", "")).rstrip(".")
            versioned = f"{older}{note + '. ' if note else ''}Scoring version {version.scoring_version}"
            if scale in categories:  # e.g. a Norwood-Hamilton stage: a category, never averaged
                out.append(Variable(f"{inst.id}_{scale}_score", f"{inst.id} score '{scale}' (category)",
                                    "integer", tuple(categories[scale].items()),
                                    notes=f"{versioned}; {CATEGORY_NOTE}", **_about(version)))
                continue
            out.append(Variable(f"{inst.id}_{scale}_score", f"{inst.id} score '{scale}'", "number",
                                notes=f"{versioned}; values rounded by a rule are rounded half up",
                                **_about(version)))
            if scale in bands:
                out.append(Variable(f"{inst.id}_{scale}_band", f"{inst.id} band of '{scale}'", "string",
                                    tuple((b, b.replace("_", " ")) for b in bands[scale]),
                                    notes=f"{older}Screening information, never a diagnosis",
                                    **_about(version)))
        flags += [f for f in flag_names(version) if f not in flags]
    if status:
        out.append(Variable(f"{inst.id}_flags", f"Flags raised by {inst.id}, separated by ';'", "string",
                            tuple((f, f.replace("_", " ")) for f in flags), exhaustive=False,
                            **_about(inst)))
    return out


def _participation_variables(ctx: ExportContext) -> list[Variable]:
    """The patient's participation at the time of the export: status, its date, why they left."""
    when = (Variable("participation_day", "Days from the first treatment session to the date of the "
                     "participation status (withdrawal or completion); empty while active", "integer")
            if ctx.deidentified else
            Variable("participation_date", "Local date (study time zone) the participation status took "
                     "effect: withdrawal, or close of the last window; empty while active", "date"))
    return [
        Variable("participation", "Participation status at the time of the export (erased: only the "
                 "code and enrollment are kept; withdrawn with consent_withdrawn_discard_data: the data "
                 "collected are withheld from every file until they are erased)", "string",
                 tuple((s, s) for s in PATIENT_STATUSES)),
        when,
        Variable("withdrawal_reason", "Why the patient left the study", "string",
                 tuple((r, r.replace("_", " ")) for r in WITHDRAWAL_REASONS)),
    ]


def _background(ctx: ExportContext) -> list[Variable]:
    background = [Variable("sex", "Sex", "string", tuple((s, s) for s in SEXES))]
    if ctx.deidentified:
        background.append(Variable("age_band", "Age band at enrollment (years)", "string",
                                   tuple((b, b) for b in AGE_BANDS)))
    else:
        background.append(Variable("birth_year", "Year of birth", "integer"))
    background.append(Variable("diagnosis", "Diagnosis", "string",
                               tuple((d, d.replace("_", " ")) for d in DIAGNOSES)))
    return background


def patients_variables(ctx: ExportContext) -> list[Variable]:
    """Columns of patients.csv: one row per patient of the study (the table every file joins)."""
    variables = [_patient(ctx), *_background(ctx)]
    if not ctx.deidentified:
        variables.append(Variable("enrolled_on", "Day of enrollment (local, study time zone)", "date"))
    variables.append(Variable("prior_treatment_count", "Number of prior treatments recorded "
                              "(one row each in prior_treatments.csv, identified exports)", "integer"))
    erasure = Variable("erasure_reason", "Why the patient's data were erased (the tombstone's reason); "
                       "empty unless participation is erased", "string",
                       tuple((r, r.replace("_", " ")) for r in ERASURE_REASONS))
    return variables + _consent_variables(ctx) + _participation_variables(ctx) + [erasure]


def _consent_variables(ctx: ExportContext) -> list[Variable]:
    """The patient's latest consent (the newest version they consented to); empty when none."""
    when = (Variable("consent_day", "Days from the first treatment session to the day consent was given "
                     "(negative: before it)", "integer")
            if ctx.deidentified else
            Variable("consent_date", "Local date (study time zone) consent was given", "date"))
    return [
        Variable("consent_version", "Consent version the patient consented to (the newest one)", "string"),
        when,
        Variable("consent_method", "How consent was obtained (patient_device: accepted by the patient on "
                 "their phone or a clinic tablet)", "string",
                 tuple((m, m.replace("_", " ")) for m in CONSENT_METHODS)),
    ]


def formulation_codes(study: Study, lang: str) -> tuple[tuple[Code, str], ...]:
    """The study's list of formulations (protocol "formulations"): (id, label) pairs."""
    out = []
    for entry in study.protocol.get("formulations", []):
        label = entry.get("label", {})
        out.append((entry["id"], label.get(lang) or label.get("en") or entry["id"]))
    return tuple(out)


def sessions_variables(ctx: ExportContext) -> list[Variable]:
    """Columns of sessions.csv: one row per treatment session."""
    variables = [_patient(ctx),
                 Variable("session", "Session number (1 = first treatment session)", "integer")]
    if not ctx.deidentified:
        variables.append(Variable("date", "Day of the session (as recorded, the study's local day)", "date"))
    variables += [
        Variable("days_since_first_session", "Days from the first treatment session to this one", "integer"),
        Variable("formulation", "Formulation, from the study's list; empty when what was recorded "
                 "matches none of it", "string", formulation_codes(ctx.study, ctx.options.lang)),
    ]
    if not ctx.deidentified:
        variables += [
            Variable("formulation_as_recorded", "Agents / formulation as typed by staff", "string",
                     notes="Free text"),
            Variable("notes", "Staff notes on the session", "string", notes="Free text"),
        ]
    return variables


def prior_treatments_variables(ctx: ExportContext) -> list[Variable]:
    """Columns of prior_treatments.csv: one row per prior treatment (identified exports only)."""
    return [_patient(ctx), Variable("number", "Order in which the treatment was recorded", "integer"),
            Variable("treatment", "Prior treatment as typed by staff", "string", notes="Free text")]


STAGE_SCALES = (("norwood", "Norwood-Hamilton"), ("sinclair", "Sinclair"))


def stage_instrument(ctx: ExportContext) -> Instrument | None:
    """The self-rated stage instrument (hair_stage, current) whose codes the clinician's stage uses."""
    return next((inst for inst in ctx.instruments if inst.id == STAGE_INSTRUMENT), None)


def _stage_codes(ctx: ExportContext, scale: str) -> tuple[tuple[Code, str], ...]:
    """The stages of one scale of the self-rated stage instrument, labelled in the export's language."""
    inst = stage_instrument(ctx)
    stages = stage_choices(inst, ctx.options.lang) if inst else []
    return tuple((s.code, s.label) for s in stages if s.scale == scale)


def clinician_stages_variables(ctx: ExportContext) -> list[Variable]:
    """Columns of clinician_stages.csv: one row per patient and timepoint the clinician staged."""
    variables = [
        _patient(ctx),
        Variable("timepoint", "Timepoint of the study protocol at which the clinician staged the patient",
                 "string", _timepoint_codes(ctx), exhaustive=False),
        Variable("scale", "Stage system the clinician used", "string", STAGE_SCALES),
        Variable("norwood", "Clinician's Norwood-Hamilton stage (a category: never averaged); empty when "
                 "the Sinclair scale was used", "integer", _stage_codes(ctx, "norwood"),
                 notes="Same codes as the self-rated stage's norwood item (hair_stage, wide.csv)"),
        Variable("norwood_major", "Major Norwood-Hamilton stage I-VII derived from the clinician's stage "
                 "(a-variants and III vertex to their major stage), by the self-rated stage's own rule",
                 "integer", tuple(major_stage_labels(stage_instrument(ctx), "norwood").items()),
                 notes="Empty for a Sinclair stage"),
        Variable("sinclair", "Clinician's Sinclair stage (a category: never averaged); empty when the "
                 "Norwood-Hamilton scale was used", "integer", _stage_codes(ctx, "sinclair"),
                 notes="Same codes as the self-rated stage's sinclair item (hair_stage, wide.csv)"),
        Variable("instrument_version", "Version of the hair_stage definition whose codes the stage uses",
                 "string"),
    ]
    if not ctx.deidentified:
        variables.append(Variable("recorded_at", "When the clinician's stage was recorded (UTC)", "datetime"))
    return variables


#: The alert lifecycle's closed vocabularies (surveys.domain.alert_models), with their labels.
ALERT_STATE_CODES = (("open", "open: nobody has tried to reach the patient yet"),
                     ("in_progress", "in progress: a contact attempt was recorded"),
                     ("resolved", "resolved by a clinician"))
OUTCOME_CODES = (("advice_given", "advice given"), ("seen_in_clinic", "seen in clinic"),
                 ("emergency_care", "sent to emergency care"), ("no_action_needed", "no action needed"))
#: CTCAE v5.0 general grade descriptions (NCI, Common Terminology Criteria for Adverse Events).
CTCAE_GRADES = ((1, "mild"), (2, "moderate"), (3, "severe or medically significant"),
                (4, "life-threatening"), (5, "death related to the adverse event"))
RELATEDNESS_CODES = (("not_related", "not related"), ("unlikely", "unlikely"), ("possible", "possible"),
                     ("probable", "probable"), ("definite", "definite"))
NO_YES = ((0, "no"), (1, "yes"))


def alerts_variables(ctx: ExportContext) -> list[Variable]:
    """Columns of alerts.csv: one row per safety alert (adverse event signal) raised by a response,
    with its lifecycle (issue 13): contact attempts, the resolution in force and its assessment."""
    lang = ctx.options.lang
    resolved = "the resolution in force; empty unless resolved"
    variables = [
        *_leading(ctx),
        Variable("instrument", "Instrument whose answers raised the alert", "string",
                 tuple((i.id, i.title.get(lang, i.id)) for i in ctx.instruments)),
        _protocol_version(ctx),
        Variable("level", "Alert level (the highest reached; never lowered)", "integer", ALERT_LEVELS),
        Variable("rules", "Ids of the alert rules that matched, separated by ';' (rule ids never "
                 "contain ';')", "string"),
        Variable("state", "State of the alert at the time of the export", "string", ALERT_STATE_CODES),
        Variable("contact_attempts", "Number of attempts recorded to reach the patient about the alert",
                 "integer"),
        Variable("hours_to_first_contact", "Hours from the alert being raised to the first contact attempt "
                 "(whatever its result); empty when none was recorded", "number",
                 notes="Rounded half up to 0.01 h"),
        Variable("hours_to_resolution", f"Hours from the alert being raised to its resolution ({resolved})",
                 "number",
                 notes="Rounded half up to 0.01 h; a reopened alert counts to its latest resolution"),
        Variable("outcome", f"Outcome of the resolution ({resolved})", "string", OUTCOME_CODES,
                 notes="Alerts resolved before outcomes were recorded (migration 0010) have none"),
        Variable("ctcae_grade", f"Clinician's grade of the adverse event, CTCAE-style ({resolved})",
                 "integer", CTCAE_GRADES,
                 notes="The clinician's assessment, distinct from the patient's own severity words"),
        Variable("relatedness", f"Relatedness of the event to the treatment ({resolved})", "string",
                 RELATEDNESS_CODES),
        Variable("serious", f"Serious adverse event, as judged by the clinician ({resolved})", "integer",
                 NO_YES),
        Variable("reopened", "Number of times the alert was reopened after a resolution", "integer"),
    ]
    if not ctx.deidentified:
        variables += [
            Variable("raised_at", "When the alert was raised (UTC)", "datetime"),
            Variable("notified_at", "When the first on-call notice was sent (UTC)", "datetime"),
            Variable("first_contact_at", "When the first contact attempt happened (UTC)", "datetime"),
            Variable("resolved_at", f"When the alert was resolved (UTC; {resolved})", "datetime"),
            Variable("resolution_note", f"Note written on resolution ({resolved})", "string",
                     notes="Free text; left out of de-identified exports, as are contact attempts' notes"),
        ]
    return variables


#: Who changed an answer, as a role (reports.exports.answer_history.changed_by).
CHANGED_BY_CODES = (("patient", "the patient (own device or clinic tablet)"),
                    ("coordinator", "a coordinator (paper entry or interview)"),
                    ("clinician", "a clinician (paper entry or interview)"),
                    ("admin", "an administrator (paper entry or interview)"),
                    ("staff", "a staff member whose account no longer exists"))
CHANGE_KINDS = (("changed", "replaced by another answer"),
                ("cleared", "dropped: another answer hid the item"),
                ("given_again", "answered again after it had been cleared"))


def answer_history_variables(ctx: ExportContext) -> list[Variable]:
    """Columns of answer_history.csv: one row per change of an answer after it was first given."""
    lang = ctx.options.lang
    variables = [
        _patient(ctx),
        Variable("timepoint", "Timepoint of the response", "string",
                 _timepoint_codes(ctx), exhaustive=False),
        Variable("days_since_first_session", "Days from the first treatment session to the change, both "
                 "local days of the study's time zone; negative before it, empty if no session is recorded",
                 "integer"),
        *_response_variables(ctx)[:3],
        Variable("item", "Item id within the instrument (long.csv's item)", "string"),
        Variable("version", "Version of the item's answer this change made: 2 for the first change "
                 "(version 1 is the first answer given), then 3, ...", "integer"),
        Variable("change", "What happened to the answer", "string", CHANGE_KINDS),
        Variable("old_code", "Answer code before the change (empty: none, or free text)", "integer"),
        Variable("old_label", f"Label of old_code ({lang})", "string"),
        Variable("new_code", "Answer code after the change (empty: cleared, or free text)", "integer"),
        Variable("new_label", f"Label of new_code ({lang})", "string"),
        Variable("changed_by", "Who changed it, as a role (never a name)", "string", CHANGED_BY_CODES),
    ]
    if not ctx.deidentified:
        variables += [
            Variable("old_text", "Free-text answer before the change (text items only)", "string",
                     notes="Free text"),
            Variable("new_text", "Free-text answer after the change (text items only)", "string",
                     notes="Free text"),
            Variable("changed_at", "When the answer changed (UTC)", "datetime"),
            Variable("changed_local_date", f"Local date of the change in the study's time zone "
                     f"({ctx.study.timezone})", "date"),
        ]
    return variables


def wide_variables(ctx: ExportContext) -> list[Variable]:
    """Columns of wide.csv: one row per patient and timepoint."""
    variables = _leading(ctx) + _background(ctx) + _participation_variables(ctx)
    for inst in ctx.instruments:
        variables += _item_variables(ctx, inst) + _score_variables(ctx, inst, status=True)
    return _unique(variables)


def scores_variables(ctx: ExportContext) -> list[Variable]:
    """Columns of scores.csv: one row per response, one column per scale of every instrument."""
    variables = [
        *_leading(ctx),
        *_response_variables(ctx),
        Variable("status", "Scoring status", "string", SCORE_STATUSES),
        Variable("scoring_version", "Version of the scoring rules the scores were computed with", "string"),
        Variable("flags", "Flags raised, separated by ';'", "string"),
    ]
    if not ctx.deidentified:
        variables.append(Variable("submitted_at", "When the response was submitted (UTC)", "datetime"))
        variables.append(Variable(
            "submitted_local_date",
            f"Local date of submission in the study's time zone ({ctx.study.timezone})",
            "date", notes="The calendar day in the clinic's zone: an answer at 23:30 in Paris is that day, "
                          "though submitted_at (UTC) may already show the next."))
    for inst in ctx.instruments:
        variables += _score_variables(ctx, inst, status=False)
    return _unique(variables)


def _unique(variables: list[Variable]) -> list[Variable]:
    names = [v.name for v in variables]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:  # a private instrument whose item ids clash with score column names
        raise ValueError(f"Export columns would repeat: {', '.join(duplicates)}")
    return variables


def file_variables(ctx: ExportContext) -> dict[str, list[Variable]]:
    """Every data file of an export with its columns (prior treatments only when identified)."""
    files = {"patients.csv": patients_variables(ctx), "long.csv": long_variables(ctx),
             "wide.csv": wide_variables(ctx), "scores.csv": scores_variables(ctx),
             "answer_history.csv": answer_history_variables(ctx), "sessions.csv": sessions_variables(ctx)}
    if not ctx.deidentified:
        files["prior_treatments.csv"] = prior_treatments_variables(ctx)
    files["alerts.csv"] = alerts_variables(ctx)
    files["clinician_stages.csv"] = clinician_stages_variables(ctx)
    return files


# The columns that identify a row of each file (its Table Schema primary key). Every file but
# patients.csv refers to patients.csv through `patient` (a foreign key); answer_history.csv also
# refers to its response's row of scores.csv (FOREIGN_KEYS).
PRIMARY_KEYS = {
    "patients.csv": ("patient",),
    "long.csv": ("patient", "timepoint", "instrument", "item"),
    "wide.csv": ("patient", "timepoint"),
    "scores.csv": ("patient", "timepoint", "instrument"),
    "answer_history.csv": ("patient", "timepoint", "instrument", "item", "version"),
    "sessions.csv": ("patient", "session"),
    "prior_treatments.csv": ("patient", "number"),
    "alerts.csv": ("patient", "timepoint", "instrument"),
    "clinician_stages.csv": ("patient", "timepoint"),
}


#: Foreign keys beyond `patient` -> patients.csv: file -> [(columns, referenced file)].
FOREIGN_KEYS = {
    "answer_history.csv": [(("patient", "timepoint", "instrument"), "scores.csv")],
}


CODEBOOK_COLUMNS = ("file", "variable", "label", "type", "codes", "instrument", "instrument_version",
                    "validated", "licence", "translation_status", "notes")


def _codes_text(codes: Sequence[tuple[Code, str]]) -> str:
    return " | ".join(f"{code}={label}" for code, label in codes)


def codebook_rows(ctx: ExportContext) -> Iterator[list[Any]]:
    """One codebook row per variable of every file."""
    for file, variables in file_variables(ctx).items():
        for v in variables:
            yield [file, v.name, v.label, v.type, _codes_text(v.codes), v.instrument, v.instrument_version,
                   None if v.validated is None else ("yes" if v.validated else "no"),
                   v.licence, v.translation_status, v.notes]


def codebook_csv(ctx: ExportContext) -> Iterator[bytes]:
    """The codebook as CSV chunks."""
    return csv_chunks(CODEBOOK_COLUMNS, codebook_rows(ctx),
                      dialect=dialect_of(ctx.options.excel, ctx.options.excel_locale))


def codebook_document(ctx: ExportContext) -> dict[str, Any]:
    """The codebook as a JSON-ready document."""
    files = {}
    for file, variables in file_variables(ctx).items():
        files[file] = [{**asdict(v), "codes": [{"code": c, "label": label} for c, label in v.codes]}
                       for v in variables]
    return {
        "study": ctx.study.code,
        "generated_at": utcnow().isoformat(timespec="seconds"),
        "options": ctx.options.audit_details(),
        "instruments": [{"id": i.id, "version": i.version, "title": dict(i.title), "citation": i.citation,
                         "licence": i.licence, "validated": i.validated,
                         "translation_status": dict(i.translation_status), "notes": i.notes,
                         "current": i in ctx.instruments} for i in ctx.all_versions()],
        "files": files,
    }


def codebook_json(ctx: ExportContext) -> Iterator[bytes]:
    """The codebook as one JSON chunk (it is small: a few hundred variables)."""
    yield json.dumps(codebook_document(ctx), ensure_ascii=False, indent=2).encode("utf-8")
