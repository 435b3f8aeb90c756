"""WHO-5: raw 0-25, percent = raw x 4, complete forms only, bands on percent, item_low flag."""

from __future__ import annotations

import pytest

from instruments import Instrument, evaluate_alerts, score
from instruments.scoring import band_of, meaningful_change

ITEMS = [f"who5_{n}" for n in range(1, 6)]


def answers(*codes: int | None) -> dict[str, int | None]:
    return dict(zip(ITEMS, codes, strict=True))


def test_who5_all_of_the_time_scores_the_maximum(who5: Instrument) -> None:
    result = score(who5, answers(5, 5, 5, 5, 5))
    assert result.status == "complete"
    assert result.scores == {"raw": 25, "percent": 100}
    assert result.bands == {"percent": "not_low"}
    assert result.flags == []


def test_who5_at_no_time_scores_zero_and_flags_low_items(who5: Instrument) -> None:
    result = score(who5, answers(0, 0, 0, 0, 0))
    assert result.scores == {"raw": 0, "percent": 0}
    assert result.bands == {"percent": "likely_depression"}
    assert result.flags == ["item_low"]


def test_who5_percent_is_raw_times_four(who5: Instrument) -> None:
    result = score(who5, answers(3, 4, 2, 5, 1))
    assert result.scores == {"raw": 15, "percent": 60}


@pytest.mark.parametrize("missing", ITEMS)
def test_who5_one_missing_item_leaves_the_form_unscored(who5: Instrument, missing: str) -> None:
    given = {item: 4 for item in ITEMS if item != missing}
    result = score(who5, given)
    assert result.status == "incomplete"
    assert result.scores == {"raw": None, "percent": None}
    assert result.bands == {"percent": None}


def test_who5_null_is_the_same_as_absent(who5: Instrument) -> None:
    assert score(who5, answers(4, 4, 4, 4, None)) == score(who5, {i: 4 for i in ITEMS[:4]})


@pytest.mark.parametrize(
    ("codes", "percent", "band"),
    [
        ((2, 2, 1, 1, 1), 28, "likely_depression"),
        ((2, 2, 2, 1, 1), 32, "poor_wellbeing"),
        ((3, 3, 2, 2, 2), 48, "poor_wellbeing"),
        ((3, 3, 3, 2, 2), 52, "not_low"),
    ],
)
def test_who5_bands_at_the_boundaries_of_real_answers(
    who5: Instrument, codes: tuple[int, ...], percent: int, band: str
) -> None:
    result = score(who5, answers(*codes))
    assert result.scores["percent"] == percent
    assert result.bands["percent"] == band


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0, "likely_depression"),
        (28, "likely_depression"),
        (28.5, "poor_wellbeing"),
        (29, "poor_wellbeing"),
        (50, "poor_wellbeing"),
        (51, "not_low"),
        (100, "not_low"),
        (None, None),
    ],
)
def test_who5_band_boundaries_28_29_50_51(who5: Instrument, value: float | None, band: str | None) -> None:
    assert band_of(who5, "percent", value) == band


def test_band_of_an_unbanded_score_is_none(who5: Instrument) -> None:
    assert band_of(who5, "raw", 10) is None


@pytest.mark.parametrize("low", [0, 1])
def test_who5_item_low_flag_when_any_item_is_zero_or_one(who5: Instrument, low: int) -> None:
    assert score(who5, answers(5, 5, low, 5, 5)).flags == ["item_low"]
    assert score(who5, answers(2, 2, 2, 2, 2)).flags == []


def test_who5_item_low_flag_is_raised_even_on_an_incomplete_form(who5: Instrument) -> None:
    result = score(who5, {"who5_1": 0})
    assert result.status == "incomplete" and result.flags == ["item_low"]


def test_who5_meaningful_change_is_ten_points(who5: Instrument) -> None:
    assert meaningful_change(who5) == {"percent": 10.0}


def test_who5_score_result_serialises_to_the_cli_shape(who5: Instrument) -> None:
    assert score(who5, answers(5, 5, 5, 5, 5)).to_dict() == {
        "instrument": "who5",
        "version": "1.0",
        "scoring_version": "who5-1.0-s1",
        "status": "complete",
        "scores": {"raw": 25, "percent": 100},
        "bands": {"percent": "not_low"},
        "flags": [],
    }


def test_who5_percent_28_or_less_alerts_for_the_next_visit(who5: Instrument) -> None:
    low = evaluate_alerts(who5, answers(2, 2, 1, 1, 1))
    assert (low.level, low.reasons) == (1, ["who5_low"])
    assert evaluate_alerts(who5, answers(2, 2, 2, 1, 1)).level == 0


def test_who5_incomplete_form_never_alerts(who5: Instrument) -> None:
    assert evaluate_alerts(who5, {"who5_1": 0, "who5_2": 0}).level == 0
