"""The small condition language shared by show_if, scoring flags and alert rules.

A condition is a JSON object of exactly one of these shapes:

- ``{"item": ID, OP: VALUE}``: compare an item's answer code;
- ``{"score": NAME, OP: VALUE}``: compare a score computed by the same instrument;
- ``{"context": "hours_since_session", OP: VALUE}``: compare a fact supplied by the caller;
- ``{"worse_than_previous": NAME, "by": N}``: score minus the previous session's value >= N;
- ``{"same": [ID, ...]}``: every listed item answered, all with the same code;
- ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}``: combinations.

OP is one of ``eq ne in gt gte lt lte``. Evaluation uses three-valued logic: a comparison on
a missing value is *unknown*, ``not unknown`` stays unknown, and an unknown result counts as
false. So a missing answer can never make a condition true (missing data never alerts).

A missing *context* fact (the caller does not know the hours since the session) is different:
`evaluate` calls the result *pending* when every answer it reads would make it true and only the
fact is lacking. `holds` still counts pending as false; the alert rules turn a pending rule into a
task for staff (`instruments.alerts`), so a rule that cannot be evaluated is never a silent pass.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from instruments.model import Condition, Item

OPERATORS: tuple[str, ...] = ("eq", "ne", "in", "gt", "gte", "lt", "lte")
CONTEXT_FACTS: tuple[str, ...] = ("hours_since_session",)

PENDING = "pending"
Truth = bool | str | None  # True, False, None (unknown: a missing answer) or PENDING


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Facts:
    """What a condition may look at: answers, own scores, caller context, previous values."""

    answers: Mapping[str, Any]
    scores: Mapping[str, float | int | None] = field(default_factory=_empty)
    context: Mapping[str, float | None] = field(default_factory=_empty)
    previous: Mapping[str, float | int | None] = field(default_factory=_empty)


def holds(condition: Condition, facts: Facts) -> bool:
    """True only when the condition is definitely true (unknown and pending count as false)."""
    return _evaluate(condition, facts) is True


def evaluate(condition: Condition, facts: Facts) -> Truth:
    """True, False, None (a missing answer decides it) or PENDING (only a context fact lacks)."""
    return _evaluate(condition, facts)


def _compare(value: Any, condition: Condition) -> Truth:
    if not _is_number(value):
        return None
    op = next(key for key in condition if key in OPERATORS)
    target = condition[op]
    if op == "eq":
        return bool(value == target)
    if op == "ne":
        return bool(value != target)
    if op == "in":
        return value in target
    if op == "gt":
        return bool(value > target)
    if op == "gte":
        return bool(value >= target)
    if op == "lt":
        return bool(value < target)
    return bool(value <= target)


def _evaluate(condition: Condition, facts: Facts) -> Truth:
    if "all" in condition:
        results = [_evaluate(part, facts) for part in condition["all"]]
        if False in results:
            return False
        if None in results:
            return None
        return PENDING if PENDING in results else True
    if "any" in condition:
        results = [_evaluate(part, facts) for part in condition["any"]]
        if True in results:
            return True
        if PENDING in results:
            return PENDING
        return None if None in results else False
    if "not" in condition:
        inner = _evaluate(condition["not"], facts)
        return inner if inner is None or inner == PENDING else not inner
    if "same" in condition:
        values = [facts.answers.get(item_id) for item_id in condition["same"]]
        if any(value is None for value in values):
            return None
        return len(set(values)) == 1
    if "worse_than_previous" in condition:
        name = condition["worse_than_previous"]
        now, before = facts.scores.get(name), facts.previous.get(name)
        if now is None or before is None:
            return None
        return bool(now - before >= condition["by"])
    if "item" in condition:
        return _compare(facts.answers.get(condition["item"]), condition)
    if "score" in condition:
        return _compare(facts.scores.get(condition["score"]), condition)
    fact = facts.context.get(condition["context"])
    return PENDING if fact is None else _compare(fact, condition)


def referenced_items(condition: Condition) -> set[str]:
    """Return the ids of every item a condition reads."""
    found: set[str] = set()
    if "item" in condition:
        found.add(condition["item"])
    if "same" in condition:
        found.update(condition["same"])
    for key in ("all", "any"):
        for part in condition.get(key, ()):
            found |= referenced_items(part)
    if "not" in condition:
        found |= referenced_items(condition["not"])
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_condition(
    condition: Any,
    *,
    items: Mapping[str, Item],
    scores: Collection[str] = (),
    kinds: Collection[str] = ("item",),
) -> None:
    """Raise ValueError naming the problem if a condition is malformed or points nowhere."""
    if not isinstance(condition, Mapping) or not condition:
        raise ValueError(f"condition must be a non-empty object, got {condition!r}")
    keys = set(condition)
    for key in ("all", "any"):
        if key in condition:
            if keys != {key}:
                raise ValueError(f"'{key}' condition takes no other keys: {sorted(keys)}")
            parts = condition[key]
            if not isinstance(parts, (list, tuple)) or not parts:
                raise ValueError(f"'{key}' needs a non-empty list of conditions")
            for part in parts:
                check_condition(part, items=items, scores=scores, kinds=kinds)
            return
    if "not" in condition:
        if keys != {"not"}:
            raise ValueError(f"'not' condition takes no other keys: {sorted(keys)}")
        check_condition(condition["not"], items=items, scores=scores, kinds=kinds)
        return
    if "same" in condition:
        _check_same(condition, items, kinds)
        return
    if "worse_than_previous" in condition:
        _check_worse(condition, scores, kinds)
        return
    subjects = [key for key in ("item", "score", "context") if key in condition]
    if len(subjects) != 1:
        raise ValueError(f"unknown condition shape with keys {sorted(keys)}")
    subject = subjects[0]
    if subject not in kinds:
        raise ValueError(f"'{subject}' conditions are not allowed here")
    ops = [key for key in keys if key in OPERATORS]
    extra = keys - {subject, *OPERATORS}
    if extra:
        raise ValueError(f"unknown key(s) {sorted(extra)} in condition")
    if len(ops) != 1:
        raise ValueError(f"condition needs exactly one operator of {', '.join(OPERATORS)}")
    op, target = ops[0], condition[ops[0]]
    targets = target if op == "in" else [target]
    if op == "in" and (not isinstance(target, (list, tuple)) or not target):
        raise ValueError("'in' needs a non-empty list")
    if not all(_is_number(value) for value in targets):
        raise ValueError(f"'{op}' needs number(s), got {target!r}")
    name = condition[subject]
    if subject == "item":
        item = items.get(name)
        if item is None:
            raise ValueError(f"condition refers to unknown item {name!r}")
        if item.is_text:
            raise ValueError(f"condition refers to free-text item {name!r}")
        if op in ("eq", "ne", "in"):
            bad = [value for value in targets if value not in item.codes()]
            if bad:
                raise ValueError(f"condition uses code(s) {bad} not defined for item {name!r}")
    elif subject == "score" and name not in scores:
        raise ValueError(f"condition refers to unknown score {name!r}")
    elif subject == "context" and name not in CONTEXT_FACTS:
        raise ValueError(f"unknown context fact {name!r}; known: {', '.join(CONTEXT_FACTS)}")


def _check_same(condition: Condition, items: Mapping[str, Item], kinds: Collection[str]) -> None:
    if "same" not in kinds:
        raise ValueError("'same' conditions are not allowed here")
    if set(condition) != {"same"}:
        raise ValueError("'same' condition takes no other keys")
    ids = condition["same"]
    if not isinstance(ids, (list, tuple)) or len(ids) < 2:
        raise ValueError("'same' needs a list of at least two item ids")
    for item_id in ids:
        if item_id not in items or items[item_id].is_text:
            raise ValueError(f"'same' refers to unknown or free-text item {item_id!r}")


def _check_worse(condition: Condition, scores: Collection[str], kinds: Collection[str]) -> None:
    if "worse_than_previous" not in kinds:
        raise ValueError("'worse_than_previous' conditions are not allowed here")
    if set(condition) != {"worse_than_previous", "by"}:
        raise ValueError("'worse_than_previous' takes exactly the keys 'worse_than_previous', 'by'")
    if condition["worse_than_previous"] not in scores:
        raise ValueError(f"condition refers to unknown score {condition['worse_than_previous']!r}")
    if not _is_number(condition["by"]):
        raise ValueError("'by' must be a number")
