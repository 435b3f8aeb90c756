"""hair_stage 2.0: Norwood-Hamilton codes are categories with a derived major stage I-VII, and
"none of these / not sure" is an answer; 1.0 responses score as before."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from instruments import (
    Instrument,
    InstrumentError,
    categorical_scores,
    default_library,
    load_instrument,
    score,
)
from tests.instruments.conftest import definition

#: norwood code -> drawing -> major stage (the a-variants and III vertex go to their major stage)
MAJOR = [(1, "I", 1), (2, "II", 2), (3, "IIa", 2), (4, "III", 3), (5, "IIIa", 3), (6, "III vertex", 3),
         (7, "IV", 4), (8, "IVa", 4), (9, "V", 5), (10, "Va", 5), (11, "VI", 6), (12, "VII", 7)]
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII"]


@pytest.fixture(scope="module")
def stage() -> Instrument:
    return default_library()["hair_stage"]


def test_2_0_is_current_and_1_0_is_kept(stage: Instrument) -> None:
    assert stage.version == "2.0" and stage.scoring_version == "hair_stage-2.0-s1"
    old = default_library().version("hair_stage", "1.0")
    assert score(old, {"pattern": 1, "norwood": 6}).scores == {"pattern": 1, "norwood": 6, "sinclair": None}
    for said in ("categories", "never average", "not sure", "I-VII", "IIIa and III vertex -> III"):
        assert said in stage.notes


@pytest.mark.parametrize(("code", "drawing", "major"), MAJOR)
def test_every_drawing_gives_its_major_stage(stage: Instrument, code: int, drawing: str, major: int) -> None:
    assert f"Stage {drawing} –" in stage.item("norwood").label(code, "en")
    result = score(stage, {"pattern": 1, "norwood": code})
    assert result.status == "complete"
    assert result.scores["norwood"] == code and result.scores["norwood_major"] == major
    assert categorical_scores(stage)["norwood_major"][major] == ROMAN[major - 1]
    assert drawing.startswith(ROMAN[major - 1])


def test_not_sure_is_a_complete_answer_without_a_stage(stage: Instrument) -> None:
    for answers in ({"pattern": 3}, {"pattern": 1, "norwood": 99}, {"pattern": 2, "sinclair": 99}):
        result = score(stage, answers)
        assert result.status == "complete"
        assert result.scores["norwood_major"] is None
    assert "not sure" in stage.item("pattern").label(3, "en")
    assert "je ne suis pas sûr(e)" in stage.item("norwood").label(99, "fr")
    with pytest.raises(ValueError, match="'norwood'"):  # no pictures after "none of these"
        score(stage, {"pattern": 3, "norwood": 4})


def test_stage_scores_are_categories_with_labels_in_each_language(stage: Instrument) -> None:
    en, fr = categorical_scores(stage, "en"), categorical_scores(stage, "fr")
    assert set(en) == {"pattern", "norwood", "norwood_major", "sinclair"}
    assert fr["norwood"][6].startswith("Stade III vertex")
    assert en["norwood"][99].startswith("None of these")
    assert categorical_scores(default_library()["who5"]) == {}


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["map"].update({"13": 7}), "map names code(s) ['13'] not defined for item 'norwood'"),
    (lambda r: r["labels"].pop("7"), "labels must name every category of the map"),
    (lambda r: r["map"].update({"1": "I"}), "map values must be integer categories"),
    (lambda r: r.update({"round": 1}), "unknown key(s) round"),
])
def test_the_loader_refuses_a_broken_recode(write_definition: Callable[..., Path], change, message) -> None:
    data = definition("hair_stage")
    change(next(r for r in data["scoring"]["scores"] if r["kind"] == "recode"))
    with pytest.raises(InstrumentError) as caught:
        load_instrument(write_definition(data))
    assert message in str(caught.value)
