"""PHQ-9 (Kroenke 2001): total, bands, missing items, and item 9 as the level-3 crisis pathway."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from instruments import Instrument, default_library, evaluate_alerts, score
from instruments.alerts import rule_pathway

PHQ9 = default_library()["phq9"]


def answers(*codes: int | None) -> dict[str, int | None]:
    return {f"phq9_{i}": code for i, code in enumerate(codes, start=1)}


@pytest.mark.parametrize(
    ("codes", "total", "band"),
    [
        ((0,) * 9, 0, "minimal"),
        ((1, 1, 1, 1, 0, 0, 0, 0, 0), 4, "minimal"),
        ((1, 1, 1, 1, 1, 0, 0, 0, 0), 5, "mild"),
        ((2, 2, 2, 2, 1, 0, 0, 0, 0), 9, "mild"),
        ((2, 2, 2, 2, 2, 0, 0, 0, 0), 10, "moderate"),
        ((3, 3, 3, 3, 2, 1, 0, 0, 0), 15, "moderately_severe"),
        ((3, 3, 3, 3, 3, 3, 2, 0, 0), 20, "severe"),
        ((3,) * 9, 27, "severe"),
    ],
)
def test_total_and_severity_band(codes: tuple[int, ...], total: int, band: str) -> None:
    result = score(PHQ9, answers(*codes))
    assert (result.status, result.scores["total"], result.bands["total"]) == ("complete", total, band)


def test_one_missing_item_is_prorated_two_are_not_scored() -> None:
    one = score(PHQ9, answers(3, 3, 3, 3, 3, 3, 3, 2, None))
    assert one.status == "prorated" and one.scores["total"] == round(23 / 8 * 9, 1)
    two = score(PHQ9, answers(3, 3, 3, 3, 3, 3, 3, None, None))
    assert two.status == "incomplete" and two.scores["total"] is None


@pytest.mark.parametrize("code", [1, 2, 3])
def test_item_9_above_zero_is_a_level_3_crisis(code: int) -> None:
    result = evaluate_alerts(PHQ9, answers(0, 0, 0, 0, 0, 0, 0, 0, code))
    assert (result.level, result.reasons) == (3, ["phq9_item9"])
    assert rule_pathway(PHQ9.alert_rules, "phq9_item9") == "crisis"
    assert "item9_positive" in score(PHQ9, answers(0, 0, 0, 0, 0, 0, 0, 0, code)).flags


def test_item_9_at_zero_or_missing_raises_nothing_whatever_the_total() -> None:
    assert evaluate_alerts(PHQ9, answers(3, 3, 3, 3, 3, 3, 3, 3, 0)).level == 0
    assert evaluate_alerts(PHQ9, answers(3, 3, 3, 3, 3, 3, 3, 3, None)).level == 0


@given(st.fixed_dictionaries({f"phq9_{i}": st.one_of(st.none(), st.integers(0, 3)) for i in range(1, 10)}))
def test_missing_answers_never_alert(codes: dict[str, int | None]) -> None:
    result = evaluate_alerts(PHQ9, codes)
    assert result.level == (3 if (codes["phq9_9"] or 0) > 0 else 0)


def test_the_copyright_line_and_no_crisis_number_in_the_text() -> None:
    assert "No permission required to reproduce, translate, display or distribute" in PHQ9.licence
    texts = [*PHQ9.instructions.values()] + [t for item in PHQ9.items for t in item.texts.values()]
    assert not [t for t in texts if "3114" in t or "112" in t]


def test_validated_and_french_marked_draft_until_checked(shipped: dict[str, Instrument]) -> None:
    assert PHQ9.validated and PHQ9.translation_status == {"en": "official", "fr": "draft"}
