"""One patient's record for the clinician's patient page: a few small queries, all by patient id."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from instruments import Instrument, categorical_scores, meaningful_change
from reports.dashboards import figures
from reports.dashboards.cohort import RSES_TEST_RETEST
from reports.dashboards.dashboard import OUTCOME_LABELS, SYMPTOMS
from reports.dashboards.stats import reliable_change_threshold
from surveys.domain.flow import patient_windows, response_states
from surveys.domain.models import Alert, AlertResolution, Answer, Patient, Response, Score, Study
from surveys.domain.participation import data_analysable
from surveys.domain.protocol import Protocol
from surveys.domain.protocol_history import ProtocolHistory, protocol_versions
from surveys.domain.responses import answered_in
from surveys.domain.schedule import Window

Y_RANGES = {
    ("who5", "percent"): (0.0, 100.0),
    ("rses", "total"): (0.0, 30.0),
    ("hair_status", "hair_severity"): (0.0, 10.0),
    ("hair_status", "hair_bother"): (0.0, 10.0),
    ("hair_status", "shedding"): (0.0, 4.0),
    ("hair_status", "thinning"): (0.0, 10.0),
    ("hair_status", "shedding_amount"): (1.0, 5.0),
}


@dataclass
class PatientRecord:
    """Everything the patient page shows."""

    patient: Patient
    windows: list[Window]
    responses: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    trajectories: list[dict[str, Any]]
    grades: pd.DataFrame  # pirc grades per session: timepoint, symptom (code), symptom_label, grade
    figures: dict[str, dict[str, Any] | None]


def find_patient(session: Session, study: Study, code: str) -> Patient | None:
    """The study's patient with this code."""
    return session.scalar(select(Patient).where(Patient.study_id == study.id, Patient.code == code))


def _category(inst: Instrument | None, scale: str, value: float | None, lang: str) -> float | str | None:
    """A categorical score (a stage) as its label, e.g. 'III', never as a number; others unchanged."""
    if inst is None or value is None:
        return value
    labels = categorical_scores(inst, lang).get(scale)
    return value if labels is None else labels.get(int(value), str(int(value)))


def _band_ranges(inst: Instrument | None, scale: str, top: float) -> list[tuple[str, float, float]]:
    ranges = []
    for band in inst.scoring.get("bands", ()) if inst else ():
        if band["score"] != scale:
            continue
        for entry in band["ranges"]:
            low = entry.get("min", entry.get("gt", 0.0))
            high = entry.get("max", entry.get("lt", top))
            ranges.append((entry["name"], float(low), float(high)))
    return ranges


def _score_title(inst: Instrument | None, scale: str, lang: str) -> str:
    return inst.score_title(scale, lang) if inst is not None else scale


def _banded(inst: Instrument | None, scale: str) -> bool:
    """Whether the current definition still bands a scale: a per-patient view shows no band it dropped."""
    return inst is not None and any(band["score"] == scale for band in inst.scoring.get("bands", ()))


def _rses_reliable_change(session: Session, study: Study, protocol: Protocol) -> float | None:
    """The RSES reliable-change threshold (points) from the study's baseline SD (Jacobson & Truax 1991)."""
    baseline = protocol.timepoints[0].id if protocol.timepoints else "T0"
    values = session.scalars(
        select(Score.value)
        .join(Response, Response.id == Score.response_id)
        .join(Patient, Patient.id == Response.patient_id)
        .where(Patient.study_id == study.id, data_analysable(), Response.instrument_id == "rses",
               Response.timepoint == baseline,
               Response.status == "submitted", Score.scale == "total", Score.value.is_not(None))
    ).all()
    if len(values) < 2:
        return None
    threshold = reliable_change_threshold(float(statistics.stdev(values)), RSES_TEST_RETEST)
    return threshold if threshold > 0 else None


def _answer_label(
    inst: Instrument | None, item_id: str, code: int | None, text: str | None, lang: str = "en"
) -> tuple[str, str]:
    if inst is None or not inst.has_item(item_id):
        return item_id, text if text is not None else str(code)
    item = inst.item(item_id)
    question = item.texts.get(lang) or item.texts.get("en") or next(iter(item.texts.values()), item_id)
    if text is not None:
        return question, text
    try:
        if code is None:
            return question, "-"
        try:
            label = item.label(code, lang)
        except KeyError:
            label = item.label(code, "en")
        return question, f"{label} ({code})"
    except KeyError:
        return question, str(code)


def _timepoint_label(history: ProtocolHistory, response: Response, lang: str) -> str:
    """A response's timepoint named by the protocol version it was answered under, e.g. 'Week 12 (W12)'."""
    return f"{history.label(response.timepoint, lang, response.protocol_version)} ({response.timepoint})"


def load_record(
    session: Session,
    study: Study,
    patient: Patient,
    protocol: Protocol,
    library: Mapping[str, Instrument],
    now: datetime,
    lang: str = "en",
) -> PatientRecord:
    """The patient's timeline, scores, grades, alerts and answers; definition texts in `lang`."""
    windows = patient_windows(patient, protocol, response_states(session, patient), now)
    responses = list(
        session.scalars(
            select(Response)
            .where(Response.patient_id == patient.id)
            .order_by(Response.started_at, Response.id)
        )
    )
    ids = [r.id for r in responses]
    score_rows = (
        session.execute(
            select(Score.response_id, Score.scale, Score.value, Score.band).where(Score.response_id.in_(ids))
        ).all()
        if ids
        else []
    )
    answer_rows = (
        session.execute(
            select(Answer.response_id, Answer.item_id, Answer.code, Answer.text)
            .where(Answer.response_id.in_(ids))
            .order_by(Answer.id)
        ).all()
        if ids
        else []
    )
    # Answers keep the protocol version they were given under: a timepoint an amendment removed is
    # labelled and ordered from that version (`protocol_versions`), never looked up in the current one.
    history = protocol_versions(session, study)
    by_id = {r.id: r for r in responses}
    scores = pd.DataFrame.from_records(
        [
            (by_id[rid].timepoint, by_id[rid].instrument_id, scale, value, band)
            for rid, scale, value, band in score_rows
            if by_id[rid].status == "submitted"
        ],
        columns=["timepoint", "instrument", "scale", "value", "band"],
    )
    scores["order"] = scores["timepoint"].map(history.sort_key)
    scores = scores.sort_values("order", kind="stable")
    # Each response is shown with the definition version it was answered in.
    definitions = {r.id: answered_in(library, r.instrument_id, r.instrument_version) for r in responses}
    answers: dict[int, list[tuple[str, str]]] = {}
    for rid, item_id, code, text in answer_rows:
        answers.setdefault(rid, []).append(_answer_label(definitions[rid], item_id, code, text, lang))
    trajectories = []
    figs: dict[str, dict[str, Any] | None] = {}
    for key, labels in OUTCOME_LABELS.items():
        title, unit = (str(text) for text in labels)
        iid, scale = key
        inst = library.get(iid)
        points = scores[(scores["instrument"] == iid) & (scores["scale"] == scale)][
            ["timepoint", "value", "band"]
        ]
        if not _banded(inst, scale):  # e.g. RSES: its owners publish no cut-offs (bands of 1.0 hidden)
            points = points.assign(band=None)
        meaningful = meaningful_change(inst).get(scale) if inst else None
        reliable = None
        if key == ("rses", "total"):
            meaningful = reliable = _rses_reliable_change(session, study, protocol)
        top = Y_RANGES[key][1]
        fig_id = f"trajectory-{iid}-{scale}"
        figs[fig_id] = figures.trajectory_figure(
            points, title, unit, _band_ranges(inst, scale, top), meaningful, Y_RANGES[key]
        )
        trajectories.append(
            {
                "id": fig_id,
                "title": title,
                "unit": unit,
                "meaningful": meaningful,
                "reliable": reliable,
                "validated": bool(inst and inst.validated),
                "band_note": inst.band_note(scale, lang) if inst else None,
                "points": [{**point, "band": inst.band_label(scale, point["band"], lang)
                            if inst and isinstance(point["band"], str) else None}
                           for point in points.to_dict("records")],
            }
        )
    grades = scores[
        (scores["instrument"] == "pirc")
        & scores["scale"].str.endswith("_grade")
        & scores["timepoint"].str.match(r"^S\d+$")
    ]
    symptoms = {key: str(text) for key, text in SYMPTOMS.items()}  # the reader's language, as the figure's
    grades = grades.assign(symptom=grades["scale"].str.removesuffix("_grade"), grade=grades["value"])
    grades = grades.assign(symptom_label=grades["symptom"].map(lambda code: symptoms.get(code, code)))
    figs["grades"] = figures.grade_history_figure(grades, symptoms)
    alert_rows = session.scalars(
        select(Alert).where(Alert.patient_id == patient.id)
        .options(selectinload(Alert.resolutions).joinedload(AlertResolution.resolved_by))
        .order_by(Alert.created_at.desc())
    ).all()
    alerts = []
    for alert in alert_rows:
        resolution = alert.resolution
        alerts.append({
            "alert": alert,
            "timepoint": (_timepoint_label(history, by_id[alert.response_id], lang)
                          if alert.response_id in by_id else ""),
            "by": resolution.resolved_by.email if resolution and resolution.resolved_by else None,
            "resolution": resolution,
        })
    shown = [
        {
            "response": r,
            "title": (definitions[r.id].title.get(lang)  # type: ignore[union-attr]
                      or definitions[r.id].title.get("en", r.instrument_id))  # type: ignore[union-attr]
            if definitions[r.id] is not None
            else r.instrument_id,
            "version": r.instrument_version,
            "timepoint": _timepoint_label(history, r, lang),
            "validated": bool(definitions[r.id] is not None and definitions[r.id].validated),  # type: ignore[union-attr]
            # each score named and banded in `lang` by the current definition (bands it dropped hidden)
            "scores": [(_score_title(library.get(r.instrument_id) or definitions[r.id], s, lang),
                        _category(definitions[r.id], s, v, lang),
                        library[r.instrument_id].band_label(s, b, lang)
                        if b and _banded(library.get(r.instrument_id), s) else None)
                       for rid, s, v, b in score_rows if rid == r.id],
            "answers": answers.get(r.id, []),
        }
        for r in responses
    ]
    return PatientRecord(
        patient=patient,
        windows=windows,
        responses=shown,
        alerts=alerts,
        trajectories=trajectories,
        grades=grades,
        figures=figs,
    )
