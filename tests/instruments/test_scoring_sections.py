"""A response that asked one section of an instrument is judged complete on that section alone."""

from __future__ import annotations

import pytest

from instruments import Instrument, default_library, score

RED_FLAGS = ("rf_breathing", "rf_angioedema", "rf_hives", "rf_faint", "rf_fever", "rf_pus",
             "rf_nodules", "rf_skin_damage", "rf_hair_patch", "rf_severe_headache")
RED_FLAGS_2 = ("rf_breathing", "rf_airway_swelling", "rf_hives", "rf_faint", "rf_fever", "rf_pus",
               "rf_nodules", "rf_skin_damage", "rf_skin_blanching", "rf_hair_patch", "rf_vision",
               "rf_thunderclap")
VERSIONS = [("1.0", RED_FLAGS), ("2.0", RED_FLAGS_2)]


def checklist(version: str) -> Instrument:
    return default_library().version("pirc", version)


@pytest.mark.parametrize(("version", "flags"), VERSIONS)
def test_red_flag_section_answered_in_full_is_complete(version: str, flags: tuple[str, ...]) -> None:
    pirc = checklist(version)
    answers = dict.fromkeys(flags, 0)
    assert score(pirc, answers, section="red_flags").status == "complete"
    assert score(pirc, answers).status == "incomplete"


@pytest.mark.parametrize(("version", "flags"), VERSIONS)
def test_red_flag_section_with_a_gap_is_incomplete(version: str, flags: tuple[str, ...]) -> None:
    pirc = checklist(version)
    answers = dict.fromkeys(flags[:-1], 0)
    assert score(pirc, answers, section="red_flags").status == "incomplete"


@pytest.mark.parametrize(("version", "flags"), VERSIONS)
def test_the_checklist_lists_its_red_flag_questions_without_their_follow_ups(
    version: str, flags: tuple[str, ...]
) -> None:
    assert checklist(version).section_questions("red_flags") == flags
