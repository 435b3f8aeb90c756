"""The value objects are read-only and answer the questions forms and reports ask."""

from __future__ import annotations

import dataclasses

import pytest

from instruments import Instrument, default_library
from instruments.loader import DEFINITIONS_DIR

SHIPPED = ["hair_change", "hair_stage", "hair_status", "pgic", "phq9", "pirc", "rses", "satisfaction",
           "systemic", "systemic_5ari", "systemic_minoxidil", "who5"]


def test_all_twelve_instruments_ship(shipped: dict[str, Instrument]) -> None:
    assert sorted(shipped) == SHIPPED


@pytest.mark.parametrize("instrument_id", SHIPPED)
def test_every_instrument_has_english_and_french_text_everywhere(
    shipped: dict[str, Instrument], instrument_id: str
) -> None:
    instrument = shipped[instrument_id]
    assert instrument.languages == ("en", "fr")
    for lang in ("en", "fr"):
        assert instrument.title[lang] and instrument.instructions[lang]
        for item in instrument.items:
            assert item.texts[lang].strip()
            for option in item.options:
                assert option.labels[lang].strip()
        assert [i.id for i in instrument.items_in_order(lang)]


def test_translation_statuses_follow_the_spec(shipped: dict[str, Instrument]) -> None:
    statuses = {key: dict(inst.translation_status) for key, inst in shipped.items()}
    assert statuses["who5"] == {"en": "official", "fr": "draft"}
    assert statuses["rses"] == {"en": "official", "fr": "official"}
    for project_written in ("hair_status", "hair_change", "hair_stage", "satisfaction", "pirc"):
        assert statuses[project_written]["fr"] == "draft"


def test_validated_marks_published_instruments_only(shipped: dict[str, Instrument]) -> None:
    # PGIC 2.0: a generic item whose hair-loss adaptation is not validated (1.0 said validated)
    assert {key for key, inst in shipped.items() if inst.validated} == {"who5", "rses", "phq9"}


def test_instruments_are_frozen_all_the_way_down(who5: Instrument) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        who5.version = "2.0"  # type: ignore[misc]
    with pytest.raises(TypeError):
        who5.title["en"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError):
        who5.items[0].texts["en"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError):
        who5.items[0].options[0].labels["en"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError):
        who5.scoring["version"] = 2  # type: ignore[index]
    assert isinstance(who5.scoring["scores"], tuple)


def test_instruments_and_items_are_hashable(who5: Instrument) -> None:
    assert len({who5, who5}) == 1
    assert len(set(who5.items)) == 5


def test_item_lookup_raises_key_error_for_unknown_ids(who5: Instrument) -> None:
    assert who5.item("who5_3").id == "who5_3"
    with pytest.raises(KeyError, match="nope"):
        who5.item("nope")


def test_items_in_order_follows_each_language(rses: Instrument) -> None:
    assert [i.id for i in rses.items_in_order("en")] == [f"rses_{n}" for n in range(1, 11)]
    assert [i.id for i in rses.items_in_order("fr")] == [
        "rses_7",
        "rses_3",
        "rses_9",
        "rses_4",
        "rses_5",
        "rses_10",
        "rses_1",
        "rses_8",
        "rses_6",
        "rses_2",
    ]
    with pytest.raises(KeyError):
        rses.items_in_order("de")


def test_scoring_version_names_instrument_version_and_rules(who5: Instrument) -> None:
    assert who5.scoring_version == "who5-1.0-s1"


def test_codes_and_labels(who5: Instrument, rses: Instrument) -> None:
    item = who5.item("who5_1")
    assert item.codes() == frozenset(range(6))
    assert item.label(5, "en") == "All of the time"
    assert item.label(0, "fr") == "Jamais"
    assert rses.item("rses_1").label(3, "fr") == "Tout à fait en accord"
    with pytest.raises(KeyError):
        item.label(6, "en")


def test_scale_items_get_generated_options_with_end_labels(shipped: dict[str, Instrument]) -> None:
    item = default_library().version("hair_status", "1.0").item("hair_severity")
    assert item.type == "scale"
    assert item.codes() == frozenset(range(11))
    assert "No hair loss" in item.label(0, "en")
    assert "imaginable" in item.label(10, "en")
    assert item.label(5, "fr") == "5"


def test_yesno_items_are_coded_zero_and_one(pirc: Instrument) -> None:
    for item in pirc.items:
        if item.type == "yesno":
            assert item.codes() == {0, 1}
            assert item.label(1, "fr") == "Oui"


def test_free_text_items_have_no_options_and_are_optional(pirc: Instrument) -> None:
    other = pirc.item("other")
    assert other.type == "text" and other.is_text and other.optional_text
    assert other.codes() == frozenset()
    assert other.help is not None


def test_pirc_items_and_sections(pirc: Instrument) -> None:
    for symptom in ("pain", "redness", "swelling", "bruising", "itch", "headache"):
        assert pirc.item(f"{symptom}_present").section == "local"
        assert pirc.item(f"{symptom}_worst").codes() == {1, 2, 3, 4}
        assert pirc.item(f"{symptom}_interference").codes() == {0, 1, 2, 3, 4}
        for suffix in ("worst", "now", "interference"):
            assert pirc.item(f"{symptom}_{suffix}").show_if == {"item": f"{symptom}_present", "eq": 1}
    flags = [i.id for i in pirc.items if i.section == "red_flags" and not i.id.endswith("_now")]
    assert len(flags) == 10
    for flag in flags:
        assert pirc.item(f"{flag}_now").show_if == {"item": flag, "eq": 1}


def test_hair_stage_options_show_original_small_drawings(shipped: dict[str, Instrument]) -> None:
    stage = shipped["hair_stage"]
    norwood, sinclair = stage.item("norwood"), stage.item("sinclair")
    assert norwood.codes() == frozenset((*range(1, 13), 99))  # 99: none of these / not sure (2.0)
    assert sinclair.codes() == frozenset((*range(1, 6), 99))
    assert "III vertex" in norwood.label(6, "en")
    assert norwood.label(12, "fr").startswith("Stade VII")
    for option in (*norwood.options, *sinclair.options):
        if option.code == 99:
            assert option.image is None and "not sure" in option.labels["en"]
            continue
        assert option.image is not None
        image = DEFINITIONS_DIR / "images" / option.image
        assert image.stat().st_size < 1500
        assert image.read_text().startswith("<svg")
    assert len({o.image for o in norwood.options if o.image}) == 12


def test_score_names_are_listed_in_rule_order(who5: Instrument, pirc: Instrument) -> None:
    assert who5.score_names() == ("raw", "percent")
    assert pirc.score_names() == tuple(
        f"{s}_grade" for s in ("pain", "redness", "swelling", "bruising", "itch", "headache")
    )
