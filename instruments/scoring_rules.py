"""Checks of a definition's "scoring" object, run by the loader before anything is scored.

The rule kinds themselves are interpreted by `instruments.scoring`; see its docstring.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from instruments.conditions import check_condition
from instruments.model import Item

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")
SCORING_KEYS = frozenset({"version", "scores", "bands", "flags", "change", "notes"})
RULE_KEYS: Mapping[str, frozenset[str]] = {
    "sum": frozenset({"items", "reverse", "max_missing", "prorate", "round"}),
    "linear": frozenset({"of", "multiply", "add", "round"}),
    "item": frozenset({"item", "categorical"}),
    "recode": frozenset({"item", "map", "labels"}),
    "grade": frozenset({"present", "worst"}),
}
BOUND_KEYS = frozenset({"min", "gt", "max", "lt"})


def _check_keys(data: Any, where: str, required: set[str], optional: set[str]) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected an object")
    missing = sorted(required - set(data))
    unknown = sorted(set(data) - required - optional)
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _check_texts(value: Any, where: str, *, plain: bool = False) -> None:
    """A text shown to people: {language: non-empty text} (or, when `plain`, one English string)."""
    if plain and isinstance(value, str) and value:
        return
    if (not isinstance(value, Mapping) or not value
            or any(not isinstance(k, str) or not isinstance(v, str) or not v for k, v in value.items())):
        raise ValueError(f"{where}: expected an object of language -> non-empty text")


def _scored_item(items: Mapping[str, Item], item_id: Any, where: str) -> Item:
    item = items.get(item_id) if isinstance(item_id, str) else None
    if item is None:
        raise ValueError(f"{where}: unknown item {item_id!r}")
    if item.is_text:
        raise ValueError(f"{where}: item {item_id!r} is free text and cannot be scored")
    return item


def _check_rule(rule: Any, items: Mapping[str, Item], names: list[str]) -> str:
    if not isinstance(rule, Mapping) or rule.get("kind") not in RULE_KEYS:
        raise ValueError(f"score rule {rule!r:.60} needs a 'kind' among {', '.join(RULE_KEYS)}")
    kind = rule["kind"]
    name = rule.get("name")
    where = f"score {name!r}"
    optional = {"reverse", "max_missing", "prorate", "round", "multiply", "add", "categorical"}
    _check_keys(
        rule, where, {"name", "kind"} | (RULE_KEYS[kind] - optional),
        (RULE_KEYS[kind] & optional) | {"note", "title"},
    )
    if "title" in rule:
        _check_texts(rule["title"], f"{where} title")
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or name in names:
        raise ValueError(f"{where}: name must be unique and match [a-z][a-z0-9_]*")
    if kind == "sum":
        ids = rule["items"]
        if not isinstance(ids, list) or not ids or len(set(ids)) != len(ids):
            raise ValueError(f"{where}: items must be a non-empty list of distinct item ids")
        for item_id in ids:
            _scored_item(items, item_id, where)
        reverse = rule.get("reverse", [])
        bad = [item_id for item_id in reverse if item_id not in ids]
        if not isinstance(reverse, list) or bad:
            raise ValueError(f"{where}: reverse item(s) {bad} are not among the summed items")
        max_missing = rule.get("max_missing", 0)
        if not isinstance(max_missing, int) or not 0 <= max_missing < len(ids):
            raise ValueError(f"{where}: max_missing must be an integer from 0 to {len(ids) - 1}")
        if rule.get("prorate", "mean") != "mean" or (max_missing > 0) != ("prorate" in rule):
            raise ValueError(f'{where}: max_missing > 0 needs "prorate": "mean" (and only then)')
    elif kind == "linear":
        if rule["of"] not in names:
            raise ValueError(f"{where}: 'of' must name an earlier score, got {rule['of']!r}")
        for key in ("multiply", "add"):
            if not isinstance(rule.get(key, 0), (int, float)) or isinstance(rule.get(key), bool):
                raise ValueError(f"{where}: {key} must be a number")
    elif kind == "item":
        _scored_item(items, rule["item"], where)
        if not isinstance(rule.get("categorical", False), bool):
            raise ValueError(f"{where}: categorical must be true or false")
    elif kind == "recode":
        _check_recode(rule, _scored_item(items, rule["item"], where), where)
    else:
        present = _scored_item(items, rule["present"], where)
        _scored_item(items, rule["worst"], where)
        if present.codes() != {0, 1}:
            raise ValueError(f"{where}: 'present' item must be coded 0/1")
    if "round" in rule and (not isinstance(rule["round"], int) or not 0 <= rule["round"] <= 6):
        raise ValueError(f"{where}: round must be an integer from 0 to 6")
    return name


def _check_recode(rule: Mapping[str, Any], item: Item, where: str) -> None:
    """A recode maps some of the item's codes (as strings) to integer categories, each labelled."""
    mapping, labels = rule["map"], rule["labels"]
    if not isinstance(mapping, Mapping) or not mapping:
        raise ValueError(f"{where}: map must be a non-empty object of item code -> category")
    codes = {str(code) for code in item.codes()}
    unknown = sorted(set(mapping) - codes)
    if unknown:
        raise ValueError(f"{where}: map names code(s) {unknown} not defined for item {item.id!r}")
    if any(isinstance(v, bool) or not isinstance(v, int) for v in mapping.values()):
        raise ValueError(f"{where}: map values must be integer categories")
    if not isinstance(labels, Mapping) or set(labels) != {str(v) for v in mapping.values()}:
        raise ValueError(f"{where}: labels must name every category of the map, and only those")
    if any(not isinstance(text, str) or not text for text in labels.values()):
        raise ValueError(f"{where}: every category label must be a non-empty string")


def _bounds(entry: Mapping[str, Any]) -> tuple[float, bool, float, bool]:
    low, low_in = (entry["min"], True) if "min" in entry else (entry.get("gt", float("-inf")), False)
    high, high_in = (entry["max"], True) if "max" in entry else (entry.get("lt", float("inf")), False)
    return low, low_in, high, high_in


def _check_band(band: Any, names: list[str], done: set[str]) -> None:
    _check_keys(band, "band", {"score", "ranges"}, {"note"})
    where = f"bands on {band['score']!r}"
    if "note" in band:
        _check_texts(band["note"], f"{where} note", plain=True)
    if band["score"] not in names or band["score"] in done:
        raise ValueError(f"{where}: unknown score, or banded twice")
    done.add(band["score"])
    ranges = band["ranges"]
    if not isinstance(ranges, list) or not ranges:
        raise ValueError(f"{where}: ranges must be a non-empty list")
    seen: set[str] = set()
    for entry in ranges:
        _check_keys(entry, where, {"name"}, set(BOUND_KEYS) | {"label"})
        if "label" in entry:
            _check_texts(entry["label"], f"{where} label of {entry['name']!r}")
        if {"min", "gt"} <= set(entry) or {"max", "lt"} <= set(entry) or len(BOUND_KEYS & set(entry)) == 0:
            raise ValueError(f"{where}: range {entry.get('name')!r} needs one lower and/or upper bound")
        name = entry["name"]
        if not isinstance(name, str) or not NAME_PATTERN.match(name) or name in seen:
            raise ValueError(f"{where}: range name {name!r} invalid or repeated")
        seen.add(name)
        bounds = [entry[key] for key in BOUND_KEYS & set(entry)]
        if any(isinstance(value, bool) or not isinstance(value, (int, float)) for value in bounds):
            raise ValueError(f"{where}: range {entry['name']!r} bounds must be numbers")
        low, low_in, high, high_in = _bounds(entry)
        if low > high or (low == high and not (low_in and high_in)):
            raise ValueError(f"{where}: range {entry['name']!r} is empty")
    ordered = sorted(ranges, key=lambda e: (_bounds(e)[0], not _bounds(e)[1]))
    for before, after in pairwise(ordered):
        _, _, high, high_in = _bounds(before)
        low, low_in, _, _ = _bounds(after)
        if high > low or (high == low and high_in and low_in):
            raise ValueError(f"{where}: ranges {before['name']!r} and {after['name']!r} overlap")


def check_scoring(scoring: Any, items: Mapping[str, Item]) -> list[str]:
    """Raise ValueError if scoring rules are malformed or refer to unknown items/scores."""
    _check_keys(scoring, "scoring", {"version", "scores"}, set(SCORING_KEYS))
    version = scoring["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("version must be a positive integer")
    if not isinstance(scoring["scores"], list):
        raise ValueError("scores must be a list of rules")
    names: list[str] = []
    for rule in scoring["scores"]:
        names.append(_check_rule(rule, items, names))
    done: set[str] = set()
    for band in _list(scoring, "bands"):
        _check_band(band, names, done)
    flag_ids: set[str] = set()
    for flag in _list(scoring, "flags"):
        _check_keys(flag, "flag", {"id", "when"}, {"note"})
        if not isinstance(flag["id"], str) or not NAME_PATTERN.match(flag["id"]) or flag["id"] in flag_ids:
            raise ValueError(f"flag id {flag['id']!r} invalid or repeated")
        flag_ids.add(flag["id"])
        try:
            check_condition(flag["when"], items=items, scores=names, kinds=("item", "score", "same"))
        except ValueError as exc:
            raise ValueError(f"flag {flag['id']!r}: {exc}") from None
    change = scoring.get("change", {})
    if not isinstance(change, Mapping):
        raise ValueError("change must be an object of score name -> {meaningful: N}")
    for name, entry in change.items():
        _check_keys(entry, f"change on {name!r}", {"meaningful"}, {"note"})
        if "note" in entry:
            _check_texts(entry["note"], f"change on {name!r} note", plain=True)
        value = entry["meaningful"]
        if name not in names or isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"change on {name!r}: unknown score or non-positive threshold")
    return names


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list")
    return value
