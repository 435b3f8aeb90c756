"""Turning demo plans into rows: sessions, links, responses, answers, scores and alerts, written
with bulk inserts in chunks so 10,000 patients load in minutes, not hours."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from instruments import Instrument, score, visible_items
from instruments.alerts import AlertContext, evaluate_alerts
from surveys.demo.plans import (
    COMPLETION,
    OTHER_TEXTS,
    PHQ9_ITEM9_RATE,
    PHQ9_WEIGHTS,
    PROGRESS,
    SYMPTOMS,
    Plan,
    clip,
)
from surveys.demo.tokens import demo_token
from surveys.domain.links import hash_token
from surveys.domain.models import (
    Alert,
    AlertContactAttempt,
    AlertResolution,
    Answer,
    ConsentRecord,
    ConsentVersion,
    Patient,
    PatientLink,
    Response,
    Score,
    Study,
    TreatmentSession,
)
from surveys.domain.participation import local_day
from surveys.domain.patients import local_day_start
from surveys.domain.pregnancy_check import needs_check
from surveys.domain.protocol import Protocol
from surveys.domain.schedule import Anchors, Window, compute_schedule

CHUNK = 400
ANSWER_MINUTES = timedelta(minutes=10)  # the longest a demo answer takes (`started_at`: 2-9 minutes earlier)


def batched(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


CHECK_COLUMNS = ("pregnant", "breastfeeding", "trying_to_conceive", "pregnancy_checked_at",
                 "pregnancy_checked_by")


class CohortWriter:
    """Builds rows for a chunk of patients and writes them with bulk inserts."""

    def __init__(
        self,
        session: Session,
        study: Study,
        protocol: Protocol,
        library: dict[str, Instrument],
        secret: str,
        now: datetime,
        consent_versions: Sequence[ConsentVersion] = (),
    ) -> None:
        self.session, self.study, self.protocol, self.library = session, study, protocol, library
        self.secret, self.now = secret, now
        self.consent_versions = tuple(consent_versions)  # oldest first; none: no consent records
        self.counts = {"patients": 0, "responses": 0, "answers": 0, "alerts": 0}

    def write(self, plans: list[Plan]) -> None:
        """Insert the patients of the plans with their links, sessions, responses and alerts."""
        s = self.session
        patient_ids = list(
            s.scalars(
                insert(Patient).returning(Patient.id, sort_by_parameter_order=True), [p.data for p in plans]
            )
        )
        links, sessions = [], []
        for plan, pid in zip(plans, patient_ids, strict=True):
            links.append(
                {
                    "patient_id": pid,
                    "token_hash": hash_token(demo_token(self.secret, plan.code)),
                    "created_at": plan.enrolled_at,
                }
            )
            formulation = plan.formulation
            # A 5-ARI session of a patient not recorded as male carries the pre-session pregnancy
            # check, as the form requires.
            checked = needs_check(plan.data["sex"], formulation)
            for number, day in enumerate(plan.session_days, start=1):
                check = {"pregnant": False, "breastfeeding": False, "trying_to_conceive": False,
                         "pregnancy_checked_at": local_day_start(self.study, day),
                         "pregnancy_checked_by": "demo"} if checked else dict.fromkeys(CHECK_COLUMNS)
                sessions.append(
                    {"patient_id": pid, "number": number, "date": day, "agents": formulation, "notes": "",
                     **check}
                )
        s.execute(insert(PatientLink), links)
        session_ids = (
            list(
                s.scalars(
                    insert(TreatmentSession).returning(TreatmentSession.id, sort_by_parameter_order=True),
                    sessions,
                )
            )
            if sessions
            else []
        )
        session_lookup = {
            (row["patient_id"], row["number"]): sid for row, sid in zip(sessions, session_ids, strict=True)
        }
        responses, answer_sets, extras = [], [], []
        for plan, pid in zip(plans, patient_ids, strict=True):
            for response, answers, extra in self._responses(plan, pid, session_lookup):
                responses.append(response)
                answer_sets.append(answers)
                extras.append(extra)
        self._lifecycle(plans, patient_ids, responses)
        if not responses:
            self.counts["patients"] += len(plans)
            return
        response_ids = list(
            s.scalars(insert(Response).returning(Response.id, sort_by_parameter_order=True), responses)
        )
        answer_rows, score_rows, alert_rows = [], [], []
        for rid, response, answers, extra in zip(response_ids, responses, answer_sets, extras, strict=True):
            for item_id, value in answers.items():
                answer_rows.append(
                    {
                        "response_id": rid,
                        "item_id": item_id,
                        "code": None if isinstance(value, str) else value,
                        "text": value if isinstance(value, str) else None,
                        "answered_at": response["submitted_at"],
                    }
                )
            for scale, value, band, version in extra["scores"]:
                score_rows.append(
                    {
                        "response_id": rid,
                        "scale": scale,
                        "value": value,
                        "band": band,
                        "scoring_version": version,
                    }
                )
            if extra["alert"] is not None:
                alert_rows.append({"response_id": rid, **extra["alert"]})
        for batch in batched(answer_rows, 20_000):
            s.execute(insert(Answer), batch)
        for batch in batched(score_rows, 20_000):
            s.execute(insert(Score), batch)
        if alert_rows:
            handled = [row.pop("handled") for row in alert_rows]
            returning = insert(Alert).returning(Alert.id, sort_by_parameter_order=True)
            alert_ids = list(s.scalars(returning, alert_rows))
            attempts, resolutions = [], []
            for alert_id, row, done in zip(alert_ids, alert_rows, handled, strict=True):
                if not done:
                    continue
                attempts.append({"alert_id": alert_id, "attempted_at": row["first_contact_at"],
                                 "recorded_at": row["first_contact_at"], "channel": "phone",
                                 "result": "reached", "note": "Phoned the patient (synthetic demo)."})
                resolutions.append({"alert_id": alert_id, "resolved_at": row["resolved_at"],
                                    "outcome": "advice_given", "note": "Advice given (synthetic demo).",
                                    "ctcae_grade": 1 if row["level"] < 3 else 2, "relatedness": "probable",
                                    "serious": False})
            if attempts:
                s.execute(insert(AlertContactAttempt), attempts)
                s.execute(insert(AlertResolution), resolutions)
        self.counts["patients"] += len(plans)
        self.counts["responses"] += len(responses)
        self.counts["answers"] += len(answer_rows)
        self.counts["alerts"] += len(alert_rows)

    def _lifecycle(self, plans: list[Plan], patient_ids: list[int], responses: list[dict[str, Any]]) -> None:
        """Each patient's consent records and, for a few who stopped answering, their withdrawal.

        The first consent is given on or before the day of enrollment (on the patient's phone: that
        day), to the version current then. A patient enrolled before the newest version, which asks for
        re-consent, accepted it the day they next answered (on their phone, or at that visit); one who
        has not answered since has not yet, and is asked first when they open their link. A withdrawal
        is dated after the patient's last answer and session.
        """
        answered: dict[int, list[datetime]] = {}
        for response in responses:
            answered.setdefault(response["patient_id"], []).append(response["submitted_at"])
        today = local_day(self.study, self.now)
        records: list[dict[str, Any]] = []
        for plan, pid in zip(plans, patient_ids, strict=True):
            enrolled = local_day(self.study, plan.enrolled_at)
            times = sorted(answered.get(pid, ()))
            if self.consent_versions:
                records += self._consents(plan, pid, enrolled, times)
            if plan.withdrawal is not None:
                reason, note, after = plan.withdrawal
                last = max([enrolled, *plan.session_days, *(local_day(self.study, t) for t in times)])
                self.session.execute(update(Patient).where(Patient.id == pid).values(
                    status="withdrawn", status_on=min(today, last + timedelta(days=after)),
                    withdrawal_reason=reason, status_note=note))
        if records:
            self.session.execute(insert(ConsentRecord), records)

    def _consents(self, plan: Plan, pid: int, enrolled: Any, times: list[datetime]) -> list[dict[str, Any]]:
        """A patient's consent records (see `_lifecycle`)."""
        current = [v for v in self.consent_versions if v.created_at <= plan.enrolled_at]
        first = (current or self.consent_versions)[-1 if current else 0]
        first_day = max(enrolled - timedelta(days=plan.consent_lead_days),
                        local_day(self.study, first.created_at))
        rows = [{"patient_id": pid, "version_id": first.id, "method": plan.consent_method,
                 "consented_on": first_day, "recorded_by": _recorder(plan.consent_method),
                 "recorded_at": plan.enrolled_at}]
        newest = self.consent_versions[-1]
        if newest.id != first.id and newest.requires_reconsent:
            after = [t for t in times if t >= newest.created_at]
            when = after[0] if after else (newest.created_at if plan.answered is not None else None)
            if when is not None:  # the walkthrough patients hold it: their links open questionnaires
                when = max(newest.created_at, when - timedelta(minutes=15))  # before starting to answer
                rows.append({"patient_id": pid, "version_id": newest.id, "method": plan.reconsent_method,
                             "consented_on": local_day(self.study, when),
                             "recorded_by": _recorder(plan.reconsent_method), "recorded_at": when})
        return rows

    def _responses(self, plan: Plan, pid: int, session_lookup: dict[tuple[int, int], int]) -> Iterator[tuple]:
        anchors = Anchors(plan.enrolled_at, tuple(enumerate(plan.session_days, start=1)),
                          agents=(plan.formulation,) * len(plan.session_days), zone=self.study.timezone)
        windows = compute_schedule(self.protocol, anchors, self.now)
        previous_grades: dict[str, int] | None = None
        dropped = False
        for window in windows:
            kind = window.definition.id
            if plan.dropout_after and kind == plan.dropout_after:
                dropped = True
            answered_at = self._answer_time(plan, window, dropped)
            if answered_at is None:
                if window.session_number is not None:
                    previous_grades = None
                continue
            session_id = session_lookup.get((pid, window.session_number)) if window.session_number else None
            for entry in window.instruments:
                inst = self.library[entry.instrument]
                answers = self._answers(plan, inst, kind, entry.section)
                result = score(inst, answers, section=entry.section)
                context = None
                if session_id is not None:
                    start = local_day_start(self.study, plan.session_days[window.session_number - 1])
                    context = AlertContext(
                        hours_since_session=(answered_at - start).total_seconds() / 3600,
                        previous_grades=previous_grades,
                        scores=result.scores,
                    )
                else:
                    context = AlertContext(
                        hours_since_session=None, previous_grades=None, scores=result.scores
                    )
                level = evaluate_alerts(inst, answers, context)
                alert = None
                if level.level >= 1:
                    handled = answered_at < self.now - timedelta(days=10)
                    contact = resolved = None
                    if handled:  # one draw per handled alert, as before: the rest of the cohort is unchanged
                        resolved = answered_at + timedelta(hours=plan.rng.randint(1, 30))
                        contact = answered_at + (resolved - answered_at) / 2
                    alert = {
                        "study_id": self.study.id,
                        "patient_id": pid,
                        "level": level.level,
                        "reasons": list(level.reasons),
                        "created_at": answered_at,
                        "level_at": answered_at,
                        "state": "resolved" if handled else "open",
                        "first_contact_at": contact,
                        "resolved_at": resolved,
                        "answers_when_raised": dict(answers),
                        "handled": handled,
                    }
                if entry.instrument == "pirc" and window.session_number:
                    previous_grades = {
                        k: int(v) for k, v in result.scores.items() if k.endswith("_grade") and v is not None
                    }
                yield (
                    {
                        "patient_id": pid,
                        "session_id": session_id,
                        "timepoint": window.timepoint,
                        "instrument_id": inst.id,
                        "instrument_version": inst.version,
                        "protocol_version": self.protocol.version,
                        "language": plan.data["language"],
                        "status": "submitted",
                        "started_at": answered_at - timedelta(minutes=plan.rng.randint(2, 9)),
                        "submitted_at": answered_at,
                        "score_status": result.status,
                        "flags": list(result.flags),
                    },
                    answers,
                    {
                        "scores": [
                            (k, None if v is None else float(v), result.bands.get(k), result.scoring_version)
                            for k, v in result.scores.items()
                        ],
                        "alert": alert,
                    },
                )

    def _answer_time(self, plan: Plan, window: Window, dropped: bool) -> datetime | None:
        rng = plan.rng
        if window.opens_at is None or window.state in ("upcoming", "not_scheduled"):
            return None
        if plan.answered is not None:
            if window.timepoint not in plan.answered:
                return None
        elif dropped or rng.random() > COMPLETION[window.definition.id] * (0.5 if window.answerable else 1):
            return None
        # A baseline opens two weeks before the first session, which may be before the patient was
        # enrolled: nobody answers before they are enrolled and handed their link (and the ~10 minutes
        # an answer takes, see `started_at`, start after that too).
        opens = max(window.opens_at, plan.enrolled_at + ANSWER_MINUTES)
        end = min(x for x in (window.closes_at, self.now) if x is not None)
        span = max((end - opens).total_seconds(), 3600)
        return opens + timedelta(seconds=min(rng.expovariate(1 / (2 * 86400)), span * 0.95))

    def _answers(self, plan: Plan, inst: Instrument, kind: str, section: str | None) -> dict[str, Any]:
        rng, base, effect = plan.rng, plan.baseline, plan.responder_effect
        progress = PROGRESS.get(kind, 0.0) if kind != "T0" else 0.0
        gain = effect * progress
        answers: dict[str, Any] = {}
        if inst.id == "who5":
            percent = base["who5"] + 14 * gain + rng.gauss(0, 6)
            for i in range(1, 6):
                answers[f"who5_{i}"] = clip(round(percent / 20 + rng.gauss(0, 0.7)), 0, 5)
        elif inst.id == "rses":
            level = (base["rses"] + 4 * gain + rng.gauss(0, 1.5)) / 10
            for i in range(1, 11):
                reverse = i in (2, 5, 6, 8, 9)
                value = clip(round((3 - level if reverse else level) + rng.gauss(0, 0.55)), 0, 3)
                if rng.random() > 0.015:  # now and then an item is skipped
                    answers[f"rses_{i}"] = value
        elif inst.id == "hair_status" and inst.version == "1.0":
            answers["hair_severity"] = clip(round(base["severity"] - 2.6 * gain + rng.gauss(0, 0.8)), 0, 10)
            answers["hair_bother"] = clip(round(base["bother"] - 3.2 * gain + rng.gauss(0, 1)), 0, 10)
            answers["shedding"] = clip(round(base["shedding"] - 1.5 * gain + rng.gauss(0, 0.6)), 0, 4)
        elif inst.id == "hair_status":  # 2.0: thinning, 7-day bother, hairs lost a day (1-5)
            answers["thinning"] = clip(round(base["severity"] - 2.6 * gain + rng.gauss(0, 0.8)), 0, 10)
            answers["hair_bother"] = clip(round(base["bother"] - 3.2 * gain + rng.gauss(0, 1)), 0, 10)
            lost = base["shedding"] + 1 - 1.5 * gain + rng.gauss(0, 0.6)
            answers["shedding_amount"] = clip(round(lost), 1, 5)
        elif inst.id == "hair_stage":
            pattern = 2 if plan.data["sex"] == "female" else 1
            answers["pattern"] = pattern
            answers["norwood" if pattern == 1 else "sinclair"] = (
                clip(round(rng.gauss(4.5, 2)), 1, 12)
                if pattern == 1
                else clip(round(rng.gauss(2.2, 0.9)), 1, 5)
            )
        elif inst.id == "hair_change":
            for item in ("amount", "shedding", "appearance"):
                answers[item] = clip(round(2.1 * gain + rng.gauss(0, 0.7)), -3, 3)
        elif inst.id == "pgic":
            answers["pgic"] = clip(round(4.2 - 2.6 * gain + rng.gauss(0, 0.6)), 1, 7)
        elif inst.id == "satisfaction":
            sat = clip(round(4 + 4.5 * gain + rng.gauss(0, 1.2)), 0, 10)
            answers["satisfaction"] = sat
            for item in ("would_repeat", "would_recommend"):
                answers[item] = _choice_code(
                    inst, item, "yes" if sat >= 7 else "not sure" if sat >= 5 else "no"
                )
        elif inst.id == "pirc":
            answers = self._pirc(plan, section)
        elif inst.id == "phq9":
            for i in range(1, 9):
                answers[f"phq9_{i}"] = rng.choices((0, 1, 2, 3), weights=PHQ9_WEIGHTS)[0]
            answers["phq9_9"] = int(rng.random() < PHQ9_ITEM9_RATE)
            answers["phq9_difficulty"] = rng.choices((0, 1, 2), weights=(70, 25, 5))[0]
        elif inst.id.startswith("systemic"):  # mostly none, now and then mild (synthetic)
            for item in inst.items:
                if item.type == "yesno":
                    answers[item.id] = int(plan.data["sex"] == "male")
                elif item.show_if is None or answers.get("male_items") == 1:
                    answers[item.id] = rng.choices((0, 1, 2), weights=(85, 12, 3))[0]
        shown = {item.id for item in visible_items(inst, answers)}
        return {k: v for k, v in answers.items() if k in shown}

    def _pirc(self, plan: Plan, section: str | None) -> dict[str, Any]:
        rng = plan.rng
        answers: dict[str, Any] = {}
        if section in (None, "local"):
            # Each patient reacts in their own way, session after session: how likely each symptom
            # is for them and how strong it usually gets (grades vary by about one around that).
            if not plan.reactions:
                plan.reactions = {
                    symptom: (
                        min(0.95, probability * rng.lognormvariate(0, 0.5)),
                        rng.choices((1, 2, 3), weights=(78, 20, 2))[0],
                    )
                    for symptom, probability in SYMPTOMS.items()
                }
            for symptom, (propensity, usual) in plan.reactions.items():
                present = int(rng.random() < propensity)
                answers[f"{symptom}_present"] = present
                if present:
                    worst = clip(usual + rng.choices((-1, 0, 1, 2), weights=(15, 72, 12, 1))[0], 1, 4)
                    answers[f"{symptom}_worst"] = worst
                    answers[f"{symptom}_now"] = int(rng.random() < 0.04 + 0.06 * (worst - 1))
                    answers[f"{symptom}_interference"] = clip(worst - 2 + rng.choice((-1, 0, 0, 1)), 0, 4)
            if rng.random() < 0.04:
                answers["other"] = rng.choice(OTHER_TEXTS)
        if section in (None, "red_flags"):
            for flag in self.library["pirc"].section_questions("red_flags"):
                rate = 0.0004 if flag in ("rf_breathing", "rf_faint", "rf_angioedema") else 0.0015
                answers[flag] = int(rng.random() < rate)
                if answers[flag]:
                    answers[f"{flag}_now"] = int(rng.random() < 0.3)
        return answers


def _recorder(method: str) -> str:
    """Who recorded a consent: the patient accepting on their phone, else the clinic (the demo)."""
    return "patient" if method == "patient_device" else "demo"


def _choice_code(inst: Instrument, item_id: str, english_label: str) -> int:
    item = inst.item(item_id)
    for option in item.options:
        if option.labels["en"].strip().lower().startswith(english_label):
            return option.code
    raise ValueError(f"{inst.id}.{item_id} has no option '{english_label}'")
