"""Who the synthetic demo patients are: a `Plan` per patient, drawn from its own random stream.

Every patient is generated from its own stream, seeded by the demo seed and its code, so a run is
reproducible for a seed (relative to today) and adding patients never changes the ones already
there. `showcase_plans` adds three hand-placed patients for trying the patient side by hand.
Nothing here is real patient data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

FORMULATIONS = (
    "vitamins + hyaluronic acid",
    "dutasteride 0.01% + vitamins",
    "growth factors + peptides",
    "minoxidil-free vasodilator cocktail",
    "minoxidil 0.5% + biotin",
)
#: The synthetic PHQ-9 (asked of patients on a 5-ARI): most items "not at all", now and then more; item 9
#: (thoughts of self-harm) above 0 is rare, so the demo shows the crisis pathway on a few patients.
PHQ9_WEIGHTS = (78, 16, 4, 2)
PHQ9_ITEM9_RATE = 0.02
PRIOR = ("minoxidil", "finasteride", "PRP", "biotin supplements", "low-level laser")
SYMPTOMS = {"pain": 0.65, "redness": 0.45, "swelling": 0.12, "bruising": 0.25, "itch": 0.2, "headache": 0.15}
COMPLETION = {"T0": 0.95, "S": 0.85, "W12": 0.8, "EOT": 0.75, "RF6": 0.7, "RF12": 0.6, "M6": 0.62, "M12": 0.5}
PROGRESS = {"W12": 0.7, "EOT": 1.0, "M6": 1.0, "M12": 0.8}
#: How the demo's patients gave their first consent (patient_device: accepted on their phone at enrollment).
CONSENT_METHODS = {"paper": 45, "electronic": 22, "verbal": 13, "patient_device": 20}
#: How those enrolled before version 1.1 accepted it (on their phone before answering, or at a visit).
RECONSENT_METHODS = {"patient_device": 70, "paper": 20, "electronic": 10}
#: Of the patients who stop answering, how many the clinic records as withdrawn, and why.
WITHDRAWN_RATE = 0.45
WITHDRAWAL_REASONS = {"lost_to_follow_up": 45, "consent_withdrawn_keep_data": 20, "clinician_decision": 15,
                      "other": 12, "consent_withdrawn_discard_data": 8}
WITHDRAWAL_NOTES = ("Moved abroad for work (synthetic demo).",
                    "Started oral treatment elsewhere (synthetic demo).")
OTHER_TEXTS = (
    "Slight tingling for an hour afterwards.",
    "Scalp felt tight that evening.",
    "Un peu de picotements le soir.",
    "Small scab near the crown.",
)


@dataclass
class Plan:
    """What one synthetic patient looks like and does."""

    code: str
    rng: random.Random
    enrolled_at: datetime
    session_days: list[date]
    responder_effect: float
    baseline: dict[str, float]
    dropout_after: str | None = None
    formulation: str = FORMULATIONS[0]
    reactions: dict[str, tuple[float, int]] = field(default_factory=dict)
    answered: set[str] | None = None  # showcase patients: exactly these timepoints
    data: dict[str, Any] = field(default_factory=dict)
    consent_method: str = "paper"
    consent_lead_days: int = 0  # first consent this many days before enrollment
    reconsent_method: str = "patient_device"
    withdrawal: tuple[str, str | None, int] | None = None  # reason, note, days after the last contact


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(tuple(weights), weights=tuple(weights.values()))[0]


def _lifecycle(plan: Plan, seed: int) -> None:
    """Consent and withdrawal, drawn from a stream of their own so the rest of the plan is unchanged."""
    rng = random.Random(f"{seed}:{plan.code}:lifecycle")  # noqa: S311  (synthetic demo data)
    plan.consent_method = _weighted(rng, CONSENT_METHODS)
    plan.consent_lead_days = 0 if plan.consent_method == "patient_device" else rng.choice((0, 0, 0, 1, 3, 7))
    plan.reconsent_method = _weighted(rng, RECONSENT_METHODS)
    if plan.dropout_after and rng.random() < WITHDRAWN_RATE:
        reason = _weighted(rng, WITHDRAWAL_REASONS)
        plan.withdrawal = (reason, rng.choice(WITHDRAWAL_NOTES) if reason == "other" else None,
                           rng.randint(7, 40))


def clip(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def plan_for(code: str, seed: int, today: date, now: datetime) -> Plan:
    rng = random.Random(f"{seed}:{code}")  # noqa: S311  (synthetic demo data, not security)
    sex = "female" if rng.random() < 0.45 else "male"
    if sex == "female":
        diagnosis = rng.choices(
            ("female_pattern_hair_loss", "telogen_effluvium", "alopecia_areata", "other"),
            weights=(62, 28, 5, 5),
        )[0]
    else:
        diagnosis = rng.choices(("androgenetic_alopecia", "telogen_effluvium", "other"), weights=(86, 9, 5))[
            0
        ]
    enrolled_day = today - timedelta(days=rng.randint(0, 480))
    enrolled_at = datetime.combine(enrolled_day, time(rng.randint(8, 17), rng.randint(0, 59)), UTC)
    first = enrolled_day + timedelta(days=rng.randint(3, 14))
    planned = rng.choices((3, 4, 5, 6), weights=(15, 55, 20, 10))[0]
    dropout = rng.choices((None, "W12", "EOT", "M6", "M12"), weights=(70, 8, 8, 7, 7))[0]
    days = []
    for n in range(planned):
        day = first + timedelta(days=28 * n + (rng.randint(-4, 4) if n else 0))
        if day > today or (dropout == "W12" and n >= 2):
            break
        days.append(day)
    responder = rng.random() < 0.5
    plan = Plan(
        code=code,
        rng=rng,
        enrolled_at=enrolled_at,
        session_days=days,
        responder_effect=rng.gauss(1.0, 0.3) if responder else rng.gauss(0.12, 0.25),
        baseline={
            "who5": clip(round(rng.gauss(50, 17)), 4, 100),
            "rses": rng.gauss(18, 5),
            "severity": rng.gauss(6.2, 1.5),
            "bother": rng.gauss(7, 1.8),
            "shedding": rng.gauss(3.2, 0.6),
        },
        dropout_after=dropout,
    )
    plan.data = {
        "code": code,
        "sex": sex,
        "birth_year": today.year - rng.randint(19, 66),
        "diagnosis": diagnosis,
        "prior_treatments": rng.sample(PRIOR, rng.choice((0, 0, 1, 1, 2))),
        "language": "fr" if rng.random() < 0.4 else "en",
        "status": "active",
        "enrolled_at": enrolled_at,
        "created_at": enrolled_at,
    }
    plan.formulation = rng.choice(FORMULATIONS)
    _lifecycle(plan, seed)
    return plan


def showcase_plans(seed: int, today: date, now: datetime) -> list[Plan]:
    """Three patients at telling moments, for trying the patient side by hand."""
    plans = []
    for code, enrolled_ago, sessions_ago, answered in (
        ("DEMO-NEW", 1, (), set()),
        ("DEMO-SESSION", 20, (2,), {"T0"}),
        ("DEMO-FOLLOWUP", 130, (112, 84, 56, 28), {"T0", "S1", "S2", "S3", "S4", "W12"}),
    ):
        plan = plan_for(code, seed, today, now)
        plan.enrolled_at = datetime.combine(today - timedelta(days=enrolled_ago), time(9), UTC)
        plan.session_days = [today - timedelta(days=d) for d in sessions_ago]
        plan.dropout_after, plan.answered, plan.withdrawal = None, answered, None
        plan.data.update(enrolled_at=plan.enrolled_at, created_at=plan.enrolled_at, language="en")
        plans.append(plan)
    return plans
