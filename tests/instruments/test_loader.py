"""The loader refuses broken definition files with a message naming file, item and problem."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from instruments import InstrumentError, load_instrument, load_library, score
from instruments.loader import DEFINITIONS_DIR

from .conftest import definition

Writer = Callable[..., Path]


def refused(path: Path, message: str) -> None:
    with pytest.raises(InstrumentError) as caught:
        load_instrument(path)
    assert message in str(caught.value), str(caught.value)


@pytest.mark.parametrize("path", sorted(DEFINITIONS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_shipped_definition_loads(path: Path) -> None:
    instrument = load_instrument(path)
    assert path.stem in (instrument.id, f"{instrument.id}-{instrument.version}")
    assert instrument.source_path == str(path)


def test_duplicate_item_id_is_refused(write_definition: Writer) -> None:
    data = definition("who5")
    data["items"][1]["id"] = "who5_1"
    refused(write_definition(data), "who5.json: item 'who5_1': item id duplicated")


def test_missing_french_text_is_refused(write_definition: Writer) -> None:
    data = definition("who5")
    del data["items"][2]["text"]["fr"]
    refused(write_definition(data), "who5.json: item 'who5_3': text has no 'fr' text")


def test_missing_french_option_label_is_refused(write_definition: Writer) -> None:
    data = definition("pgic")
    del data["items"][0]["options"][3]["labels"]["fr"]
    refused(write_definition(data), "pgic.json: item 'pgic': option 4 labels has no 'fr' text")


def test_missing_french_title_is_refused(write_definition: Writer) -> None:
    data = definition("who5")
    del data["title"]["fr"]
    refused(write_definition(data), "who5.json: title has no 'fr' text")


def test_duplicated_option_code_is_refused(write_definition: Writer) -> None:
    data = definition("pgic")
    data["items"][0]["options"][1]["code"] = 1
    refused(write_definition(data), "pgic.json: item 'pgic': option code 1 duplicated")


def test_non_integer_option_code_is_refused(write_definition: Writer) -> None:
    data = definition("pgic")
    data["items"][0]["options"][1]["code"] = "2"
    refused(write_definition(data), "pgic.json: item 'pgic': option code '2' is not an integer")


def test_order_that_is_not_a_permutation_is_refused(write_definition: Writer) -> None:
    data = definition("rses")
    data["order"]["fr"] = [*data["order"]["fr"][:-1], "rses_7"]
    refused(write_definition(data), "rses.json: order 'fr' is not a permutation of the items")


def test_missing_language_order_is_refused(write_definition: Writer) -> None:
    data = definition("rses")
    del data["order"]["fr"]
    refused(write_definition(data), "rses.json: order has no 'fr' list")


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("top", "who5.json: unknown key(s) colour"),
        ("item", "who5.json: item 'who5_2': unknown key(s) colour"),
    ],
)
def test_unknown_keys_are_refused(write_definition: Writer, where: str, message: str) -> None:
    data = definition("who5")
    (data if where == "top" else data["items"][1])["colour"] = "red"
    refused(write_definition(data), message)


def test_missing_required_key_is_refused(write_definition: Writer) -> None:
    data = definition("who5")
    del data["citation"]
    refused(write_definition(data), "who5.json: missing required key(s) citation")


def test_show_if_on_an_unknown_item_is_refused(write_definition: Writer) -> None:
    data = definition("hair_stage")
    data["items"][1]["show_if"] = {"item": "gender", "eq": 1}
    refused(
        write_definition(data),
        "hair_stage.json: item 'norwood': show_if: condition refers to unknown item 'gender'",
    )


def test_show_if_with_an_invalid_code_is_refused(write_definition: Writer) -> None:
    data = definition("hair_stage")
    data["items"][1]["show_if"] = {"item": "pattern", "eq": 9}
    refused(
        write_definition(data),
        "item 'norwood': show_if: condition uses code(s) [9] not defined for item 'pattern'",
    )


def test_show_if_loop_is_refused(write_definition: Writer) -> None:
    data = definition("hair_stage")
    data["items"][0]["show_if"] = {"item": "norwood", "eq": 1}
    refused(write_definition(data), "show_if forms a cycle")


def test_bad_item_id_is_refused(write_definition: Writer) -> None:
    data = definition("who5")
    data["items"][0]["id"] = "Who5-1"
    refused(write_definition(data), "who5.json: item 'Who5-1': id must match [a-z][a-z0-9_]*")


def test_unknown_item_type_is_refused(write_definition: Writer) -> None:
    data = definition("who5")
    data["items"][0]["type"] = "slider"
    refused(write_definition(data), "who5.json: item 'who5_1': unknown type 'slider'")


def test_yesno_item_with_other_codes_is_refused(write_definition: Writer) -> None:
    data = definition("pirc")
    data["option_sets"]["yes_no"][1]["code"] = 2
    refused(
        write_definition(data), "pirc.json: item 'pain_present': a yesno item must have exactly the codes 0"
    )


def test_missing_image_is_refused(write_definition: Writer) -> None:
    data = definition("hair_stage")
    data["items"][1]["options"][0]["image"] = "nowhere.svg"
    refused(write_definition(data), "hair_stage.json: item 'norwood': option 1 image 'nowhere.svg' not found")


def test_image_path_outside_the_images_folder_is_refused(write_definition: Writer) -> None:
    data = definition("hair_stage")
    data["items"][1]["options"][0]["image"] = "../who5.json"
    refused(write_definition(data), "is not a plain .svg file name")


def test_scoring_rule_on_an_unknown_item_is_refused(write_definition: Writer) -> None:
    data = definition("who5")
    data["scoring"]["scores"][0]["items"][4] = "who5_9"
    refused(write_definition(data), "who5.json: scoring: score 'raw': unknown item 'who5_9'")


def test_reverse_item_outside_the_sum_is_refused(write_definition: Writer) -> None:
    data = definition("rses")
    data["scoring"]["scores"][0]["reverse"].append("rses_11")
    refused(write_definition(data), "rses.json: scoring: score 'total': reverse item(s) ['rses_11']")


def test_overlapping_bands_are_refused(write_definition: Writer) -> None:
    data = definition("rses", "1.0")
    data["scoring"]["bands"][0]["ranges"][1]["min"] = 14
    refused(write_definition(data), "rses.json: scoring: bands on 'total': ranges 'low' and 'normal' overlap")


def test_touching_inclusive_bands_are_refused(write_definition: Writer) -> None:
    data = definition("who5")
    data["scoring"]["bands"][0]["ranges"][1] = {"name": "poor_wellbeing", "min": 28, "max": 50}
    refused(write_definition(data), "ranges 'likely_depression' and 'poor_wellbeing' overlap")


def test_band_on_an_unknown_score_is_refused(write_definition: Writer) -> None:
    data = definition("who5")
    data["scoring"]["bands"][0]["score"] = "percentage"
    refused(write_definition(data), "bands on 'percentage': unknown score")


def test_prorating_without_a_method_is_refused(write_definition: Writer) -> None:
    data = definition("rses")
    del data["scoring"]["scores"][0]["prorate"]
    refused(write_definition(data), 'max_missing > 0 needs "prorate": "mean"')


def test_alert_on_an_unknown_item_is_refused(write_definition: Writer) -> None:
    data = definition("pirc")
    data["alerts"][0]["when"]["all"][0]["item"] = "rf_wheeze"
    refused(
        write_definition(data), "pirc.json: alerts: rule 'rf_breathing_now': condition refers to unknown item"
    )


def test_alert_on_an_unknown_score_is_refused(write_definition: Writer) -> None:
    data = definition("who5")
    data["alerts"][0]["when"]["score"] = "total"
    refused(
        write_definition(data),
        "who5.json: alerts: rule 'who5_low': condition refers to unknown score 'total'",
    )


def test_alert_with_an_unknown_level_is_refused(write_definition: Writer) -> None:
    data = definition("who5")
    data["alerts"][0]["level"] = 4
    refused(write_definition(data), "rule 'who5_low': level must be 1, 2 or 3")


def test_alert_on_an_unknown_context_fact_is_refused(write_definition: Writer) -> None:
    data = definition("who5")
    data["alerts"][0]["when"] = {"context": "days_since_session", "gte": 3}
    refused(write_definition(data), "unknown context fact 'days_since_session'")


def test_translation_status_must_be_official_or_draft(write_definition: Writer) -> None:
    data = definition("who5")
    data["translation_status"]["fr"] = "machine"
    refused(write_definition(data), "translation_status values must be one of")


def test_declaring_a_language_without_its_texts_is_refused(write_definition: Writer) -> None:
    data = definition("pgic")
    data["languages"].append("de")
    data["translation_status"]["de"] = "draft"
    refused(write_definition(data), "pgic.json: title has no 'de' text")


def test_invalid_json_is_refused_with_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"id": "broken",', encoding="utf-8")
    refused(path, "broken.json: invalid JSON")


def test_repeated_json_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.json"
    path.write_text('{"id": "a", "id": "b"}', encoding="utf-8")
    refused(path, "twice.json: invalid JSON (key 'id' appears twice")


def private_instrument() -> dict[str, Any]:
    """A stand-in for a licensed instrument a clinic keeps in its own folder."""
    label = {"en": "Not at all", "fr": "Pas du tout"}
    lots = {"en": "A lot", "fr": "Beaucoup"}
    return {
        "id": "scalp_qol",
        "version": "2.1",
        "title": {"en": "Scalp quality of life", "fr": "Qualité de vie du cuir chevelu"},
        "citation": "Licensed to the clinic.",
        "licence": "Licensed; not for redistribution.",
        "validated": True,
        "instructions": {"en": "Over the last week.", "fr": "Au cours de la dernière semaine."},
        "languages": ["en", "fr"],
        "translation_status": {"en": "official", "fr": "official"},
        "option_sets": {"amount": [{"code": 0, "labels": label}, {"code": 3, "labels": lots}]},
        "items": [
            {"id": f"q{n}", "type": "choice", "text": {"en": f"Q{n}", "fr": f"Q{n}"}, "options": "amount"}
            for n in (1, 2)
        ],
        "order": {"en": ["q1", "q2"], "fr": ["q2", "q1"]},
        "scoring": {"version": 3, "scores": [{"name": "total", "kind": "sum", "items": ["q1", "q2"]}]},
    }


def test_a_clinic_adds_a_private_instrument_from_its_own_folder(
    tmp_path: Path, write_definition: Writer
) -> None:
    write_definition(private_instrument(), folder=tmp_path / "private")
    library = load_library([tmp_path / "private"])
    assert "scalp_qol" in library and "who5" in library
    private = library["scalp_qol"]
    assert private.scoring_version == "scalp_qol-2.1-s3"
    assert score(private, {"q1": 3, "q2": 0}).scores == {"total": 3}


def test_a_private_instrument_may_ship_its_own_images(tmp_path: Path, write_definition: Writer) -> None:
    folder = tmp_path / "private"
    (folder / "images").mkdir(parents=True)
    shutil.copy(DEFINITIONS_DIR / "images" / "sinclair_1.svg", folder / "images" / "mine.svg")
    data = private_instrument()
    data["option_sets"]["amount"][1]["image"] = "theirs.svg"
    write_definition(data, folder=folder)
    with pytest.raises(InstrumentError, match=r"image 'theirs\.svg' not found"):
        load_library([folder])
    data = private_instrument()
    data["option_sets"]["amount"][0]["image"] = "mine.svg"
    write_definition(data, folder=folder)
    assert load_library([folder])["scalp_qol"].item("q1").option(0).image == "mine.svg"


def test_duplicate_instrument_id_across_folders_is_refused(tmp_path: Path, write_definition: Writer) -> None:
    write_definition(definition("who5"), name="my_who5", folder=tmp_path / "private")
    with pytest.raises(
        InstrumentError, match=r"my_who5.json: instrument id 'who5' already defined by .*who5(-1\.0)?\.json"
    ):
        load_library([tmp_path / "private"])


def test_missing_extra_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError, match="extra instrument folder not found"):
        load_library([tmp_path / "absent"])


def test_broken_private_file_stops_the_library_from_loading(tmp_path: Path, write_definition: Writer) -> None:
    data = private_instrument()
    data["items"][0]["text"] = {"en": "Q1"}
    write_definition(data, folder=tmp_path / "private")
    with pytest.raises(InstrumentError, match=r"scalp_qol\.json: item 'q1': text has no 'fr' text"):
        load_library([tmp_path / "private"])


def test_definitions_round_trip_as_plain_json() -> None:
    for path in DEFINITIONS_DIR.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert path.stem in (data["id"], f"{data['id']}-{data['version']}")


@pytest.mark.parametrize("path", sorted(DEFINITIONS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_shipped_score_band_and_note_reads_in_each_language(path: Path) -> None:
    """Staff pages and the access summary name scores and bands from the definition, in the reader's
    language: a French reader saw 'not low' and an English-only band note."""
    instrument = load_instrument(path)
    for scale in instrument.score_names():
        assert all(rule.get("title", {}).get(lang) for rule in instrument.scoring["scores"]
                   if rule["name"] == scale for lang in instrument.languages), scale
    for band in instrument.scoring.get("bands", ()):
        for lang in instrument.languages:
            assert all(entry.get("label", {}).get(lang) for entry in band["ranges"]), (band["score"], lang)
            assert "note" not in band or (not isinstance(band["note"], str) and band["note"].get(lang)), lang
    for name, entry in instrument.scoring.get("change", {}).items():
        assert "note" not in entry or all(not isinstance(entry["note"], str) and entry["note"].get(lang)
                                           for lang in instrument.languages), name


def test_score_titles_band_labels_and_notes_fall_back_to_english_then_the_name(
    write_definition: Writer
) -> None:
    data = definition("who5")
    rule = data["scoring"]["scores"][1]
    del rule["title"]
    band = data["scoring"]["bands"][0]
    band["note"] = "English only, as older definitions wrote it."
    del band["ranges"][2]["label"]["fr"]
    who5 = load_instrument(write_definition(data))
    assert who5.score_title("percent", "fr") == "percent"
    assert who5.score_title("raw", "fr").startswith("Score")
    assert who5.band_note("percent", "fr") == "English only, as older definitions wrote it."
    assert who5.band_label("percent", "not_low", "fr") == "well-being not low"
    assert who5.band_label("percent", "poor_wellbeing", "fr") == "bien-être faible"


@pytest.mark.parametrize(("where", "value", "message"), [
    ("title", "Raw", "score 'raw' title: expected an object of language -> non-empty text"),
    ("label", {"fr": ""}, "label of 'not_low': expected an object of language -> non-empty text"),
    ("note", 3, "bands on 'percent' note: expected an object of language -> non-empty text"),
])
def test_malformed_score_texts_are_refused(write_definition: Writer, where: str, value: Any,
                                           message: str) -> None:
    data = definition("who5")
    target = {"title": data["scoring"]["scores"][0], "label": data["scoring"]["bands"][0]["ranges"][2],
              "note": data["scoring"]["bands"][0]}[where]
    target[where] = value
    refused(write_definition(data), message)
