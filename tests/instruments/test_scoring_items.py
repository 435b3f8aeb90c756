"""Instruments reported item by item: hair status, hair change, PGIC, satisfaction, hair stage."""

from __future__ import annotations

import pytest

from instruments import AnswerError, Instrument, default_library, score
from instruments.scoring import meaningful_change


@pytest.fixture(scope="module")
def hair_status() -> Instrument:
    """hair_status 1.0: its vectors prove a stored 1.0 response scores as before."""
    return default_library().version("hair_status", "1.0")


@pytest.fixture(scope="module")
def hair_change(shipped: dict[str, Instrument]) -> Instrument:
    return shipped["hair_change"]


@pytest.fixture(scope="module")
def pgic(shipped: dict[str, Instrument]) -> Instrument:
    return shipped["pgic"]


@pytest.fixture(scope="module")
def hair_stage() -> Instrument:
    """hair_stage 1.0: a stored 1.0 response scores as before (2.0: tests/instruments/test_stage_v2.py)."""
    return default_library().version("hair_stage", "1.0")


def test_hair_status_scores_each_item_without_a_total(hair_status: Instrument) -> None:
    result = score(hair_status, {"hair_severity": 7, "hair_bother": 10, "shedding": 4})
    assert result.status == "complete"
    assert result.scores == {"hair_severity": 7, "hair_bother": 10, "shedding": 4}
    assert result.bands == {} and result.flags == []


def test_hair_status_missing_item_is_incomplete_but_answered_items_are_scored(
    hair_status: Instrument,
) -> None:
    result = score(hair_status, {"hair_severity": 0, "shedding": 2})
    assert result.status == "incomplete"
    assert result.scores == {"hair_severity": 0, "hair_bother": None, "shedding": 2}


@pytest.mark.parametrize(("item", "code"), [("hair_severity", 11), ("hair_bother", -1), ("shedding", 5)])
def test_hair_status_out_of_range_is_refused(hair_status: Instrument, item: str, code: int) -> None:
    with pytest.raises(AnswerError, match=f"item '{item}': code {code} out of range"):
        score(hair_status, {item: code})


def test_hair_status_two_points_on_a_0_10_item_is_notable(hair_status: Instrument) -> None:
    assert meaningful_change(hair_status) == {"hair_severity": 2.0, "hair_bother": 2.0}
    assert "borrowed" in (hair_status.change_note("hair_severity", "en") or "").lower()


@pytest.mark.parametrize(
    ("code", "flags"),
    [
        (3, ["improved", "meaningfully_improved"]),
        (2, ["improved", "meaningfully_improved"]),
        (1, ["improved"]),
        (0, []),
        (-1, ["worse"]),
        (-2, ["worse"]),
        (-3, ["worse"]),
    ],
)
@pytest.mark.parametrize("item", ["amount", "shedding", "appearance"])
def test_hair_change_derived_flags(hair_change: Instrument, item: str, code: int, flags: list[str]) -> None:
    result = score(hair_change, {item: code})
    assert result.flags == [f"{item}_{flag}" for flag in flags]
    assert result.scores[item] == code


def test_hair_change_is_reported_per_item_never_summed(hair_change: Instrument) -> None:
    result = score(hair_change, {"amount": 2, "shedding": 3, "appearance": -1})
    assert result.status == "complete"
    assert result.scores == {"amount": 2, "shedding": 3, "appearance": -1}
    assert result.flags == [
        "amount_improved",
        "amount_meaningfully_improved",
        "shedding_improved",
        "shedding_meaningfully_improved",
        "appearance_worse",
    ]


def test_hair_change_positive_codes_are_improvements_for_shedding_too(hair_change: Instrument) -> None:
    shedding = hair_change.item("shedding")
    assert shedding.codes() == frozenset(range(-3, 4))
    assert "less" in shedding.label(3, "en").lower()
    assert "more" in shedding.label(-3, "en").lower()


@pytest.mark.parametrize(
    ("code", "category", "responder"),
    [
        (1, "meaningful_improvement", True),
        (2, "meaningful_improvement", True),
        (3, "minimal_improvement", False),
        (4, "no_change", False),
        (5, "worse", False),
        (6, "worse", False),
        (7, "worse", False),
    ],
)
def test_pgic_categories(pgic: Instrument, code: int, category: str, responder: bool) -> None:
    result = score(pgic, {"pgic": code})
    assert result.status == "complete"
    assert result.scores == {"pgic": code}
    assert result.bands == {"pgic": category}
    assert result.flags == (["responder"] if responder else [])


def test_pgic_unanswered_has_no_category(pgic: Instrument) -> None:
    result = score(pgic, {})
    assert (result.status, result.scores, result.bands) == ("incomplete", {"pgic": None}, {"pgic": None})


def test_pgic_codes_one_to_seven_only(pgic: Instrument) -> None:
    with pytest.raises(AnswerError):
        score(pgic, {"pgic": 0})


def test_satisfaction_scores_each_item(shipped: dict[str, Instrument]) -> None:
    satisfaction = shipped["satisfaction"]
    result = score(satisfaction, {"satisfaction": 8, "would_repeat": 1, "would_recommend": 2})
    assert result.status == "complete"
    assert result.scores == {"satisfaction": 8, "would_repeat": 1, "would_recommend": 2}
    assert satisfaction.item("would_recommend").label(2, "en") == "Not sure"
    assert satisfaction.item("would_repeat").label(0, "fr") == "Non"


def test_hair_stage_complete_with_the_picture_of_the_chosen_pattern(hair_stage: Instrument) -> None:
    result = score(hair_stage, {"pattern": 1, "norwood": 6})
    assert result.status == "complete"
    assert result.scores == {"pattern": 1, "norwood": 6, "sinclair": None}


def test_hair_stage_incomplete_without_the_picture(hair_stage: Instrument) -> None:
    assert score(hair_stage, {"pattern": 2}).status == "incomplete"
    assert score(hair_stage, {"pattern": 2, "sinclair": 5}).status == "complete"
    assert score(hair_stage, {}).status == "incomplete"


def test_pirc_grades_are_worst_or_zero_when_absent(pirc: Instrument) -> None:
    answers = {
        "pain_present": 1,
        "pain_worst": 3,
        "pain_now": 0,
        "pain_interference": 1,
        "redness_present": 0,
        "swelling_present": 0,
        "bruising_present": 1,
        "bruising_worst": 1,
        "bruising_now": 1,
        "bruising_interference": 0,
        "itch_present": 0,
    }
    result = score(pirc, answers)
    assert result.scores == {
        "pain_grade": 3,
        "redness_grade": 0,
        "swelling_grade": 0,
        "bruising_grade": 1,
        "itch_grade": 0,
        "headache_grade": None,
    }
    assert result.status == "incomplete"  # headache and the red flags are unanswered


def test_pirc_grade_is_unknown_when_worst_is_missing(pirc: Instrument) -> None:
    assert score(pirc, {"pain_present": 1}).scores["pain_grade"] is None


def test_pirc_complete_when_every_shown_question_is_answered(pirc: Instrument) -> None:
    nothing = {item.id: 0 for item in pirc.items if item.show_if is None and not item.is_text}
    result = score(pirc, nothing)
    assert result.status == "complete"
    assert set(result.scores.values()) == {0}
    with_pain = nothing | {"pain_present": 1, "pain_worst": 2, "pain_now": 1}
    assert score(pirc, with_pain).status == "incomplete"  # interference is shown but unanswered
    assert score(pirc, with_pain | {"pain_interference": 0}).status == "complete"


def test_pirc_free_text_is_never_scored_nor_required(pirc: Instrument) -> None:
    nothing = {item.id: 0 for item in pirc.items if item.show_if is None and not item.is_text}
    result = score(pirc, nothing | {"other": "slight tingling"})
    assert "other" not in result.scores
    assert result == score(pirc, nothing)
