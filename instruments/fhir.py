"""FHIR R4 Questionnaire and QuestionnaireResponse JSON built from an instrument definition.

Plain dicts only (no FHIR library at import time); tests check them with fhir.resources R4B.
Choice, scale and yes/no items become ``choice`` questions whose answer codings use the
instrument's numeric codes; free text becomes ``string``. A show_if is written as enableWhen
when it is a single item test or an all/any of item tests (each expanded to ``=`` codes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from instruments.model import Condition, Instrument, Item
from instruments.scoring import validate_answers, visible_items

CANONICAL_PREFIX = "urn:instrument:"


def canonical_url(instrument: Instrument) -> str:
    """Return the instrument's canonical URL, e.g. 'urn:instrument:who5'."""
    return f"{CANONICAL_PREFIX}{instrument.id}"


def coding_system(instrument: Instrument, item: Item) -> str:
    """Return the code system of one item's answer codes."""
    return f"{canonical_url(instrument)}:{item.id}"


def _resource_id(instrument: Instrument) -> str:
    """e.g. 'pirc-2.0': one Questionnaire per kept version, so a bundle may hold several."""
    return f"{instrument.id.replace('_', '-')}-{instrument.version}"


def _name(instrument: Instrument) -> str:
    return "".join(part.capitalize() for part in re.split(r"[_\W]+", instrument.id) if part)


def _codes_matching(item: Item, test: Condition) -> list[int]:
    op = next(key for key in test if key != "item")
    value = test[op]
    checks = {
        "eq": lambda code: code == value,
        "ne": lambda code: code != value,
        "in": lambda code: code in value,
        "gt": lambda code: code > value,
        "gte": lambda code: code >= value,
        "lt": lambda code: code < value,
        "lte": lambda code: code <= value,
    }
    return sorted(code for code in item.codes() if checks[op](code))


def _enable_when(instrument: Instrument, condition: Condition) -> tuple[list[dict[str, Any]], str] | None:
    """Translate a show_if into (enableWhen, enableBehavior), or None when not expressible."""
    if "item" in condition:
        tests, behaviour = [condition], "any"
    elif "all" in condition and all("item" in part for part in condition["all"]):
        tests, behaviour = list(condition["all"]), "all"
    elif "any" in condition and all("item" in part for part in condition["any"]):
        tests, behaviour = list(condition["any"]), "any"
    else:
        return None
    clauses: list[dict[str, Any]] = []
    for test in tests:
        item = instrument.item(test["item"])
        codes = _codes_matching(item, test)
        if behaviour == "all" and len(codes) != 1:
            return None  # "all" of a multi-code test would need nesting FHIR does not have
        clauses += [
            {
                "question": item.id,
                "operator": "=",
                "answerCoding": {"system": coding_system(instrument, item), "code": str(code)},
            }
            for code in codes
        ]
    return (clauses, behaviour) if clauses else None


def _question(instrument: Instrument, item: Item, lang: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"linkId": item.id, "text": item.texts[lang]}
    if item.is_text:
        entry["type"] = "string"
    else:
        entry["type"] = "choice"
        entry["answerOption"] = [
            {
                "valueCoding": {
                    "system": coding_system(instrument, item),
                    "code": str(option.code),
                    "display": option.labels[lang],
                }
            }
            for option in item.options
        ]
    if item.show_if is not None:
        translated = _enable_when(instrument, item.show_if)
        if translated is not None:
            entry["enableWhen"], behaviour = translated
            if len(entry["enableWhen"]) > 1:
                entry["enableBehavior"] = behaviour
    return entry


def questionnaire(instrument: Instrument, lang: str = "en") -> dict[str, Any]:
    """Return a FHIR R4 Questionnaire (JSON dict) for the instrument in one language."""
    if lang not in instrument.languages:
        raise KeyError(f"{instrument.id}: language {lang!r} not available")
    description = instrument.instructions[lang]
    if instrument.recall is not None:
        description = f"{description}\n\n({instrument.recall[lang]})"
    return {
        "resourceType": "Questionnaire",
        "id": _resource_id(instrument),
        "url": canonical_url(instrument),
        "version": instrument.version,
        "name": _name(instrument),
        "title": instrument.title[lang],
        "status": "active",
        "language": lang,
        "description": description,
        "copyright": f"{instrument.citation} {instrument.licence}",
        "item": [_question(instrument, item, lang) for item in instrument.items_in_order(lang)],
    }


def questionnaire_response(
    instrument: Instrument,
    answers: Mapping[str, object],
    *,
    lang: str,
    authored: datetime | date | str,
    subject_ref: str | None = None,
    response_id: str | None = None,
    status: str = "completed",
) -> dict[str, Any]:
    """Return a FHIR R4 QuestionnaireResponse (JSON dict); answered items only, in screen order."""
    clean = validate_answers(instrument, answers)
    items: list[dict[str, Any]] = []
    for item in visible_items(instrument, clean, lang=lang):
        value = clean[item.id]
        if value is None:
            continue
        if item.is_text:
            answer: dict[str, Any] = {"valueString": value}
        else:
            answer = {
                "valueCoding": {
                    "system": coding_system(instrument, item),
                    "code": str(value),
                    "display": item.label(int(value), lang),
                }
            }
        items.append({"linkId": item.id, "text": item.texts[lang], "answer": [answer]})
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{canonical_url(instrument)}|{instrument.version}",
        "status": status,
        "language": lang,
        "authored": authored if isinstance(authored, str) else authored.isoformat(),
    }
    if response_id is not None:
        resource["id"] = response_id
    if subject_ref is not None:
        resource["subject"] = {"reference": subject_ref}
    if items:
        resource["item"] = items
    return resource
