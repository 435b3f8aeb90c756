"""A response that asked one section of an instrument is judged complete on that section alone."""

from __future__ import annotations

from instruments import default_library, score

RED_FLAGS = ("rf_breathing", "rf_angioedema", "rf_hives", "rf_faint", "rf_fever", "rf_pus",
             "rf_nodules", "rf_skin_damage", "rf_hair_patch", "rf_severe_headache")


def test_red_flag_section_answered_in_full_is_complete() -> None:
    pirc = default_library()["pirc"]
    answers = dict.fromkeys(RED_FLAGS, 0)
    assert score(pirc, answers, section="red_flags").status == "complete"
    assert score(pirc, answers).status == "incomplete"


def test_red_flag_section_with_a_gap_is_incomplete() -> None:
    pirc = default_library()["pirc"]
    answers = dict.fromkeys(RED_FLAGS[:-1], 0)
    assert score(pirc, answers, section="red_flags").status == "incomplete"


def test_the_checklist_lists_its_ten_red_flag_questions_without_their_follow_ups() -> None:
    assert default_library()["pirc"].section_questions("red_flags") == RED_FLAGS
