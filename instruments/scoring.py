"""Answer validation and the scoring engine that interprets each file's "scoring" rules.

Rule kinds, written as data in each definition's "scoring" object (see instruments/README.md):

- ``sum``: item scores (reverse items = min code + max code - code) added up; up to
  ``max_missing`` missing items are prorated (``"prorate": "mean"``: mean of answered item
  scores x number of items, rounded to ``round`` decimals); more missing -> null.
- ``linear``: ``of`` x ``multiply`` + ``add`` (e.g. WHO-5 percent = raw x 4).
- ``item``: the item's code, unchanged (instruments reported item by item); with
  ``"categorical": true`` the code names a category (e.g. a stage drawing) and is never averaged.
- ``recode``: the item's code looked up in ``map`` (code as a string -> integer category, each
  named in ``labels``); a code not in the map (e.g. "not sure") gives null. Always categorical.
- ``grade``: CTCAE-style grade: 0 if ``present`` is 0, ``worst`` if it is 1, null if unknown.

Then ``bands`` name ordered ranges of a score, ``flags`` list the ids of conditions that hold,
and ``change`` gives the change in a score that counts as meaningful.

Status: with at least one ``sum`` rule, "incomplete" if a sum is null, "prorated" if a sum was
prorated, else "complete". Without sums (item-by-item instruments), "complete" when every
visible non-text item is answered, else "incomplete"; answered items are still scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Literal

from instruments.conditions import Facts, holds, referenced_items
from instruments.model import Instrument, Item

Status = Literal["complete", "prorated", "incomplete"]
Answer = int | str | None
ScoreValue = float | int | None

TEXT_MAX_LENGTH = 2000


def round_half_up(value: float | Fraction, places: int) -> float:
    """`value` rounded to `places` decimals, halves away from zero (11.25 -> 11.3, -0.5 -> -1).

    The rule SPSS (RND), Stata (round) and spreadsheets (ROUND) apply; Python's `round` rounds
    halves to even (11.25 -> 11.2) and works on the binary float. A float is taken at its
    shortest decimal form (repr), so 2.675 is treated as written, not as 2.67499999...
    """
    exact = (Decimal(value.numerator) / Decimal(value.denominator) if isinstance(value, Fraction)
             else Decimal(repr(value)))
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


class AnswerError(ValueError):
    """Answers do not fit the instrument: unknown item, wrong type or out-of-range code.

    `str()` is an English message for developers and command lines. For people, `problem` says
    which kind of refusal it is ("not_an_object", "unknown_item", "not_text", "text_too_long",
    "not_a_code", "not_a_choice", "answered_when_skipped"), `item` the item id it concerns (None for
    the whole answer set) and `limit` the text length limit for "text_too_long", so an interface
    can say the same thing in its reader's language.
    """

    def __init__(self, message: str, *, problem: str = "", item: str | None = None,
                 limit: int | None = None) -> None:
        super().__init__(message)
        self.problem, self.item, self.limit = problem, item, limit


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """Scores, bands and flags computed from one response, tagged with the scoring version."""

    instrument: str
    version: str
    scoring_version: str
    status: Status
    scores: dict[str, ScoreValue] = field(default_factory=dict)
    bands: dict[str, str | None] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form printed by `python -m instruments score`."""
        return {
            "instrument": self.instrument,
            "version": self.version,
            "scoring_version": self.scoring_version,
            "status": self.status,
            "scores": dict(self.scores),
            "bands": dict(self.bands),
            "flags": list(self.flags),
        }


# --- answers --------------------------------------------------------------------------------


def _clean_value(instrument: Instrument, item: Item, value: object) -> Answer:
    where = f"{instrument.id}: item {item.id!r}"
    if value is None:
        return None
    if item.is_text:
        if not isinstance(value, str):
            raise AnswerError(f"{where}: expected text, got {type(value).__name__}", problem="not_text",
                              item=item.id)
        text = value.strip()
        if len(text) > TEXT_MAX_LENGTH:
            raise AnswerError(f"{where}: text longer than {TEXT_MAX_LENGTH} characters",
                              problem="text_too_long", item=item.id, limit=TEXT_MAX_LENGTH)
        return text or None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnswerError(f"{where}: expected an integer code, got {type(value).__name__} {value!r}",
                          problem="not_a_code", item=item.id)
    if value not in item.codes():
        allowed = ", ".join(str(code) for code in sorted(item.codes()))
        raise AnswerError(f"{where}: code {value} out of range (allowed: {allowed})", problem="not_a_choice",
                          item=item.id)
    return value


def _visibility(instrument: Instrument, answers: Mapping[str, object]) -> dict[str, bool]:
    """Which items are shown; a hidden item's answer never counts when deciding another's."""
    shown: dict[str, bool] = {}

    def visible(item: Item) -> bool:
        if item.id not in shown:
            if item.show_if is None:
                shown[item.id] = True
            else:
                seen = {
                    ref: answers.get(ref) if visible(instrument.item(ref)) else None
                    for ref in referenced_items(item.show_if)
                }
                shown[item.id] = holds(item.show_if, Facts(answers=seen))
        return shown[item.id]

    for item in instrument.items:
        visible(item)
    return shown


def validate_answers(instrument: Instrument, answers: Mapping[str, object]) -> dict[str, Answer]:
    """Check answers against the definition; return every item id -> code, text or None."""
    if not isinstance(answers, Mapping):
        raise AnswerError(f"{instrument.id}: answers must be an object of item id -> code",
                          problem="not_an_object")
    for key in answers:
        if not isinstance(key, str) or not instrument.has_item(key):
            raise AnswerError(f"{instrument.id}: unknown item {key!r}", problem="unknown_item",
                              item=key if isinstance(key, str) else None)
    clean = {item.id: _clean_value(instrument, item, answers.get(item.id)) for item in instrument.items}
    shown = _visibility(instrument, clean)
    for item in instrument.items:
        if clean[item.id] is not None and not shown[item.id]:
            raise AnswerError(
                f"{instrument.id}: item {item.id!r} answered although it is not shown "
                "for these answers (its show_if condition is false)",
                problem="answered_when_skipped", item=item.id,
            )
    return clean


def visible_items(
    instrument: Instrument,
    answers: Mapping[str, object],
    lang: str = "en",
    section: str | None = None,
) -> list[Item]:
    """Return the items shown given the answers so far, in the language's order."""
    shown = _visibility(instrument, answers)
    return [
        item
        for item in instrument.items_in_order(lang)
        if shown[item.id] and (section is None or item.section == section)
    ]


# --- scoring --------------------------------------------------------------------------------


def _sum(
    rule: Mapping[str, Any], instrument: Instrument, answers: Mapping[str, Answer]
) -> tuple[ScoreValue, Status]:
    reverse = set(rule.get("reverse", ()))
    values: list[int] = []
    for item_id in rule["items"]:
        code = answers.get(item_id)
        if code is None:
            continue
        if item_id in reverse:  # reverse key: the highest code scores the lowest
            codes = instrument.item(item_id).codes()
            code = min(codes) + max(codes) - code
        values.append(code)
    missing = len(rule["items"]) - len(values)
    if missing == 0:
        return sum(values), "complete"
    if missing <= rule.get("max_missing", 0) and values:
        # mean x number of items, computed exactly (Fraction), then rounded half up.
        prorated = Fraction(sum(values), len(values)) * len(rule["items"])
        return round_half_up(prorated, rule.get("round", 1)), "prorated"
    return None, "incomplete"


def _linear(rule: Mapping[str, Any], value: ScoreValue) -> ScoreValue:
    if value is None:
        return None
    result = value * rule.get("multiply", 1) + rule.get("add", 0)
    if "round" in rule and not isinstance(result, int):
        result = round_half_up(result, rule["round"])
    return result


def _grade(rule: Mapping[str, Any], answers: Mapping[str, Answer]) -> ScoreValue:
    present = answers.get(rule["present"])
    if present is None:
        return None
    if present == 0:
        return 0
    return answers.get(rule["worst"])


def band_of(instrument: Instrument, score_name: str, value: ScoreValue) -> str | None:
    """Return the band a score value falls in, or None (no value, no band rule, or a gap)."""
    for band in instrument.scoring.get("bands", ()):
        if band["score"] == score_name:
            if value is None:
                return None
            for entry in band["ranges"]:
                if _in_range(entry, value):
                    return entry["name"]
            return None
    return None


def _in_range(entry: Mapping[str, Any], value: float) -> bool:
    return (
        ("min" not in entry or value >= entry["min"])
        and ("gt" not in entry or value > entry["gt"])
        and ("max" not in entry or value <= entry["max"])
        and ("lt" not in entry or value < entry["lt"])
    )


def compute(instrument: Instrument, answers: Mapping[str, Answer], section: str | None = None) -> ScoreResult:
    """Score answers already cleaned by `validate_answers` (use `score` for raw input)."""
    scores: dict[str, ScoreValue] = {}
    sum_states: list[Status] = []
    for rule in instrument.scoring["scores"]:
        kind, name = rule["kind"], rule["name"]
        if kind == "sum":
            scores[name], state = _sum(rule, instrument, answers)
            sum_states.append(state)
        elif kind == "linear":
            scores[name] = _linear(rule, scores[rule["of"]])
        elif kind == "item":
            scores[name] = answers.get(rule["item"])
        elif kind == "recode":
            code = answers.get(rule["item"])
            scores[name] = None if code is None else rule["map"].get(str(code))
        else:
            scores[name] = _grade(rule, answers)
    status: Status = "complete"
    if sum_states:
        for worse in ("prorated", "incomplete"):
            if worse in sum_states:
                status = worse
    else:
        shown = _visibility(instrument, answers)
        answered = all(
            answers.get(item.id) is not None
            for item in instrument.items
            if shown[item.id] and not item.is_text and section in (None, item.section)
        )
        status = "complete" if answered else "incomplete"
    bands = {
        band["score"]: band_of(instrument, band["score"], scores[band["score"]])
        for band in instrument.scoring.get("bands", ())
    }
    facts = Facts(answers=answers, scores=scores)
    flags = [flag["id"] for flag in instrument.scoring.get("flags", ()) if holds(flag["when"], facts)]
    return ScoreResult(
        instrument=instrument.id,
        version=instrument.version,
        scoring_version=instrument.scoring_version,
        status=status,
        scores=scores,
        bands=bands,
        flags=flags,
    )


def score(instrument: Instrument, answers: Mapping[str, object], section: str | None = None) -> ScoreResult:
    """Validate answers and compute scores, bands and flags; raise AnswerError on bad input.

    With `section`, only that section's items were asked: completeness is judged on them alone.
    """
    return compute(instrument, validate_answers(instrument, answers), section)


def categorical_scores(instrument: Instrument, lang: str = "en") -> dict[str, dict[int, str]]:
    """Score name -> {code: label in `lang`} for the scores that are categories, not measurements.

    A categorical score (an ``item`` rule with ``"categorical": true``, every ``recode``) is
    counted per category and never averaged, nor its code differences read as distances.
    Labels fall back to English, then to the code itself.
    """
    out: dict[str, dict[int, str]] = {}
    for rule in instrument.scoring["scores"]:
        if rule["kind"] == "recode":
            out[rule["name"]] = {int(code): text for code, text in rule["labels"].items()}
        elif rule["kind"] == "item" and rule.get("categorical"):
            out[rule["name"]] = {o.code: o.labels.get(lang) or o.labels.get("en") or str(o.code)
                                 for o in instrument.item(rule["item"]).options}
    return out


def meaningful_change(instrument: Instrument) -> dict[str, float]:
    """Return score name -> smallest absolute change between timepoints that counts as notable."""
    return {name: float(entry["meaningful"]) for name, entry in instrument.scoring.get("change", {}).items()}
