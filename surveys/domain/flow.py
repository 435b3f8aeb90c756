"""Where a patient stands: their windows, what is left to answer and which item comes next.

No Flask here: the views ask these functions, and so do the reminders and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from instruments import Instrument, Item, visible_items
from surveys.domain.links import PatientLike, StudyLike
from surveys.domain.models import Alert, Answer, Response, Score
from surveys.domain.patients import patient_anchors, study_protocol
from surveys.domain.protocol import Protocol, ProtocolInstrument, session_number
from surveys.domain.responses import answer_value
from surveys.domain.schedule import Window, compute_schedule, window_for
from surveys.infra.db import utcnow


def protocol_of(study: StudyLike) -> Protocol:
    """The study's parsed protocol snapshot."""
    return study_protocol(study)


# Built once (every patient page runs them): no per-call statement construction or cache-key work.
_STATES = select(Response.timepoint, Response.instrument_id, Response.status).where(
    Response.patient_id == bindparam("patient_id")
)
# Each response's status, with the answers of one part alongside (NULLs for the other responses).
_STATES_AND_ANSWERS = (
    select(Response.timepoint, Response.instrument_id, Response.status, Response.instrument_version,
           Response.language, Answer.item_id, Answer.code, Answer.text)
    .outerjoin(Answer, and_(Answer.response_id == Response.id,
                            Response.timepoint == bindparam("timepoint"),
                            Response.instrument_id == bindparam("instrument_id")))
    .where(Response.patient_id == bindparam("patient_id"))
)


def response_states(session: Session, patient: PatientLike) -> dict[tuple[str, str], str]:
    """(timepoint, instrument) -> status of each of the patient's responses."""
    rows = session.execute(_STATES, {"patient_id": patient.id})
    return {(tp, inst): status for tp, inst, status in rows}


@dataclass(frozen=True, slots=True)
class PartState:
    """The patient's response statuses, and one part's stored answers and definition version.

    `version` is the instrument version the part's response was started in (None before its first
    answer: the current version will be used). `started_in` is the language that response was
    started in (None before its first answer); it fixes the order of the part's items (`shown_items`'
    `lang`): a patient who switches language halfway keeps their place, their progress and every
    answer, and sees the rest in the new language.
    """

    states: dict[tuple[str, str], str]
    answers: dict[str, int | str | None]
    version: str | None
    started_in: str | None = None


def states_and_answers(
    session: Session, patient: PatientLike, timepoint: str, instrument_id: str
) -> PartState:
    """`response_states`, and the stored answers, version and started-in language of one part, in one
    statement (see `PartState`)."""
    states: dict[tuple[str, str], str] = {}
    answers: dict[str, int | str | None] = {}
    version = None
    started_in: str | None = None
    rows = session.execute(
        _STATES_AND_ANSWERS,
        {"patient_id": patient.id, "timepoint": timepoint, "instrument_id": instrument_id},
    )
    for tp, inst, status, inst_version, language, item, code, text in rows:
        states[tp, inst] = status
        if tp == timepoint and inst == instrument_id:
            version = inst_version
            started_in = language
        if item is not None:
            answers[item] = answer_value(code, text)
    return PartState(states, answers, version, started_in)


def window_alert_level(session: Session, patient: PatientLike, timepoint: str) -> int:
    """The highest safety-alert level the patient's answers in a window raised (0: none)."""
    level = session.scalar(
        select(func.max(Alert.level)).join(Response, Response.id == Alert.response_id)
        .where(Response.patient_id == patient.id, Response.timepoint == timepoint)
    )
    return int(level or 0)


def patient_windows(
    patient: PatientLike, protocol: Protocol, states: Mapping[tuple[str, str], str],
    now: datetime | None = None,
) -> list[Window]:
    """The patient's windows, a timepoint counting as completed once all its parts are submitted.

    Same result as `patient_schedule` given the completed timepoints, computed in one pass.
    """
    windows = [
        replace(w, state="completed")
        if w.instruments and all(states.get((w.timepoint, e.instrument)) == "submitted"
                                 for e in w.instruments)
        else w
        for w in compute_schedule(protocol, patient_anchors(patient), now or utcnow())
    ]
    if patient.status != "active":
        return [w for w in windows if w.state in ("completed", "closed")]
    return windows


def find_window(windows: Sequence[Window], timepoint: str) -> Window | None:
    """The window of a timepoint id, if this patient has it."""
    return window_for(windows, timepoint)


def next_entry(window: Window, states: Mapping[tuple[str, str], str]) -> ProtocolInstrument | None:
    """The first part of a window not yet submitted, or None when all are."""
    return next(
        (e for e in window.instruments if states.get((window.timepoint, e.instrument)) != "submitted"), None
    )


def entry_of(window: Window, instrument_id: str) -> ProtocolInstrument | None:
    """The window's protocol entry for an instrument, if it asks that instrument."""
    return next((e for e in window.instruments if e.instrument == instrument_id), None)


def treatment_number(window: Window) -> int | None:
    """The treatment session a per-session window follows (S3 -> 3), else None."""
    if window.session_number is not None:
        return window.session_number
    return session_number(window.timepoint)


# --- one instrument, one item per screen ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Screen:
    """The item on screen, its place among the items shown, and the answers so far."""

    item: Item
    position: int
    total: int
    previous: Item | None


def shown_items(
    instrument: Instrument, answers: Mapping[str, object], lang: str, section: str | None
) -> list[Item]:
    """The items asked for these answers, in the language's order, limited to a section.

    Pass the language the response was started in (not the one on screen) once it exists: an
    instrument may order its items differently per language (RSES in French).
    """
    return visible_items(instrument, answers, lang, section)


def is_required(item: Item) -> bool:
    """Whether an item needs an answer before its instrument is finished (free text never does)."""
    return not (item.is_text and item.optional_text)


def resume_item(items: Sequence[Item], answers: Mapping[str, object]) -> Item | None:
    """Where a patient coming back starts: the first unanswered item the form needs, else the first
    unanswered optional one, else the last item."""
    unanswered = [item for item in items if answers.get(item.id) is None]
    required = [item for item in unanswered if is_required(item)]
    if required:
        return required[0]
    if unanswered:
        return unanswered[0]
    return items[-1] if items else None


def item_after(items: Sequence[Item], item_id: str) -> Item | None:
    """The item shown after `item_id`, or None at the end."""
    ids = [item.id for item in items]
    if item_id not in ids:
        return None
    index = ids.index(item_id)
    return items[index + 1] if index + 1 < len(items) else None


def item_before(items: Sequence[Item], item_id: str) -> Item | None:
    """The item shown before `item_id`, or None at the start."""
    ids = [item.id for item in items]
    if item_id not in ids:
        return None
    index = ids.index(item_id)
    return items[index - 1] if index > 0 else None


def is_finished(items: Sequence[Item], answers: Mapping[str, object]) -> bool:
    """True when every shown item that needs an answer has one."""
    return all(answers.get(item.id) is not None for item in items if is_required(item))


def screen_for(items: Sequence[Item], answers: Mapping[str, object], cursor: str | None) -> Screen | None:
    """The screen to show: the item under the cursor if it is still shown, else where to resume."""
    ids = [item.id for item in items]
    item = items[ids.index(cursor)] if cursor in ids else resume_item(items, answers)
    if item is None:
        return None
    return Screen(item=item, position=ids.index(item.id) + 1, total=len(items),
                  previous=item_before(items, item.id))


@dataclass(frozen=True, slots=True)
class QuestionNumber:
    """An item's place counted over the part's main questions only: a stable denominator.

    Follow-up questions (shown after an answer, e.g. "how bad was it?" after "yes") carry the
    number of the question they follow (`follow_up`), so "Question 2 of 8" never becomes
    "Question 2 of 20" as follow-ups appear.
    """

    number: int
    total: int
    follow_up: bool


_NUMBERING: dict[tuple[str, str, str, str | None], dict[str, tuple[int, bool]]] = {}


def _numbering(instrument: Instrument, lang: str, section: str | None) -> dict[str, tuple[int, bool]]:
    key = (instrument.id, instrument.version, lang, section)
    found = _NUMBERING.get(key)
    if found is None:
        from instruments.conditions import referenced_items

        items = [i for i in instrument.items_in_order(lang) if section is None or i.section == section]
        found, roots = {}, 0
        for item in items:
            parents = referenced_items(item.show_if) & set(found) if item.show_if is not None else set()
            if parents:  # numbered as the earliest question it follows
                found[item.id] = (min(found[p][0] for p in parents), True)
            else:
                roots += 1
                found[item.id] = (roots, False)
        found["__total__"] = (roots, False)
        _NUMBERING[key] = found
    return found


def question_number(instrument: Instrument, lang: str, section: str | None, item_id: str) -> QuestionNumber:
    """The stable "question n of N" of an item (computed once per instrument, language, section)."""
    numbering = _numbering(instrument, lang, section)
    number, follow_up = numbering.get(item_id, (1, False))
    return QuestionNumber(number=number, total=numbering["__total__"][0], follow_up=follow_up)


# --- the patient's own scores ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoreLine:
    """One scale of a patient's own scores, across timepoints."""

    instrument: str
    scale: str
    values: list[tuple[str, float]]


def own_scores(
    session: Session, patient: PatientLike, wanted: Sequence[tuple[str, str]], timepoint_order: Sequence[str]
) -> list[ScoreLine]:
    """The patient's submitted scores for the wanted (instrument, scale) pairs, in protocol order."""
    rows = session.execute(
        select(Response.instrument_id, Score.scale, Response.timepoint, Score.value)
        .join(Response, Response.id == Score.response_id)
        .where(Response.patient_id == patient.id, Response.status == "submitted", Score.value.is_not(None))
    )
    found: dict[tuple[str, str], dict[str, float]] = {}
    for instrument, scale, timepoint, value in rows:
        if (instrument, scale) in wanted:
            found.setdefault((instrument, scale), {})[timepoint] = float(value)
    rank = {tp: index for index, tp in enumerate(timepoint_order)}
    lines = []
    for key in wanted:
        values = found.get(key)
        if values:
            ordered = sorted(values.items(), key=lambda pair: rank.get(pair[0], len(rank)))
            lines.append(ScoreLine(instrument=key[0], scale=key[1], values=ordered))
    return lines
