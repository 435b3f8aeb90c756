"""The study dashboard assembled: frames from the database, tables, figures and honest labels.

Nothing is cached: each request reads the database. The frames' SQL statements are independent,
so on a plain engine they run on two connections at once (SQLite and the PostgreSQL driver both
release the GIL while the database works); on a session bound to one connection they run in turn.
The dashboard only reads, so the two connections' snapshots differ at most by answers submitted
during the few hundred milliseconds of the request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from instruments import Instrument, meaningful_change
from reports.dashboards import cohort, figures, frames, windows
from surveys.domain.protocol import Protocol
from surveys.domain.protocol_history import ProtocolHistory

OUTCOME_LABELS = {
    ("who5", "percent"): (_l("WHO-5 well-being"), _l("percent (0-100)")),
    ("rses", "total"): (_l("Rosenberg self-esteem"), _l("total (0-30)")),
    ("hair_status", "hair_severity"): (_l("Hair loss severity (self-rated)"), "0-10"),
    ("hair_status", "hair_bother"): (_l("Bother from hair loss"), "0-10"),
    ("hair_status", "shedding"): (_l("Shedding vs normal"), "0-4"),
    ("hair_status", "thinning"): (_l("Hair thinning (self-rated)"), "0-10"),
    ("hair_status", "shedding_amount"): (_l("Hairs lost a day (ordered category)"), "1-5"),
}
RESPONDER_LABELS = {
    "who5": _l("WHO-5 +10 points or more"),
    "rses": _l("RSES reliable improvement"),
    "pgic": _l("PGIC much or very much improved"),
    "hair_change": _l("Hair amount moderately increased or more"),
}
SYMPTOMS = {
    "pain": _l("Pain"),
    "redness": _l("Redness"),
    "swelling": _l("Swelling"),
    "bruising": _l("Bruising"),
    "itch": _l("Itch"),
    "headache": _l("Headache"),
}
DASHBOARD_INSTRUMENTS = ("who5", "rses", "hair_status", "hair_change", "pgic", "pirc")


@dataclass
class CohortFrames:
    """The tidy frames one dashboard is built from."""

    patients: pd.DataFrame
    sessions: pd.DataFrame
    submissions: pd.DataFrame
    scores: pd.DataFrame
    grades: pd.DataFrame
    alerts: pd.DataFrame
    extensions: pd.DataFrame


@dataclass
class Dashboard:
    """Everything the dashboard page and its JSON show."""

    recruitment: dict[str, Any]
    suppressed: bool
    completion: pd.DataFrame
    outcomes: list[dict[str, Any]]
    responders: pd.DataFrame
    reliable_change: dict[str, float]
    grades: pd.DataFrame
    alerts_by_month: pd.DataFrame
    resolution: pd.DataFrame
    red_flags: pd.DataFrame
    instruments: list[dict[str, Any]]
    timepoint_labels: dict[str, str]
    figures: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    all_labels: dict[str, str] = field(default_factory=dict)
    responder_labels: dict[str, str] = field(default_factory=lambda: _texts(RESPONDER_LABELS))
    symptom_labels: dict[str, str] = field(default_factory=lambda: _texts(SYMPTOMS))
    flag_labels: dict[str, str] = field(default_factory=dict)

    @property
    def completion_rows(self) -> list[dict[str, Any]]:
        """The completion table as rows for templates."""
        return cohort.records(self.completion)

    @property
    def responder_rows(self) -> list[dict[str, Any]]:
        """The responder table as rows."""
        return cohort.records(self.responders)

    @property
    def grade_rows(self) -> list[dict[str, Any]]:
        """The side-effect grade table as rows."""
        return cohort.records(self.grades)

    @property
    def month_rows(self) -> list[dict[str, Any]]:
        """Alerts per month as rows."""
        return cohort.records(self.alerts_by_month)

    @property
    def flag_rows(self) -> list[dict[str, Any]]:
        """Red flags as rows."""
        return cohort.records(self.red_flags)

    @property
    def resolution_rows(self) -> list[dict[str, Any]]:
        """The safety panel per level as rows."""
        return cohort.records(self.resolution)

    @property
    def rci_threshold_text(self) -> str:
        """The RSES reliable-change threshold in points, or a dash when it cannot be computed."""
        threshold = self.reliable_change["threshold"]
        return "–" if not finite(threshold) else f"{threshold:.1f}"


_LOADERS: dict[str, Callable[[Session, int, frames.Filters], pd.DataFrame]] = {
    # Largest first, so two workers finish together.
    "scores": frames.score_frame,
    "grades": frames.grade_frame,
    "submissions": frames.submission_frame,
    "sessions": frames.session_frame,
    "patients": frames.patient_frame,
    "alerts": frames.alert_frame,
    "extensions": frames.extension_frame,
}


def _load_alone(
    engine: Engine, loader: Callable[..., pd.DataFrame], study_id: int, filters: frames.Filters
) -> pd.DataFrame:
    with Session(engine) as own:
        return loader(own, study_id, filters)


def load_frames(session: Session, study_id: int, filters: frames.Filters) -> CohortFrames:
    """Read every frame of the dashboard; in parallel when the session is bound to an engine.

    A session bound to one connection (tests, an outer transaction) may hold uncommitted rows
    that other connections cannot see, so then the frames are read in turn on that connection.
    """
    bind = session.get_bind()
    if isinstance(bind, Engine):
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                name: pool.submit(_load_alone, bind, loader, study_id, filters)
                for name, loader in _LOADERS.items()
            }
            return CohortFrames(**{name: future.result() for name, future in futures.items()})
    return CohortFrames(**{name: loader(session, study_id, filters) for name, loader in _LOADERS.items()})


def _texts(labels: Mapping[str, Any]) -> dict[str, str]:
    """Lazy interface strings made plain text now, in the request's language (figures are JSON)."""
    return {key: str(value) for key, value in labels.items()}


def _in(texts: Mapping[str, str], lang: str, default: str) -> str:
    """A definition's text in `lang`, else English, else `default`."""
    return texts.get(lang) or texts.get("en") or default


def instrument_notes(library: Mapping[str, Instrument], lang: str = "en") -> list[dict[str, Any]]:
    """Per instrument shown (titles in `lang`): validated or not, draft translations, band notes."""
    notes = []
    for iid in DASHBOARD_INSTRUMENTS:
        inst = library.get(iid)
        if inst is None:
            continue
        notes.append(
            {
                "id": iid,
                "title": _in(inst.title, lang, iid),
                "validated": inst.validated,
                "draft": sorted(
                    lang for lang, status in inst.translation_status.items() if status == "draft"
                ),
                "bands": [note for band in inst.scoring.get("bands", ())
                          if (note := inst.band_note(band["score"], lang))],
                "change": {  # score title -> where its meaningful change comes from, both in `lang`
                    inst.score_title(name, lang): inst.change_note(name, lang) or ""
                    for name in inst.scoring.get("change", {})
                },
            }
        )
    return notes


def _band_limits(inst: Instrument | None, scale: str) -> list[tuple[str, float]]:
    limits: list[tuple[str, float]] = []
    for band in inst.scoring.get("bands", ()) if inst else ():
        if band["score"] != scale:
            continue
        for entry in band["ranges"][:-1]:
            edge = entry.get("max", entry.get("lt"))
            if edge is not None:
                limits.append((entry["name"], float(edge)))
    return limits


def red_flag_ids(library: Mapping[str, Instrument]) -> tuple[str, ...]:
    """The red-flag questions of the side-effect checklist, as its definition lists them."""
    checklist = library.get(frames.SIDE_EFFECT_INSTRUMENT)
    return checklist.section_questions("red_flags") if checklist is not None else ()


def build_dashboard(
    session: Session,
    study_id: int,
    protocol: Protocol,
    library: Mapping[str, Instrument],
    filters: frames.Filters,
    now: datetime,
    lang: str = "en",
    zone: str = "UTC",
    history: ProtocolHistory | None = None,
) -> Dashboard:
    """Read the cohort and compute every table and figure of the study dashboard.

    `lang` is the reader's language for timepoint, instrument and red-flag labels (en or fr);
    `zone` the study's IANA time zone, in whose local days the windows are counted. `history`: every
    version of the study's protocol (`protocol` the current one): outcome tables keep the timepoints an
    amendment removed, labelled from their own version, in the merged order; the completion table
    counts the windows of the current protocol. Without it, `protocol` alone.
    """
    history = history or ProtocolHistory({protocol.version: protocol}, protocol.version)
    data = load_frames(session, study_id, filters)
    recruitment = cohort.recruitment(data.patients)
    suppressed = bool(recruitment["suppressed"])
    if suppressed:  # fewer than MIN_GROUP patients: nothing below may be shown, except the safety panel
        data = CohortFrames(**{name: frame if name == "alerts" else frame.iloc[0:0]
                               for name, frame in vars(data).items()})
    labels = {tp.id: tp.label_for(lang) for tp in history.timepoints() if tp.anchor != "each_session"}
    # Windows are counted for patients whose data are analysed: an erased patient's or one whose data
    # are withheld would show as missed (their answers are not read), which they were not.
    analysed = data.patients[data.patients["analysable"]]
    windows_now = windows.window_frame(protocol, analysed, data.sessions, now, zone, data.extensions)
    completion = windows.completion_table(
        windows.completion_frame(windows_now, data.submissions, analysed, now), protocol
    )
    completion["suppressed"] = completion[list(windows.OUTCOMES)].sum(axis=1).between(1, cohort.MIN_GROUP - 1)
    baseline = next(tp.id for tp in protocol.timepoints if tp.anchor != "each_session")
    fixed = [tp for tp in history.timepoints() if tp.anchor != "each_session"]

    def asked(iid: str) -> list[str]:
        return [tp.id for tp in history.asked_at(iid) if tp.anchor != "each_session"]

    outcomes = []
    for key in frames.OUTCOMES:
        iid, scale = key
        tps = asked(iid)
        followups = [tp for tp in tps if tp != baseline]
        distribution = cohort.outcome_distribution(data.scores, key, tps)
        change = cohort.paired_changes(data.scores, key, baseline, followups)
        title, unit = (str(text) for text in OUTCOME_LABELS[key])
        inst = library.get(iid)
        outcomes.append(
            {
                "key": f"{iid}-{scale}",
                "title": title,
                "unit": unit,
                "distribution": distribution,
                "change": change,
                "distribution_rows": cohort.records(distribution),
                "change_rows": cohort.records(change),
                "validated": bool(inst and inst.validated),
                "meaningful": meaningful_change(inst).get(scale) if inst else None,
                "figure": figures.outcome_figure(
                    distribution, change, title, unit, _band_limits(inst, scale)
                ),
            }
        )
    followups = [tp for tp in asked("who5") + asked("hair_change") + asked("pgic") if tp != baseline]
    followups = list(dict.fromkeys(tp.id for tp in fixed if tp.id in followups))
    responders = cohort.responders(data.scores, baseline, followups)
    grades = cohort.side_effect_grades(data.grades)
    by_month = cohort.alerts_by_month(data.alerts)
    resolution = cohort.alert_resolution(data.alerts, now)
    dashboard = Dashboard(
        recruitment=recruitment,
        suppressed=suppressed,
        completion=completion,
        outcomes=outcomes,
        responders=responders,
        reliable_change=cohort.rses_reliable_change(data.scores, baseline),
        grades=grades,
        alerts_by_month=by_month,
        resolution=resolution,
        red_flags=cohort.red_flags(data.alerts, red_flag_ids(library)),
        instruments=instrument_notes(library, lang),
        timepoint_labels=labels,
    )
    session_labels = {
        row.timepoint: _("After session %(number)s", number=int(row.session_number))
        for row in completion.itertuples()
        if not pd.isna(row.session_number)
    }
    dashboard.all_labels = {**labels, **session_labels}
    checklist = library.get(frames.SIDE_EFFECT_INSTRUMENT)
    if checklist is not None:
        dashboard.flag_labels = {
            flag: _in(checklist.item(flag).texts, lang, flag) for flag in red_flag_ids(library)
        }
    dashboard.figures = {
        "completion": figures.completion_figure(completion, dashboard.all_labels),
        **{f"outcome-{o['key']}": o["figure"] for o in outcomes},
        "responders": figures.responder_figure(responders, dashboard.responder_labels),
        "side-effects": figures.side_effect_figure(grades, dashboard.symptom_labels),
        "alerts": figures.alert_figure(by_month),
        "resolution": figures.resolution_figure(resolution),
    }
    return dashboard


def finite(value: Any) -> bool:
    """True for a real number (not None, not NaN)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))
