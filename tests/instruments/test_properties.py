"""Properties over random valid answer sets: scores stay in range; missing data never alerts."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from instruments import default_library, evaluate_alerts, score
from instruments.alerts import AlertContext
from instruments.model import Instrument

LIBRARY = default_library()
WHO5, RSES = LIBRARY.version("who5", "1.0"), LIBRARY.version("rses", "1.0")
PIRC, PIRC2 = LIBRARY.version("pirc", "1.0"), LIBRARY.version("pirc", "2.0")
SYMPTOMS = ["pain", "redness", "swelling", "bruising", "itch", "headache"]


def flat_answers(instrument: Instrument) -> st.SearchStrategy[dict[str, int | None]]:
    """Any code or missing, for instruments without show_if."""
    return st.fixed_dictionaries(
        {item.id: st.one_of(st.none(), st.sampled_from(sorted(item.codes()))) for item in instrument.items}
    )


@st.composite
def pirc_answers(draw: st.DrawFn, checklist: Instrument = PIRC) -> dict[str, Any]:
    """A valid checklist: follow-up questions answered only when their gate is 'yes'."""
    answers: dict[str, Any] = {}
    maybe = st.one_of(st.none(), st.integers(0, 1))
    for item in checklist.items:
        if item.show_if is not None or item.is_text:
            continue
        answers[item.id] = draw(maybe)
    for item in checklist.items:
        if item.show_if is not None and answers.get(item.show_if["item"]) == 1:
            answers[item.id] = draw(st.one_of(st.none(), st.sampled_from(sorted(item.codes()))))
    answers["other"] = draw(st.one_of(st.none(), st.text(max_size=50)))
    return answers


contexts = st.builds(
    AlertContext,
    hours_since_session=st.one_of(st.none(), st.floats(0, 2000, allow_nan=False)),
    previous_grades=st.one_of(
        st.none(), st.dictionaries(st.sampled_from([f"{s}_grade" for s in SYMPTOMS]), st.integers(0, 4))
    ),
)


@given(flat_answers(WHO5))
def test_who5_scores_stay_in_range(answers: dict[str, int | None]) -> None:
    result = score(WHO5, answers)
    if None in answers.values():
        assert result.status == "incomplete" and result.scores == {"raw": None, "percent": None}
    else:
        assert result.status == "complete"
        assert 0 <= result.scores["raw"] <= 25
        assert result.scores["percent"] == result.scores["raw"] * 4
        assert result.bands["percent"] is not None


@given(flat_answers(RSES))
def test_rses_scores_stay_in_range(answers: dict[str, int | None]) -> None:
    result = score(RSES, answers)
    missing = sum(value is None for value in answers.values())
    expected = "complete" if missing == 0 else "prorated" if missing <= 2 else "incomplete"
    assert result.status == expected
    total = result.scores["total"]
    if expected == "incomplete":
        assert total is None and result.bands["total"] is None
    else:
        assert 0 <= total <= 30
        assert result.scores["total_10_40"] == round(total + 10, 1)
        assert result.bands["total"] in ("low", "normal", "high")


@given(pirc_answers())
def test_pirc_grades_stay_in_range(answers: dict[str, Any]) -> None:
    result = score(PIRC, answers)
    for name in SYMPTOMS:
        grade = result.scores[f"{name}_grade"]
        present = answers[f"{name}_present"]
        if present is None:
            assert grade is None
        elif present == 0:
            assert grade == 0
        else:
            assert grade is None or 1 <= grade <= 4


def check_level_in_range(checklist: Instrument, answers: dict[str, Any], context: AlertContext) -> None:
    result = evaluate_alerts(checklist, answers, context)
    assert 0 <= result.level <= 3
    assert (result.level == 0) == (result.reasons == [])


def check_removing_answers(
    checklist: Instrument, answers: dict[str, Any], context: AlertContext, data: st.DataObject
) -> None:
    full = evaluate_alerts(checklist, answers, context)
    dropped = data.draw(st.sets(st.sampled_from(sorted(answers))))
    fewer = {key: (None if key in dropped else value) for key, value in answers.items()}
    for item in checklist.items:  # a hidden follow-up must be empty too
        if item.show_if is not None and fewer.get(item.show_if["item"]) != 1:
            fewer[item.id] = None
    partial = evaluate_alerts(checklist, fewer, context)
    assert partial.level <= full.level
    assert set(partial.reasons) <= set(full.reasons)
    assert {t.rule for t in partial.tasks} <= {t.rule for t in full.tasks}


def check_nothing_alerts(checklist: Instrument, answers: dict[str, Any], context: AlertContext) -> None:
    result = evaluate_alerts(checklist, answers, context)
    assert (result.level, result.reasons, result.tasks) == (0, [], [])


def gates(checklist: Instrument) -> st.SearchStrategy[dict[str, int | None]]:
    ids = [item.id for item in checklist.items if item.show_if is None and not item.is_text]
    return st.fixed_dictionaries({gate: st.sampled_from([0, None]) for gate in ids})


# One test function per checklist version: hypothesis keeps one example database per function.
@given(pirc_answers(PIRC), contexts)
def test_pirc_alert_level_is_between_0_and_3(answers: dict[str, Any], context: AlertContext) -> None:
    check_level_in_range(PIRC, answers, context)


@given(pirc_answers(PIRC2), contexts)
def test_pirc2_alert_level_is_between_0_and_3(answers: dict[str, Any], context: AlertContext) -> None:
    check_level_in_range(PIRC2, answers, context)


@given(pirc_answers(PIRC), contexts, st.data())
def test_removing_answers_never_adds_an_alert(
    answers: dict[str, Any], context: AlertContext, data: st.DataObject
) -> None:
    check_removing_answers(PIRC, answers, context, data)


@given(pirc_answers(PIRC2), contexts, st.data())
def test_pirc2_removing_answers_never_adds_an_alert_nor_a_task(
    answers: dict[str, Any], context: AlertContext, data: st.DataObject
) -> None:
    check_removing_answers(PIRC2, answers, context, data)


@given(contexts)
def test_an_empty_checklist_never_alerts(context: AlertContext) -> None:
    for checklist in (PIRC, PIRC2):
        check_nothing_alerts(checklist, {item.id: None for item in checklist.items}, context)


@given(gates(PIRC), contexts)
def test_answers_that_report_nothing_never_alert(
    answers: dict[str, int | None], context: AlertContext
) -> None:
    check_nothing_alerts(PIRC, answers, context)


@given(gates(PIRC2), contexts)
def test_pirc2_answers_that_report_nothing_never_alert(
    answers: dict[str, int | None], context: AlertContext
) -> None:
    check_nothing_alerts(PIRC2, answers, context)


@given(flat_answers(WHO5))
def test_who5_with_any_missing_item_never_alerts(answers: dict[str, int | None]) -> None:
    if None in answers.values():
        assert evaluate_alerts(WHO5, answers).level == 0
