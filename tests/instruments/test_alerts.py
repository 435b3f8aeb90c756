"""PIRC alert levels, from the rules in pirc.json: 3 emergency now, 2 same day, 1 next visit."""

from __future__ import annotations

import pytest

from instruments import AlertResult, AnswerError, Instrument, evaluate_alerts
from instruments.alerts import AlertContext

SYMPTOMS = ["pain", "redness", "swelling", "bruising", "itch", "headache"]
RED_FLAGS = [
    "rf_breathing",
    "rf_angioedema",
    "rf_hives",
    "rf_faint",
    "rf_fever",
    "rf_pus",
    "rf_nodules",
    "rf_skin_damage",
    "rf_hair_patch",
    "rf_severe_headache",
]
LATE = AlertContext(hours_since_session=72)
EARLY = AlertContext(hours_since_session=71.9)


def symptom(
    name: str, worst: int, now: int | None = None, interference: int | None = None
) -> dict[str, int | None]:
    return {
        f"{name}_present": 1,
        f"{name}_worst": worst,
        f"{name}_now": now,
        f"{name}_interference": interference,
    }


def alert(pirc: Instrument, answers: dict, context: AlertContext | None = None) -> AlertResult:
    return evaluate_alerts(pirc, answers, context)


def test_nothing_reported_is_level_zero(pirc: Instrument) -> None:
    nothing = {item.id: 0 for item in pirc.items if item.show_if is None and not item.is_text}
    assert alert(pirc, nothing, LATE) == AlertResult(level=0, reasons=[])


def test_missing_answers_never_alert(pirc: Instrument) -> None:
    context = AlertContext(hours_since_session=500, previous_grades={f"{s}_grade": 0 for s in SYMPTOMS})
    assert alert(pirc, {}, context).level == 0
    assert alert(pirc, {"pain_present": 1, "rf_breathing": None}, context).level == 0
    assert alert(pirc, {"rf_breathing": 0, "rf_faint": None}, context).level == 0


def test_breathing_difficulty_happening_now_is_an_emergency(pirc: Instrument) -> None:
    result = alert(pirc, {"rf_breathing": 1, "rf_breathing_now": 1})
    assert result.level == 3
    assert result.name == "emergency"
    assert "rf_breathing_now" in result.reasons


def test_fainting_now_is_an_emergency(pirc: Instrument) -> None:
    assert alert(pirc, {"rf_faint": 1, "rf_faint_now": 1}).level == 3


@pytest.mark.parametrize("companion", ["rf_hives", "rf_faint", "rf_breathing"])
def test_facial_swelling_now_with_a_companion_sign_is_an_emergency(pirc: Instrument, companion: str) -> None:
    result = alert(pirc, {"rf_angioedema": 1, "rf_angioedema_now": 1, companion: 1})
    assert result.level == 3
    assert "rf_angioedema_now" in result.reasons


def test_facial_swelling_now_alone_is_same_day_review(pirc: Instrument) -> None:
    result = alert(pirc, {"rf_angioedema": 1, "rf_angioedema_now": 1})
    assert (result.level, result.reasons) == (2, ["rf_angioedema"])


@pytest.mark.parametrize("companion", ["rf_hives", "rf_faint", "rf_breathing"])
def test_facial_swelling_with_companion_not_now_is_same_day_review(pirc: Instrument, companion: str) -> None:
    result = alert(pirc, {"rf_angioedema": 1, "rf_angioedema_now": 0, companion: 1, f"{companion}_now": 0})
    assert result.level == 2
    assert sorted(result.reasons) == sorted(["rf_angioedema", companion])


@pytest.mark.parametrize("flag", ["rf_breathing", "rf_faint"])
@pytest.mark.parametrize("now", [0, None])
def test_emergency_signs_not_happening_now_are_same_day_review(
    pirc: Instrument, flag: str, now: int | None
) -> None:
    result = alert(pirc, {flag: 1, f"{flag}_now": now})
    assert (result.level, result.reasons) == (2, [flag])


@pytest.mark.parametrize("flag", RED_FLAGS)
def test_every_red_flag_alone_is_same_day_review(pirc: Instrument, flag: str) -> None:
    result = alert(pirc, {flag: 1})
    assert (result.level, result.reasons) == (2, [flag])
    assert result.name == "same_day_review"


@pytest.mark.parametrize(
    "flag",
    ["rf_fever", "rf_pus", "rf_nodules", "rf_skin_damage", "rf_hair_patch", "rf_severe_headache", "rf_hives"],
)
def test_other_red_flags_happening_now_stay_same_day_review(pirc: Instrument, flag: str) -> None:
    assert alert(pirc, {flag: 1, f"{flag}_now": 1}).level == 2


def test_red_flag_answered_no_never_alerts(pirc: Instrument) -> None:
    assert alert(pirc, dict.fromkeys(RED_FLAGS, 0), LATE).level == 0


@pytest.mark.parametrize("name", SYMPTOMS)
def test_very_severe_symptom_is_same_day_review(pirc: Instrument, name: str) -> None:
    result = alert(pirc, symptom(name, worst=4, now=0, interference=0))
    assert result.level == 2
    assert f"{name}_very_severe" in result.reasons


@pytest.mark.parametrize("name", [s for s in SYMPTOMS if s != "headache"])
def test_severe_symptom_still_present_after_72_hours_is_same_day_review(pirc: Instrument, name: str) -> None:
    answers = symptom(name, worst=3, now=1, interference=0)
    assert alert(pirc, answers, LATE) == AlertResult(level=2, reasons=[f"{name}_severe_persisting"])
    assert alert(pirc, answers, EARLY).level == 0
    assert alert(pirc, answers).level == 0  # time since session unknown: no alert from this rule
    assert alert(pirc, symptom(name, worst=3, now=0, interference=0), LATE).level == 0


def test_severe_headache_is_same_day_review_at_any_time(pirc: Instrument) -> None:
    result = alert(pirc, symptom("headache", worst=3, now=0, interference=0))
    assert (result.level, result.reasons) == (2, ["headache_severe"])
    assert alert(pirc, symptom("headache", worst=2, now=0, interference=0)).level == 0


@pytest.mark.parametrize("name", SYMPTOMS)
@pytest.mark.parametrize(("interference", "level"), [(2, 0), (3, 2), (4, 2)])
def test_interference_three_or_more_is_same_day_review(
    pirc: Instrument, name: str, interference: int, level: int
) -> None:
    result = alert(pirc, symptom(name, worst=1, now=0, interference=interference))
    assert result.level == level
    assert (f"{name}_interference_high" in result.reasons) == (level == 2)


@pytest.mark.parametrize("name", SYMPTOMS)
def test_moderate_symptom_still_present_after_72_hours_is_next_visit(pirc: Instrument, name: str) -> None:
    answers = symptom(name, worst=2, now=1, interference=0)
    assert alert(pirc, answers, LATE) == AlertResult(level=1, reasons=[f"{name}_moderate_persisting"])
    assert alert(pirc, answers, EARLY).level == 0
    assert alert(pirc, symptom(name, worst=1, now=1, interference=0), LATE).level == 0


@pytest.mark.parametrize("name", [s for s in SYMPTOMS if s != "headache"])
def test_symptom_two_grades_worse_than_last_session_is_next_visit(pirc: Instrument, name: str) -> None:
    answers = symptom(name, worst=3, now=0, interference=0)
    worse = AlertContext(previous_grades={f"{name}_grade": 1})
    assert alert(pirc, answers, worse) == AlertResult(level=1, reasons=[f"{name}_worse_than_previous"])
    assert alert(pirc, answers, AlertContext(previous_grades={f"{name}_grade": 2})).level == 0
    assert alert(pirc, answers, AlertContext(previous_grades={})).level == 0


def test_new_symptom_after_a_symptom_free_session_counts_from_grade_zero(pirc: Instrument) -> None:
    result = alert(pirc, symptom("pain", worst=2), AlertContext(previous_grades={"pain_grade": 0}))
    assert result.reasons == ["pain_worse_than_previous"]


def test_unanswered_symptom_is_never_worse_than_last_session(pirc: Instrument) -> None:
    context = AlertContext(previous_grades={"pain_grade": 0})
    assert alert(pirc, {"pain_present": 1}, context).level == 0
    assert alert(pirc, {}, context).level == 0


def test_level_is_the_highest_matched_and_every_reason_is_listed(pirc: Instrument) -> None:
    answers = {"rf_fever": 1, "rf_breathing": 1, "rf_breathing_now": 1} | symptom("pain", 2, 1, 0)
    result = alert(pirc, answers, LATE)
    assert result.level == 3
    assert sorted(result.reasons) == [
        "pain_moderate_persisting",
        "rf_breathing",
        "rf_breathing_now",
        "rf_fever",
    ]
    assert result.to_dict() == {"level": 3, "name": "emergency", "reasons": result.reasons}


def test_alerts_refuse_invalid_answers(pirc: Instrument) -> None:
    with pytest.raises(AnswerError):
        alert(pirc, {"rf_breathing": 2})
    with pytest.raises(AnswerError):
        alert(pirc, {"rf_breathing": 0, "rf_breathing_now": 1})


def test_alert_rules_are_data_in_the_definition(pirc: Instrument) -> None:
    levels = {rule["id"]: rule["level"] for rule in pirc.alert_rules}
    assert {rule_id for rule_id, level in levels.items() if level == 3} == {
        "rf_breathing_now",
        "rf_angioedema_now",
        "rf_faint_now",
    }
    assert all(levels[flag] == 2 for flag in RED_FLAGS)


def test_context_scores_feed_score_conditions(who5: Instrument) -> None:
    answers = {f"who5_{n}": 1 for n in range(1, 6)}
    assert evaluate_alerts(who5, answers, AlertContext(scores={"percent": 90})).level == 1  # own score wins
