"""Answers are checked against the definition: unknown items, wrong types and bad codes fail."""

from __future__ import annotations

import pytest

from instruments import AnswerError, Instrument, validate_answers, visible_items


def test_validated_answers_list_every_item_with_none_for_missing(who5: Instrument) -> None:
    clean = validate_answers(who5, {"who5_1": 3, "who5_2": None})
    assert clean == {"who5_1": 3, "who5_2": None, "who5_3": None, "who5_4": None, "who5_5": None}


def test_unknown_item_is_refused_by_name(who5: Instrument) -> None:
    with pytest.raises(AnswerError, match="who5: unknown item 'who5_6'"):
        validate_answers(who5, {"who5_6": 1})


@pytest.mark.parametrize("code", [-1, 6, 100])
def test_out_of_range_code_is_refused(who5: Instrument, code: int) -> None:
    with pytest.raises(
        AnswerError, match=rf"item 'who5_1': code {code} out of range \(allowed: 0, 1, 2, 3, 4, 5\)"
    ):
        validate_answers(who5, {"who5_1": code})


@pytest.mark.parametrize("value", ["3", True, False, 3.0, 2.5, [3], {"code": 3}])
def test_non_integer_codes_are_refused(who5: Instrument, value: object) -> None:
    with pytest.raises(AnswerError, match="expected an integer code"):
        validate_answers(who5, {"who5_1": value})


def test_answers_must_be_a_mapping(who5: Instrument) -> None:
    with pytest.raises(AnswerError, match="must be an object"):
        validate_answers(who5, [("who5_1", 3)])  # type: ignore[arg-type]


def test_text_items_take_text_only(pirc: Instrument) -> None:
    assert validate_answers(pirc, {"other": "  itchy for a day  "})["other"] == "itchy for a day"
    assert validate_answers(pirc, {"other": "   "})["other"] is None
    with pytest.raises(AnswerError, match="expected text"):
        validate_answers(pirc, {"other": 3})
    with pytest.raises(AnswerError, match="longer than"):
        validate_answers(pirc, {"other": "x" * 2001})


def test_answer_to_a_hidden_item_is_refused_as_tampering(pirc: Instrument) -> None:
    with pytest.raises(AnswerError, match="'pain_worst' answered although it is not shown"):
        validate_answers(pirc, {"pain_present": 0, "pain_worst": 3})
    with pytest.raises(AnswerError, match="not shown"):
        validate_answers(pirc, {"pain_worst": 3})


def test_null_answer_to_a_hidden_item_is_fine(pirc: Instrument) -> None:
    clean = validate_answers(pirc, {"pain_present": 0, "pain_worst": None})
    assert clean["pain_worst"] is None


def test_hidden_stage_picture_cannot_be_answered(shipped: dict[str, Instrument]) -> None:
    stage = shipped["hair_stage"]
    assert validate_answers(stage, {"pattern": 1, "norwood": 6})["norwood"] == 6
    with pytest.raises(AnswerError, match="'sinclair'"):
        validate_answers(stage, {"pattern": 1, "sinclair": 2})


def test_visible_items_follow_show_if_and_language_order(pirc: Instrument) -> None:
    before = [i.id for i in visible_items(pirc, {}, section="local")]
    assert before == [
        f"{s}_present" for s in ("pain", "redness", "swelling", "bruising", "itch", "headache")
    ] + ["other"]
    after = [i.id for i in visible_items(pirc, {"pain_present": 1}, section="local")]
    assert after[:4] == ["pain_present", "pain_worst", "pain_now", "pain_interference"]
    flags = [i.id for i in visible_items(pirc, {"rf_fever": 1}, lang="fr", section="red_flags")]
    assert flags[:6] == ["rf_breathing", "rf_angioedema", "rf_hives", "rf_faint", "rf_fever", "rf_fever_now"]


def test_visible_items_in_french_order(rses: Instrument) -> None:
    assert visible_items(rses, {}, lang="fr")[0].id == "rses_7"


def test_visible_items_tolerate_unvalidated_input(shipped: dict[str, Instrument]) -> None:
    stage = shipped["hair_stage"]
    assert [i.id for i in visible_items(stage, {"pattern": "1"})] == ["pattern"]
    assert [i.id for i in visible_items(stage, {"pattern": 2})] == ["pattern", "sinclair"]
