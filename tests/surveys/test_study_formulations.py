"""The study's list of formulations, edited on a page: validated as a whole (a 400 naming every
fault, nothing half-stored), audited with the old and the new list, read by the next export."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from surveys.domain.formulations import FormulationError, validate_formulations
from surveys.domain.models import AuditEvent
from surveys.domain.patients import record_session
from surveys.infra.db import db
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing
from tests.today import local_today

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

VIT_HA = {"id": "vit_ha",
          "label": {"en": "vitamins + hyaluronic acid", "fr": "vitamines + acide hyaluronique"},
          "aliases": ["vit+HA"]}


def _form(*rows: dict[str, str], removed: tuple[int, ...] = ()) -> dict[str, str]:
    data = {"rows": str(len(rows))}
    for n, row in enumerate(rows):
        data.update({f"{key}-{n}": value for key, value in row.items()})
        if n in removed:
            data[f"remove-{n}"] = "1"
    return data


def _events(study: Any) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.study_id == study.id, AuditEvent.action == "study.formulations")))


def test_a_coordinator_adds_a_formulation_and_the_next_export_groups_sessions_by_it(
        client, login, make_study, make_patient, make_user) -> None:
    study = make_study("FORM")
    patient = make_patient(study, "P1")
    record_session(db.session, patient, actor="test", number=1, day=local_today() - timedelta(days=3),
                   agents="Vit + ha")
    coordinator = make_user("coordinator", (study,))
    db.session.commit()
    login(coordinator)
    page = client.get("/studies/FORM/formulations")
    assert page.status_code == 200 and b'name="id-0"' in page.data
    saved = client.post("/studies/FORM/formulations", data=_form(
        {"id": "vit_ha", "en": "vitamins + hyaluronic acid", "fr": "vitamines + acide hyaluronique",
         "aliases": "vit+HA\r\n\r\n"}, {"id": "", "en": "", "fr": "", "aliases": ""}))
    assert saved.status_code == 303
    db.session.refresh(study)
    assert study.protocol["formulations"] == [VIT_HA]
    (event,) = _events(study)
    assert event.actor == f"staff:{coordinator.id}"
    assert event.details == {"old": [], "new": [VIT_HA]}
    sessions = pd.read_csv(io.BytesIO(client.get("/studies/FORM/exports/sessions",
                                                 query_string={"deidentified": "1"}).data))
    assert list(sessions.formulation) == ["vit_ha"]  # "Vit + ha" typed, grouped by the alias
    # Saving the same list again records nothing; removing the row empties the list.
    assert client.post("/studies/FORM/formulations", data=_form(
        {"id": "vit_ha", "en": VIT_HA["label"]["en"], "fr": VIT_HA["label"]["fr"], "aliases": "vit+HA"}
    )).status_code == 303
    assert len(_events(study)) == 1
    client.post("/studies/FORM/formulations", data=_form({"id": "vit_ha", "en": "x"}, removed=(0,)))
    db.session.refresh(study)
    assert study.protocol["formulations"] == [] and len(_events(study)) == 2


@pytest.mark.parametrize(("rows", "message"), [
    ([{"id": "Vit HA", "en": "vitamins"}], "the id must be 1 to 32 characters"),
    ([{"id": "vit", "en": ""}], "the English name is required"),
    ([{"id": "vit", "en": "vitamins"}, {"id": "vit", "en": "others"}], "this id is used twice"),
    ([{"id": "vit", "en": "vitamins"}, {"id": "dut", "en": "dutasteride", "aliases": "Vitamins "}],
     "names both vit and dut"),
    ([{"id": "vit", "en": "v" * 201}], "at most 200 characters"),
])
def test_a_bad_list_is_refused_with_a_clear_400_and_nothing_is_stored(
        client, login, make_study, make_user, rows, message) -> None:
    study = make_study("FORM")
    study.protocol = {**study.protocol, "formulations": [VIT_HA]}
    db.session.commit()
    login(make_user("coordinator", (study,)))
    response = client.post("/studies/FORM/formulations", data=_form(*rows))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True).replace("&#39;", "'")
    db.session.refresh(study)
    assert study.protocol["formulations"] == [VIT_HA] and _events(study) == []


@pytest.mark.parametrize("rows", [None, "many", "-1", "100000"])
def test_a_form_without_a_sane_row_count_is_a_400_not_a_500(client, login, make_study, make_user,
                                                              rows) -> None:
    study = make_study("FORM")
    login(make_user("coordinator", (study,)))
    data = {"id-0": "vit", "en-0": "vitamins", **({"rows": rows} if rows is not None else {})}
    response = client.post("/studies/FORM/formulations", data=data)
    assert response.status_code == 400 and "Nothing was changed" in response.get_data(as_text=True)
    assert _events(study) == []


def test_clinicians_read_the_list_and_may_not_change_it(client, login, make_study, make_user) -> None:
    study = make_study("FORM")
    study.protocol = {**study.protocol, "formulations": [VIT_HA]}
    db.session.commit()
    login(make_user("clinician", (study,)))
    page = client.get("/studies/FORM/formulations").get_data(as_text=True)
    assert "vitamines + acide hyaluronique" in page and 'name="id-0"' not in page
    assert client.post("/studies/FORM/formulations", data=_form({"id": "x", "en": "x"})).status_code == 403


def test_the_page_speaks_french(client, login, make_study, make_user) -> None:
    study = make_study("FORM")
    user = make_user("coordinator", (study,))
    user.language = "fr"
    db.session.commit()
    login(user)
    page = client.get("/studies/FORM/formulations").get_data(as_text=True)
    assert "Nom en français" in page and "Enregistrer les formulations" in page


def test_validation_names_every_fault_at_once() -> None:
    with pytest.raises(FormulationError) as caught:
        validate_formulations([{"id": "", "label": {}}, {"id": "ok", "label": {"en": "fine"}}])
    assert len(caught.value.problems) == 2


def test_the_protocol_history_holds_the_list_the_current_version_uses(make_study) -> None:
    """The list lives in the protocol: the stored copy of the current protocol version (what the
    timeline and exports read as that version) changes with it, never lagging behind."""
    from surveys.domain.formulations import update_formulations
    from surveys.domain.models import StudyProtocol

    study = make_study("FORMHIST")
    update_formulations(db.session, study, [VIT_HA], actor="test")
    stored = db.session.scalar(select(StudyProtocol.protocol).where(
        StudyProtocol.study_id == study.id, StudyProtocol.version == study.protocol_version))
    assert stored == study.protocol and stored["formulations"] == [VIT_HA]
