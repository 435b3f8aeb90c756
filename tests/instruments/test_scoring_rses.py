"""RSES: reverse keys 2, 5, 6, 8, 9; prorated with 1-2 missing; conventional bands; straightlining."""

from __future__ import annotations

import pytest

from instruments import Instrument, score
from instruments.scoring import band_of, meaningful_change, round_half_up

ITEMS = [f"rses_{n}" for n in range(1, 11)]
REVERSED = ["rses_2", "rses_5", "rses_6", "rses_8", "rses_9"]
POSITIVE = [item for item in ITEMS if item not in REVERSED]


def highest_self_esteem() -> dict[str, int]:
    return {item: 0 if item in REVERSED else 3 for item in ITEMS}


def test_rses_highest_self_esteem_scores_30(rses: Instrument) -> None:
    result = score(rses, highest_self_esteem())
    assert result.status == "complete"
    assert result.scores == {"total": 30, "total_10_40": 40}
    assert result.bands == {"total": "high"}
    assert result.flags == []


def test_rses_lowest_self_esteem_scores_0(rses: Instrument) -> None:
    lowest = {item: 3 if item in REVERSED else 0 for item in ITEMS}
    result = score(rses, lowest)
    assert result.scores == {"total": 0, "total_10_40": 10}
    assert result.bands == {"total": "low"}


@pytest.mark.parametrize("code", [0, 3])
def test_rses_all_same_code_scores_15_and_flags_straightlining(rses: Instrument, code: int) -> None:
    result = score(rses, dict.fromkeys(ITEMS, code))
    assert result.scores["total"] == 15
    assert result.flags == ["straightlining"]


@pytest.mark.parametrize("item", REVERSED)
def test_rses_each_reverse_item_scores_three_minus_code(rses: Instrument, item: str) -> None:
    baseline = dict.fromkeys(ITEMS, 1)  # positives score 1, reversed score 2: total 15
    assert score(rses, baseline).scores["total"] == 15
    assert score(rses, baseline | {item: 3}).scores["total"] == 13
    assert score(rses, baseline | {item: 0}).scores["total"] == 16


@pytest.mark.parametrize("item", POSITIVE)
def test_rses_each_positive_item_scores_its_code(rses: Instrument, item: str) -> None:
    baseline = dict.fromkeys(ITEMS, 1)
    assert score(rses, baseline | {item: 3}).scores["total"] == 17
    assert score(rses, baseline | {item: 0}).scores["total"] == 14


def test_rses_no_missing_item_is_complete_with_integer_totals(rses: Instrument) -> None:
    result = score(rses, dict.fromkeys(ITEMS, 1) | {"rses_1": 2})
    assert result.status == "complete"
    assert result.scores == {"total": 16, "total_10_40": 26}
    assert isinstance(result.scores["total"], int)


def test_rses_one_missing_item_is_prorated(rses: Instrument) -> None:
    answers = dict.fromkeys(ITEMS, 1)
    answers["rses_1"] = None  # nine answered: 4 x 1 + 5 x 2 = 14; 14 / 9 x 10 = 15.56
    result = score(rses, answers)
    assert result.status == "prorated"
    assert result.scores == {"total": 15.6, "total_10_40": 25.6}
    assert result.bands == {"total": "normal"}


def test_rses_two_missing_items_are_prorated(rses: Instrument) -> None:
    answers = highest_self_esteem()
    del answers["rses_1"], answers["rses_2"]
    result = score(rses, answers)
    assert result.status == "prorated"
    assert result.scores == {"total": 30.0, "total_10_40": 40.0}


def test_rses_prorating_rounds_to_one_decimal(rses: Instrument) -> None:
    answers = dict.fromkeys(ITEMS, 2)  # positives 2, reversed 1
    answers["rses_2"] = answers["rses_3"] = None  # 4 x 2 + 4 x 1 = 12 over 8 -> 15.0
    assert score(rses, answers).scores["total"] == 15.0
    answers["rses_3"] = 3  # 15 over 9 -> 16.666...
    assert score(rses, answers).scores == {"total": 16.7, "total_10_40": 26.7}


def test_rses_prorated_half_rounds_up_as_spss_stata_and_spreadsheets_do(rses: Instrument) -> None:
    # Eight answered item scores adding up to 9: 9 / 8 x 10 = 11.25 exactly -> 11.3 (not 11.2).
    answers = {"rses_1": 3, "rses_3": 3, "rses_4": 3, "rses_7": 0, "rses_2": 3, "rses_5": 3,
               "rses_6": 3, "rses_8": 3}  # positives 3+3+3+0, reversed 0+0+0+0 -> 9
    result = score(rses, answers)
    assert result.status == "prorated"
    assert result.scores == {"total": 11.3, "total_10_40": 21.3}
    assert rses.scoring_version == "rses-1.0-s2"  # the rounding rule changed: new scores say so


@pytest.mark.parametrize(("value", "places", "expected"), [
    (11.25, 1, 11.3), (11.35, 1, 11.4), (2.675, 2, 2.68), (-11.25, 1, -11.3), (0.5, 0, 1.0),
    (16.666666, 1, 16.7), (11.24, 1, 11.2)])
def test_round_half_up(value: float, places: int, expected: float) -> None:
    assert round_half_up(value, places) == expected


@pytest.mark.parametrize("missing", [3, 4, 10])
def test_rses_three_or_more_missing_items_leave_it_unscored(rses: Instrument, missing: int) -> None:
    answers = {item: 2 for item in ITEMS[missing:]}
    result = score(rses, answers)
    assert result.status == "incomplete"
    assert result.scores == {"total": None, "total_10_40": None}
    assert result.bands == {"total": None}


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "low"), (14.9, "low"), (15, "normal"), (20, "normal"), (25, "normal"), (25.1, "high"), (30, "high")],
)
def test_rses_band_boundaries(rses: Instrument, total: float, band: str) -> None:
    assert band_of(rses, "total", total) == band


def test_rses_bands_say_they_are_a_convention(rses: Instrument) -> None:
    (band,) = rses.scoring["bands"]
    note = rses.band_note(band["score"], "en")
    assert note is not None and "convention" in note and "no" in note.lower()
    assert "convention" in (rses.band_note(band["score"], "fr") or "")  # "Une convention courante..."


def test_rses_straightlining_needs_all_ten_answers(rses: Instrument) -> None:
    nine = {item: 2 for item in ITEMS[1:]}
    assert score(rses, nine).flags == []
    assert score(rses, nine | {"rses_1": 1}).flags == []
    assert score(rses, nine | {"rses_1": 2}).flags == ["straightlining"]


def test_rses_french_screen_order_gives_the_same_scores(rses: Instrument) -> None:
    """A patient answering the French screens in ÉES-10 order is scored by item id, not position."""
    codes_by_screen = [3, 3, 0, 2, 1, 3, 2, 1, 0, 0]  # screen 1 is rses_7, screen 3 is rses_9 ...
    french = {item.id: code for item, code in zip(rses.items_in_order("fr"), codes_by_screen, strict=True)}
    english = {item_id: french[item_id] for item_id in ITEMS}
    assert french["rses_7"] == 3 and french["rses_9"] == 0 and french["rses_2"] == 0
    assert score(rses, french) == score(rses, english)
    assert score(rses, french).scores["total"] == 3 + 3 + 3 + 2 + 2 + 3 + 2 + 2 + 3 + 3


def test_rses_ships_no_meaningful_change_threshold(rses: Instrument) -> None:
    assert meaningful_change(rses) == {}
