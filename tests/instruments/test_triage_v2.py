"""Red-flag triage of the post-injection checklist 2.0, as a table of vectors.

Each row: answers, hours since the session (None: unknown), the expected level and the exact set of
reasons (rule ids). Together the rows fire every alert rule of pirc 2.0 (checked below), at and
either side of its boundaries: severity 2/3/4, interference 2/3, and the 48- and 72-hour edges.
The rules are a proposal for the clinic's medical lead (see the definition's notes).
"""

from __future__ import annotations

from typing import Any

import pytest

from instruments import AlertResult, Instrument, evaluate_alerts
from instruments.alerts import AlertContext, AlertTask

SYMPTOMS = ["pain", "redness", "swelling", "bruising", "itch", "headache"]


def sym(name: str, worst: int, now: int = 0, interference: int = 0) -> dict[str, int]:
    return {f"{name}_present": 1, f"{name}_worst": worst, f"{name}_now": now,
            f"{name}_interference": interference}


def flag(name: str, now: int = 0, **follow_ups: int) -> dict[str, int]:
    return {name: 1, f"{name}_now": now, **{f"{name}_{key}": value for key, value in follow_ups.items()}}


Row = tuple[str, dict[str, Any], float | None, int, set[str]]

ROWS: list[Row] = [
    # --- level 3: emergencies ------------------------------------------------------------------
    ("breathing now", flag("rf_breathing", now=1), 30, 3, {"rf_breathing_now", "rf_breathing"}),
    ("breathing passed", flag("rf_breathing"), 30, 2, {"rf_breathing"}),
    ("airway swelling now", flag("rf_airway_swelling", now=1), 30, 3,
     {"rf_airway_swelling_now", "rf_airway_swelling"}),
    ("airway swelling passed", flag("rf_airway_swelling"), 30, 2, {"rf_airway_swelling"}),
    ("faint now", flag("rf_faint", now=1), 30, 3, {"rf_faint_now", "rf_faint"}),
    ("faint passed", flag("rf_faint"), 30, 2, {"rf_faint"}),
    ("fever with 39 C, shaking chills, confusion or very unwell", flag("rf_fever", severe=1), 30, 3,
     {"rf_fever_severe", "rf_fever"}),
    ("fever otherwise", flag("rf_fever", severe=0), 30, 2, {"rf_fever"}),
    ("fever, severity follow-up unanswered", {"rf_fever": 1}, 30, 2, {"rf_fever"}),
    ("thunderclap now", flag("rf_thunderclap", now=1), 30, 3, {"rf_thunderclap_now", "rf_thunderclap"}),
    ("thunderclap passed", flag("rf_thunderclap"), 30, 2, {"rf_thunderclap"}),
    ("vision at 1 h", flag("rf_vision"), 1, 3, {"rf_vision_early", "rf_vision"}),
    ("vision at 72 h (edge, within)", flag("rf_vision"), 72, 3, {"rf_vision_early", "rf_vision"}),
    ("vision just after 72 h", flag("rf_vision"), 72.01, 2, {"rf_vision"}),
    ("vision at 200 h, happening now", flag("rf_vision", now=1), 200, 2, {"rf_vision"}),
    ("vision, hours unknown: a task, never a pass", flag("rf_vision"), None, 2,
     {"rf_vision_early_unevaluated", "rf_vision"}),
    # --- level 2 -------------------------------------------------------------------------------
    ("hives", flag("rf_hives", now=1), 30, 2, {"rf_hives"}),
    ("pus", flag("rf_pus"), 30, 2, {"rf_pus"}),
    ("nodules", flag("rf_nodules"), 500, 2, {"rf_nodules"}),
    ("skin damage", flag("rf_skin_damage"), 30, 2, {"rf_skin_damage"}),
    ("blanching at 24 h: urgent", flag("rf_skin_blanching"), 24, 2,
     {"rf_skin_blanching_early", "rf_skin_blanching"}),
    ("blanching at 48 h (edge, within): urgent", flag("rf_skin_blanching"), 48, 2,
     {"rf_skin_blanching_early", "rf_skin_blanching"}),
    ("blanching just after 48 h: same day, not urgent", flag("rf_skin_blanching"), 48.01, 2,
     {"rf_skin_blanching"}),
    ("blanching, hours unknown", flag("rf_skin_blanching"), None, 2,
     {"rf_skin_blanching_early_unevaluated", "rf_skin_blanching"}),
    ("hair patch with pain, pus or colour change", flag("rf_hair_patch", signs=1), 30, 2,
     {"rf_hair_patch_signs", "rf_hair_patch"}),
    # --- level 1 -------------------------------------------------------------------------------
    ("hair patch alone: review within a week", flag("rf_hair_patch", signs=0), 30, 1, {"rf_hair_patch"}),
    ("hair patch, signs unanswered", {"rf_hair_patch": 1}, 30, 1, {"rf_hair_patch"}),
    # --- local symptoms ------------------------------------------------------------------------
    ("facial / eyelid swelling is a local reaction, no red flag", sym("swelling", 2), 30, 0, set()),
    ("swelling moderate, gone", sym("swelling", 2, now=0), 100, 0, set()),
    ("pain very severe", sym("pain", 4), 30, 2, {"pain_very_severe"}),
    ("pain severe, gone", sym("pain", 3), 30, 0, set()),
    ("pain severe, still present at 30 h: level 1 + re-check", sym("pain", 3, now=1), 30, 1,
     {"pain_severe_now"}),
    ("pain severe, still present just before 72 h", sym("pain", 3, now=1), 71.99, 1, {"pain_severe_now"}),
    ("pain severe, still present at 72 h (edge)", sym("pain", 3, now=1), 72, 2,
     {"pain_severe_persisting", "pain_severe_now"}),
    ("pain severe, still present, hours unknown", sym("pain", 3, now=1), None, 1,
     {"pain_severe_persisting_unevaluated", "pain_severe_now"}),
    ("pain very severe still present at 72 h", sym("pain", 4, now=1), 72, 2,
     {"pain_very_severe", "pain_severe_persisting", "pain_severe_now"}),
    ("pain moderate, still present just before 72 h", sym("pain", 2, now=1), 71.99, 0, set()),
    ("pain moderate, still present at 72 h", sym("pain", 2, now=1), 72, 1, {"pain_moderate_persisting"}),
    ("pain moderate, still present, hours unknown", sym("pain", 2, now=1), None, 1,
     {"pain_moderate_persisting_unevaluated"}),
    ("pain mild, still present at 300 h", sym("pain", 1, now=1), 300, 0, set()),
    ("interference 2", sym("itch", 1, interference=2), 30, 0, set()),
    ("interference 3", sym("itch", 1, interference=3), 30, 2, {"itch_interference_high"}),
    ("headache severe (gone)", sym("headache", 3), 30, 2, {"headache_severe"}),
    ("headache moderate", sym("headache", 2), 30, 0, set()),
    ("nothing at all", {}, 30, 0, set()),
]
for _name in ["redness", "swelling", "bruising", "itch", "headache"]:
    extra = {"headache_severe"} if _name == "headache" else set()
    ROWS += [
        (f"{_name} very severe", sym(_name, 4), 30, 2, {f"{_name}_very_severe"} | extra),
        (f"{_name} severe now, 72 h", sym(_name, 3, now=1), 72, 2,
         {f"{_name}_severe_persisting", f"{_name}_severe_now"} | extra),
        (f"{_name} severe now, 24 h", sym(_name, 3, now=1), 24, 2 if extra else 1,
         {f"{_name}_severe_now"} | extra),
        (f"{_name} moderate now, 72 h", sym(_name, 2, now=1), 72, 1, {f"{_name}_moderate_persisting"}),
        (f"{_name} interference 3", sym(_name, 1, interference=3), 30, 2, {f"{_name}_interference_high"}),
    ]
ROWS += [("pain interference 3", sym("pain", 1, interference=3), 30, 2, {"pain_interference_high"})]


def judge(pirc2: Instrument, answers: dict[str, Any], hours: float | None,
          previous: dict[str, int] | None = None) -> AlertResult:
    return evaluate_alerts(pirc2, answers, AlertContext(hours_since_session=hours, previous_grades=previous))


@pytest.mark.parametrize(("answers", "hours", "level", "reasons"), [row[1:] for row in ROWS],
                         ids=[row[0] for row in ROWS])
def test_triage_vector(pirc2: Instrument, answers: dict[str, Any], hours: float | None, level: int,
                       reasons: set[str]) -> None:
    result = judge(pirc2, answers, hours)
    assert (result.level, set(result.reasons)) == (level, reasons)


@pytest.mark.parametrize("name", SYMPTOMS)
def test_a_symptom_two_severities_worse_than_last_time_is_level_one(pirc2: Instrument, name: str) -> None:
    previous = {f"{name}_grade": 0}
    assert judge(pirc2, sym(name, 2), 30, previous).reasons == [f"{name}_worse_than_previous"]
    assert judge(pirc2, sym(name, 1), 30, previous).level == 0
    assert judge(pirc2, sym(name, 2), 30, None).level == 0  # first session: nothing to compare


def test_every_alert_rule_is_exercised_by_the_table(pirc2: Instrument) -> None:
    fired = set().union(*(row[4] for row in ROWS)) | {f"{s}_worse_than_previous" for s in SYMPTOMS}
    rule_ids = {rule["id"] for rule in pirc2.alert_rules}
    assert rule_ids - fired == set()


def test_the_table_holds_both_sides_of_each_time_edge() -> None:
    hours = {row[2] for row in ROWS}
    assert {48, 48.01, 71.99, 72, 72.01, None} <= hours


def test_early_blanching_is_marked_urgent(pirc2: Instrument) -> None:
    assert judge(pirc2, flag("rf_skin_blanching"), 48).urgent == ["rf_skin_blanching_early"]
    assert judge(pirc2, flag("rf_skin_blanching"), 49).urgent == []


def test_severe_and_still_present_opens_a_recheck_72_hours_after_the_session(pirc2: Instrument) -> None:
    result = judge(pirc2, sym("redness", 3, now=1), 26)
    assert result.tasks == [AlertTask("redness_severe_now", "recheck", 72)]


def test_a_rule_that_cannot_be_evaluated_is_a_task_for_staff(pirc2: Instrument) -> None:
    result = judge(pirc2, sym("bruising", 2, now=1), None)
    assert result.tasks == [AlertTask("bruising_moderate_persisting", "evaluate", None)]
    # with the time known there is nothing left to evaluate by hand
    assert judge(pirc2, sym("bruising", 2, now=1), 10).tasks == []


def test_missing_answers_never_alert_nor_open_tasks(pirc2: Instrument) -> None:
    for hours in (None, 0, 48, 72, 1000):
        result = judge(pirc2, {"pain_present": 1, "rf_vision": None, "rf_skin_blanching": None}, hours)
        assert (result.level, result.reasons, result.tasks) == (0, [], [])


def test_the_checklist_names_no_emergency_number(pirc2: Instrument) -> None:
    """The number shown comes from the study's settings, never from the definition's text."""
    texts = [*pirc2.instructions.values()]
    for item in pirc2.items:
        texts += [*item.texts.values(), *(item.help or {}).values()]
    assert not [text for text in texts if any(number in text for number in ("112", " 15 ", "911", "999"))]


def test_facial_swelling_is_asked_with_the_local_reactions(pirc2: Instrument) -> None:
    swelling = pirc2.item("swelling_present")
    assert swelling.section == "local"
    assert "face or eyelids" in swelling.texts["en"] and "paupières" in swelling.texts["fr"]
    assert not pirc2.has_item("rf_angioedema") and not pirc2.has_item("rf_severe_headache")
    for flag_id in ("rf_airway_swelling", "rf_vision", "rf_thunderclap"):
        assert pirc2.item(f"{flag_id}_now").show_if == {"item": flag_id, "eq": 1}
