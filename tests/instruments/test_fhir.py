"""FHIR R4 Questionnaire and QuestionnaireResponse built from definitions validate with fhir.resources."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from instruments import Instrument
from instruments.fhir import questionnaire, questionnaire_response

SHIPPED = ["hair_change", "hair_stage", "hair_status", "pgic", "pirc", "rses", "satisfaction", "who5"]
AUTHORED = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("instrument_id", SHIPPED)
def test_every_instrument_is_a_valid_fhir_questionnaire(
    shipped: dict[str, Instrument], instrument_id: str, lang: str
) -> None:
    resource = questionnaire(shipped[instrument_id], lang)
    parsed = Questionnaire.model_validate(resource)
    assert parsed.status == "active"
    assert parsed.url == f"urn:instrument:{instrument_id}"
    assert [item.linkId for item in parsed.item] == [
        i.id for i in shipped[instrument_id].items_in_order(lang)
    ]


def test_questionnaire_carries_codes_and_labels_of_the_language(rses: Instrument) -> None:
    resource = questionnaire(rses, "fr")
    first = resource["item"][0]
    assert first["linkId"] == "rses_7"
    assert first["type"] == "choice"
    assert first["answerOption"][3]["valueCoding"] == {
        "system": "urn:instrument:rses:rses_7",
        "code": "3",
        "display": "Tout à fait en accord",
    }
    assert resource["version"] == "1.0" and resource["language"] == "fr"


def test_show_if_becomes_enable_when(shipped: dict[str, Instrument]) -> None:
    items = {item["linkId"]: item for item in questionnaire(shipped["hair_stage"])["item"]}
    assert items["norwood"]["enableWhen"] == [
        {
            "question": "pattern",
            "operator": "=",
            "answerCoding": {"system": "urn:instrument:hair_stage:pattern", "code": "1"},
        }
    ]
    assert "enableWhen" not in items["pattern"]


def test_free_text_is_a_string_question(pirc: Instrument) -> None:
    items = {item["linkId"]: item for item in questionnaire(pirc)["item"]}
    assert items["other"]["type"] == "string"
    assert "answerOption" not in items["other"]


def test_questionnaire_for_an_unknown_language_fails(who5: Instrument) -> None:
    with pytest.raises(KeyError):
        questionnaire(who5, "de")


def test_questionnaire_response_is_valid_fhir(pirc: Instrument) -> None:
    answers = {"pain_present": 1, "pain_worst": 2, "pain_now": 0, "redness_present": 0, "other": "tingling"}
    resource = questionnaire_response(
        pirc, answers, lang="fr", authored=AUTHORED, subject_ref="Patient/P0001", response_id="r-1"
    )
    parsed = QuestionnaireResponse.model_validate(resource)
    assert parsed.questionnaire == "urn:instrument:pirc|1.0"
    assert parsed.subject.reference == "Patient/P0001"
    items = {item["linkId"]: item for item in resource["item"]}
    assert list(items) == ["pain_present", "pain_worst", "pain_now", "redness_present", "other"]
    assert items["pain_worst"]["answer"][0]["valueCoding"]["display"] == "Modérée"
    assert items["other"]["answer"] == [{"valueString": "tingling"}]


def test_questionnaire_response_without_answers_is_valid(who5: Instrument) -> None:
    resource = questionnaire_response(who5, {}, lang="en", authored="2025-03-01", status="in-progress")
    assert "item" not in resource
    QuestionnaireResponse.model_validate(resource)


def test_negative_codes_survive_as_fhir_codes(shipped: dict[str, Instrument]) -> None:
    resource = questionnaire_response(shipped["hair_change"], {"amount": -3}, lang="en", authored=AUTHORED)
    assert resource["item"][0]["answer"][0]["valueCoding"]["code"] == "-3"
    QuestionnaireResponse.model_validate(resource)
