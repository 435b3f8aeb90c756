"""Safety alert levels, decided by rules written as data in each definition's "alerts" list.

Levels: 0 expected (logged only), 1 next visit, 2 same-day review, 3 emergency. The result is
the highest level among the rules that hold; every matching rule id is given as a reason.
A condition on a missing answer is never true, so missing data never raises an alert.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from instruments.conditions import Facts, check_condition, holds
from instruments.model import Instrument, Item
from instruments.scoring import ScoreValue, compute, validate_answers

RULE_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")
LEVELS: Mapping[int, str] = {
    0: "expected",
    1: "next_visit",
    2: "same_day_review",
    3: "emergency",
}


@dataclass(frozen=True, slots=True)
class AlertContext:
    """Facts from outside the response: time since the session, last grades, other scores."""

    hours_since_session: float | None = None
    previous_grades: Mapping[str, int] | None = None
    scores: Mapping[str, float | None] | None = None


@dataclass(frozen=True, slots=True)
class AlertResult:
    """The alert level (0-3) and the ids of the rules that matched."""

    level: int
    reasons: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Return the level's name, e.g. 'same_day_review'."""
        return LEVELS[self.level]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {"level": self.level, "name": self.name, "reasons": list(self.reasons)}


def evaluate_alerts(
    instrument: Instrument,
    answers: Mapping[str, object],
    context: AlertContext | None = None,
) -> AlertResult:
    """Apply the instrument's alert rules to a response; raise AnswerError on bad answers."""
    context = context or AlertContext()
    clean = validate_answers(instrument, answers)
    scores: dict[str, ScoreValue] = dict(context.scores or {})
    scores.update(compute(instrument, clean).scores)  # the response's own scores win
    facts = Facts(
        answers=clean,
        scores=scores,
        context={"hours_since_session": context.hours_since_session},
        previous=dict(context.previous_grades or {}),
    )
    matched = [rule for rule in instrument.alert_rules if holds(rule["when"], facts)]
    return AlertResult(
        level=max((rule["level"] for rule in matched), default=0),
        reasons=[rule["id"] for rule in matched],
    )


def check_alert_rules(rules: Any, items: Mapping[str, Item], scores: Collection[str]) -> None:
    """Raise ValueError if alert rules are malformed or refer to unknown items or scores."""
    if not isinstance(rules, list):
        raise ValueError("must be a list of rules")
    seen: set[str] = set()
    for rule in rules:
        if not isinstance(rule, Mapping):
            raise ValueError(f"rule {rule!r:.60} must be an object")
        rule_id = rule.get("id")
        if not isinstance(rule_id, str) or not RULE_PATTERN.match(rule_id) or rule_id in seen:
            raise ValueError(f"rule id {rule_id!r} invalid or repeated")
        seen.add(rule_id)
        unknown = sorted(set(rule) - {"id", "level", "when", "note"})
        missing = sorted({"level", "when"} - set(rule))
        if unknown or missing:
            raise ValueError(f"rule {rule_id!r}: unknown key(s) {unknown}, missing key(s) {missing}")
        level = rule["level"]
        if isinstance(level, bool) or level not in (1, 2, 3):
            raise ValueError(f"rule {rule_id!r}: level must be 1, 2 or 3")
        try:
            check_condition(
                rule["when"],
                items=items,
                scores=scores,
                kinds=("item", "score", "context", "same", "worse_than_previous"),
            )
        except ValueError as exc:
            raise ValueError(f"rule {rule_id!r}: {exc}") from None
