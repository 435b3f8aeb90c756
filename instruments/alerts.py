"""Safety alert levels, decided by rules written as data in each definition's "alerts" list.

Levels: 0 expected (logged only), 1 next visit, 2 same-day review, 3 emergency. The result is
the highest level among the rules that hold; every matching rule id is given as a reason.
A condition on a missing answer is never true, so missing data never raises an alert.

A rule may say ``"urgent": true`` (a level-2 review within hours, e.g. early blanching) and carry
a ``"task"`` (``{"kind": "recheck", "hours_after_session": 72}``: look again at that time). A rule
whose answers hold but whose context fact is unknown (no hours since the session) cannot be
evaluated: with ``"if_unknown": "task"`` it is reported as the level-1 reason
``<rule id>_unevaluated`` with an "evaluate" task, so staff look at it by hand instead of it being
dropped in silence (pirc 2.0 asks this of every time rule; pirc 1.0 predates it and keeps its
original behaviour, ``"if_unknown": "pass"``, the default).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from instruments.conditions import PENDING, Facts, check_condition, evaluate
from instruments.model import Instrument, Item
from instruments.scoring import ScoreValue, compute, validate_answers

RULE_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")
UNEVALUATED_SUFFIX = "_unevaluated"
UNEVALUATED_LEVEL = 1
TASK_KINDS = ("recheck",)
#: What the patient is shown at once for a level-3 rule: emergency advice (the study's emergency
#: number) or, with "pathway": "crisis" (e.g. PHQ-9 item 9), the crisis contacts of the study's country.
PATHWAYS = ("emergency", "crisis")
RULE_KEYS = frozenset({"id", "level", "when", "note", "urgent", "task", "if_unknown", "pathway"})
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
class AlertTask:
    """Something staff must do about a rule: "recheck" at a time, or "evaluate" it by hand.

    `hours_after_session`: when the re-check is due, in hours after the start of the session day
    (None for "evaluate", which is due now).
    """

    rule: str
    kind: str
    hours_after_session: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {"rule": self.rule, "kind": self.kind, "hours_after_session": self.hours_after_session}


@dataclass(frozen=True, slots=True)
class AlertResult:
    """The alert level (0-3), the ids of the rules that matched (reasons), which of them are
    urgent, and the tasks they open (re-checks, rules to evaluate by hand)."""

    level: int
    reasons: list[str] = field(default_factory=list)
    urgent: list[str] = field(default_factory=list)
    tasks: list[AlertTask] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Return the level's name, e.g. 'same_day_review'."""
        return LEVELS[self.level]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {"level": self.level, "name": self.name, "reasons": list(self.reasons)}

    def contract(self, rules: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The shape `python -m instruments alerts` prints: {"level", "alerts": [{"rule", "level"}]}."""
        levels = {rule["id"]: rule["level"] for rule in rules}
        return {
            "level": self.level,
            "alerts": [
                {"rule": reason, "level": levels.get(reason, UNEVALUATED_LEVEL)} for reason in self.reasons
            ],
        }


def rule_pathway(rules: Sequence[Mapping[str, Any]], reason: str) -> str:
    """The patient pathway of a level-3 reason: "emergency" (default) or "crisis"."""
    for rule in rules:
        if rule["id"] == reason:
            return str(rule.get("pathway", "emergency"))
    return "emergency"


def rule_level(rules: Sequence[Mapping[str, Any]], reason: str) -> int:
    """The level of one reason: its rule's level, or 1 for a `<rule>_unevaluated` task."""
    for rule in rules:
        if rule["id"] == reason:
            return int(rule["level"])
    return UNEVALUATED_LEVEL if reason.endswith(UNEVALUATED_SUFFIX) else 0


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
    reasons: list[str] = []
    urgent: list[str] = []
    tasks: list[AlertTask] = []
    level = 0
    for rule in instrument.alert_rules:
        truth = evaluate(rule["when"], facts)
        if truth is True:
            reasons.append(rule["id"])
            level = max(level, rule["level"])
            if rule.get("urgent"):
                urgent.append(rule["id"])
            task = rule.get("task")
            if task is not None:
                tasks.append(AlertTask(rule["id"], task["kind"], task.get("hours_after_session")))
        elif truth == PENDING and rule.get("if_unknown", "pass") == "task":
            reasons.append(rule["id"] + UNEVALUATED_SUFFIX)
            level = max(level, UNEVALUATED_LEVEL)
            tasks.append(AlertTask(rule["id"], "evaluate"))
    return AlertResult(level=level, reasons=reasons, urgent=urgent, tasks=tasks)


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
        if rule_id.endswith(UNEVALUATED_SUFFIX):
            raise ValueError(f"rule id {rule_id!r}: the suffix {UNEVALUATED_SUFFIX} is reserved")
        seen.add(rule_id)
        unknown = sorted(set(rule) - RULE_KEYS)
        missing = sorted({"level", "when"} - set(rule))
        if unknown or missing:
            raise ValueError(f"rule {rule_id!r}: unknown key(s) {unknown}, missing key(s) {missing}")
        level = rule["level"]
        if isinstance(level, bool) or level not in (1, 2, 3):
            raise ValueError(f"rule {rule_id!r}: level must be 1, 2 or 3")
        if not isinstance(rule.get("urgent", False), bool):
            raise ValueError(f"rule {rule_id!r}: urgent must be true or false")
        if "task" in rule:
            _check_task(rule_id, rule["task"])
        if rule.get("pathway", "emergency") not in PATHWAYS or ("pathway" in rule and level != 3):
            raise ValueError(f"rule {rule_id!r}: pathway must be one of {list(PATHWAYS)}, on a level-3 rule")
        if rule.get("if_unknown", "pass") not in ("pass", "task"):
            raise ValueError(f"rule {rule_id!r}: if_unknown must be 'pass' or 'task'")
        try:
            check_condition(
                rule["when"],
                items=items,
                scores=scores,
                kinds=("item", "score", "context", "same", "worse_than_previous"),
            )
        except ValueError as exc:
            raise ValueError(f"rule {rule_id!r}: {exc}") from None


def _check_task(rule_id: str, task: Any) -> None:
    if (
        not isinstance(task, Mapping)
        or set(task) != {"kind", "hours_after_session"}
        or task["kind"] not in TASK_KINDS
    ):
        raise ValueError(
            f"rule {rule_id!r}: task must be an object of 'kind' (one of {list(TASK_KINDS)}) "
            "and 'hours_after_session'"
        )
    hours = task["hours_after_session"]
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= 24 * 365:
        raise ValueError(f"rule {rule_id!r}: task hours_after_session must be a number of hours above 0")
