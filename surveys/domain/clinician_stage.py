"""The clinician's own hair-loss stage of a patient at a timepoint, beside the patient's self-rating.

The stages are those of the self-rated stage instrument (`hair_stage`): its "norwood" item
(Norwood-Hamilton, codes 1-12 = I, II, IIa, III, IIIa, III vertex, IV, IVa, V, Va, VI, VII) and its
"sinclair" item (Sinclair 1-5), as the current version of the definition lists them. A stage is a
category code, never averaged. One record per patient and timepoint; recording again replaces it,
and the audit trail keeps both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from instruments import Instrument
from surveys.domain.audit import record
from surveys.domain.models import Answer, ClinicianStage, Patient, Response
from surveys.domain.patients import EnrollmentError, opened_window
from surveys.infra.db import utcnow

STAGE_INSTRUMENT = "hair_stage"
SCALES = ("norwood", "sinclair")
#: hair_stage 2.0's "none of these pictures / not sure": a patient's answer, not a clinician's stage.
NOT_SURE = 99


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage a clinician may record: its scale (item id), code and label in one language."""

    scale: str
    code: int
    label: str

    @property
    def key(self) -> str:
        """The form value: "<scale>:<code>"."""
        return f"{self.scale}:{self.code}"


def stage_choices(instrument: Instrument, lang: str) -> list[Stage]:
    """Every stage of the instrument's scales, in order, labelled in `lang` (English when missing);
    "not sure" is left out."""
    out = []
    for item in instrument.items:
        if item.id in SCALES:
            out += [Stage(item.id, option.code, option.labels.get(lang) or option.labels.get("en", ""))
                    for option in item.options if option.code != NOT_SURE]
    return out


def major_stage(instrument: Instrument | None, scale: str, code: int | None) -> int | None:
    """The derived major stage of a code (Norwood-Hamilton I-VII as 1-7: IIIa and III vertex -> III),
    by the instrument's own recode rule for that scale (hair_stage 2.0 `norwood_major`); None when
    the definition has none (Sinclair, hair_stage 1.0) or the code is not in its map."""
    if instrument is None or code is None:
        return None
    for rule in instrument.scoring.get("scores", ()):
        if rule.get("kind") == "recode" and rule.get("item") == scale:
            return rule["map"].get(str(code))
    return None


def major_stage_labels(instrument: Instrument | None, scale: str) -> dict[int, str]:
    """Code -> label ("I".."VII") of the derived major stage of a scale; empty when there is none."""
    for rule in (instrument.scoring.get("scores", ()) if instrument else ()):
        if rule.get("kind") == "recode" and rule.get("item") == scale:
            return {int(code): text for code, text in rule["labels"].items()}
    return {}


def stage_label(instrument: Instrument | None, scale: str, code: int | None, lang: str) -> str:
    """A stage's label ("Stage II – ..."), or the bare code when the definition does not list it."""
    if code is None:
        return ""
    if instrument is not None:
        for stage in stage_choices(instrument, lang):
            if (stage.scale, stage.code) == (scale, code):
                return stage.label
    return f"{scale} {code}"


def record_clinician_stage(session: Session, patient: Patient, instrument: Instrument, *, timepoint: str,
                           key: str, actor: str) -> ClinicianStage:
    """Record (or replace) the clinician's stage of a patient at a timepoint; audited; flushes.

    In: `timepoint`, a window id of the patient's schedule that has opened (T0, W12, EOT...);
    `key`, "<scale>:<code>" of `stage_choices(instrument, ...)`. Raises EnrollmentError for a
    timepoint not in the schedule, one not open yet, or a stage the instrument does not list.
    """
    stage = next((s for s in stage_choices(instrument, "en") if s.key == key), None)
    if stage is None:
        raise EnrollmentError(_("Choose a stage from the list."))
    opened_window(patient, timepoint, _("Window %(timepoint)s has not opened yet: record the stage at that "
                                        "visit.", timepoint=timepoint))
    row = session.scalar(select(ClinicianStage).where(ClinicianStage.patient_id == patient.id,
                                                      ClinicianStage.timepoint == timepoint))
    old = None if row is None else {"scale": row.scale, "code": row.code, "version": row.instrument_version}
    if row is None:
        row = ClinicianStage(patient_id=patient.id, timepoint=timepoint, scale=stage.scale, code=stage.code,
                             instrument_version=instrument.version, recorded_by=actor)
        session.add(row)
    else:
        row.scale, row.code, row.instrument_version = stage.scale, stage.code, instrument.version
        row.recorded_by, row.recorded_at = actor, utcnow()
    session.flush()
    record(session, actor, "clinician_stage.record", entity="patient", entity_id=patient.id,
           study_id=patient.study_id,
           details={"patient": patient.code, "timepoint": timepoint, "old": old,
                    "new": {"scale": stage.scale, "code": stage.code, "version": instrument.version}})
    return row


@dataclass(frozen=True, slots=True)
class StageRow:
    """One timepoint of a patient: the self-rated stage (submitted answers) and the clinician's."""

    timepoint: str
    self_scale: str | None
    self_code: int | None
    clinician: ClinicianStage | None


def stages_by_timepoint(session: Session, patient: Patient, order: Sequence[str] = ()) -> list[StageRow]:
    """The patient's stages, self-rated and the clinician's, per timepoint: those of `order` (the
    schedule's timepoints) first and in its order, then any other in id order."""
    own: dict[str, tuple[str, int]] = {}
    rows = session.execute(
        select(Response.timepoint, Answer.item_id, Answer.code)
        .join(Answer, Answer.response_id == Response.id)
        .where(Response.patient_id == patient.id, Response.instrument_id == STAGE_INSTRUMENT,
               Response.status == "submitted", Answer.item_id.in_(SCALES), Answer.code.is_not(None))
    )
    for timepoint, item, code in rows:
        own[timepoint] = (item, code)
    clinician: Mapping[str, ClinicianStage] = {
        c.timepoint: c
        for c in session.scalars(select(ClinicianStage).where(ClinicianStage.patient_id == patient.id))
    }
    out = []
    rank = {timepoint: n for n, timepoint in enumerate(order)}
    for timepoint in sorted(own.keys() | clinician.keys(), key=lambda t: (rank.get(t, len(rank)), t)):
        scale, code = own.get(timepoint, (None, None))
        out.append(StageRow(timepoint, scale, code, clinician.get(timepoint)))
    return out
