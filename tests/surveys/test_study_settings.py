"""A study's settings change over its life: on the page and from the CLI, validated alike, audited
with old and new values, and read at once by what uses them (the next alert's on-call address)."""

from __future__ import annotations

import getpass
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select

from surveys.domain.models import AuditEvent, Study
from surveys.domain.notices import deliver_notices
from surveys.domain.study_settings import SettingsError, update_settings, validate_settings
from surveys.infra.db import db
from tests.smtp_sink import Sink
from tests.surveys.staff_world import FEVER, submit_pirc
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def app_overrides(smtp: tuple[Sink, int]) -> dict[str, Any]:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp[1], "MAIL_FROM": "alerts@prom.test"}


def _form(study: Study, **changes: Any) -> dict[str, Any]:
    data = {
        "name": study.name, "contact": study.contact, "clinic_phone": study.clinic_phone or "",
        "oncall_email": study.oncall_email or "", "backup_oncall_email": study.backup_oncall_email or "",
        "emergency_number": study.emergency_number, "emergency_country": study.emergency_country,
        "timezone": study.timezone, "default_language": study.default_language,
        "reminder_start_hour": study.reminder_start_hour, "reminder_end_hour": study.reminder_end_hour,
        "renotify_level3_minutes": study.renotify_level3_minutes,
        "clinic_day_end_hour": study.clinic_day_end_hour,
    }
    if study.show_scores_to_patients:
        data["show_scores_to_patients"] = "y"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _settings_events(study: Study) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.study_id == study.id, AuditEvent.action == "study.settings").order_by(AuditEvent.id)))


def test_a_new_on_call_address_set_on_the_page_receives_the_next_alert(
    client, login, make_user, make_study, make_patient, inbox
) -> None:
    study = make_study("SAFE", oncall_email="old@clinic.test")
    coordinator = make_user("coordinator", (study,))
    db.session.commit()
    login(coordinator)
    response = client.post("/studies/SAFE/settings", data=_form(study, oncall_email="new@clinic.test"))
    assert response.status_code == 303
    assert study.oncall_email == "new@clinic.test"
    submit_pirc(make_patient(study, "URGENT", sessions_days_ago=(2,)), FEVER)
    db.session.commit()
    assert deliver_notices(db.session, "https://prom.example").sent == 1
    assert [m["To"] for m in inbox] == ["new@clinic.test"]
    (event,) = _settings_events(study)
    assert event.actor == f"staff:{coordinator.id}"
    assert event.details["changes"] == {"oncall_email": {"old": "old@clinic.test", "new": "new@clinic.test"}}


def test_every_setting_is_on_the_page_and_saved_with_old_and_new_values(
    client, login, make_user, make_study
) -> None:
    study = make_study("SET")
    login(make_user("coordinator", (study,)))
    page = client.get("/studies/SET/settings").get_data(as_text=True)
    for name in ("name", "clinic_phone", "backup_oncall_email", "emergency_country", "timezone",
                 "default_language", "show_scores_to_patients", "reminder_start_hour", "reminder_end_hour",
                 "renotify_level3_minutes", "clinic_day_end_hour"):
        assert f'name="{name}"' in page, name
    form = _form(study, name="Renamed", clinic_phone="+33 1 23 45 67 89", backup_oncall_email="b@c.test",
                 emergency_number="15", emergency_country="fr", timezone="America/Montreal",
                 default_language="fr", reminder_start_hour=8, reminder_end_hour=20,
                 renotify_level3_minutes=30, clinic_day_end_hour=17)
    form.pop("show_scores_to_patients", None)  # an unticked box
    assert client.post("/studies/SET/settings", data=form).status_code == 303
    assert (study.name, study.clinic_phone, study.emergency_country, study.timezone, study.default_language,
            study.show_scores_to_patients, study.reminder_start_hour, study.reminder_end_hour,
            study.renotify_level3_minutes, study.clinic_day_end_hour) == (
        "Renamed", "+33 1 23 45 67 89", "FR", "America/Montreal", "fr", False, 8, 20, 30, 17)
    changes = _settings_events(study)[-1].details["changes"]
    assert changes["show_scores_to_patients"] == {"old": True, "new": False}
    assert changes["timezone"] == {"old": "Europe/Paris", "new": "America/Montreal"}
    assert "oncall_email" not in changes  # unchanged settings are not reported as changes


@pytest.mark.parametrize(("field", "value", "words"), [
    ("timezone", "Europe/Atlantis", "time zone"),
    ("timezone", "../../etc/passwd", "time zone"),
    ("timezone", "localtime", "time zone"),
    ("timezone", "Factory", "time zone"),
    ("timezone", "posixrules", "time zone"),
    ("timezone", "posix/Europe/Paris", "time zone"),
    ("timezone", "right/Europe/Paris", "time zone"),
    ("emergency_country", "XX", "country"),
    ("oncall_email", "not-an-address", "e-mail"),
    ("clinic_phone", "call me", "telephone"),
    ("reminder_end_hour", 9, "start before they end"),
])
def test_a_refused_setting_changes_nothing_and_says_why(
    client, login, make_user, make_study, field, value, words
) -> None:
    study = make_study("BAD", oncall_email="keep@clinic.test")
    login(make_user("coordinator", (study,)))
    response = client.post("/studies/BAD/settings",
                           data=_form(study, **{field: value, "name": "Should not be stored"}))
    assert response.status_code == 400
    assert words in response.get_data(as_text=True)
    db.session.refresh(study)
    assert study.name == "Test study" and study.oncall_email == "keep@clinic.test"
    assert _settings_events(study) == []


def test_clinicians_read_the_settings_but_cannot_change_them(client, login, make_user, make_study) -> None:
    study = make_study("RO", oncall_email="oncall@clinic.test")
    login(make_user("clinician", (study,)))
    page = client.get("/studies/RO/settings")
    assert page.status_code == 200 and "oncall@clinic.test" in page.get_data(as_text=True)
    assert "<form method=\"post\" action=\"/studies/RO/settings\"" not in page.get_data(as_text=True)
    assert client.post("/studies/RO/settings", data=_form(study, name="X")).status_code == 403
    assert study.name == "Test study"


def test_the_cli_sets_settings_validated_like_the_page(runner, make_study) -> None:
    study = make_study("CLI")
    db.session.commit()
    result = runner.invoke(args=["studies", "set", "CLI", "--name", "Clinic study", "--timezone",
                                 "Europe/London", "--oncall-email", "o@c.test", "--show-scores-to-patients",
                                 "no", "--reminder-start-hour", "10"])
    assert result.exit_code == 0, result.output
    assert "timezone: 'Europe/Paris' -> 'Europe/London'" in result.output
    assert (study.name, study.timezone, study.oncall_email, study.show_scores_to_patients,
            study.reminder_start_hour) == ("Clinic study", "Europe/London", "o@c.test", False, 10)
    assert _settings_events(study)[-1].actor == f"os-user:{getpass.getuser()}"  # named explicitly (issue 15)

    bad = runner.invoke(args=["studies", "set", "CLI", "--name", "Other", "--timezone", "Mars/Olympus"])
    assert bad.exit_code != 0 and "Nothing was changed" in bad.output and "--timezone" in bad.output
    db.session.refresh(study)
    assert study.name == "Clinic study"
    late = runner.invoke(args=["studies", "set", "CLI", "--reminder-end-hour", "10"])
    assert late.exit_code != 0 and "start before they end" in late.output
    assert runner.invoke(args=["studies", "set", "NOPE", "--name", "x"]).exit_code != 0
    assert runner.invoke(args=["studies", "set", "CLI"]).exit_code != 0


def test_validation_reports_every_refused_setting_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        validate_settings({"timezone": "Nowhere", "emergency_country": "ZZ", "renotify_level3_minutes": 0,
                           "unknown": 1})
    assert set(caught.value.problems) == {"timezone", "emergency_country", "renotify_level3_minutes",
                                          "unknown"}


def test_an_unchanged_save_records_nothing(app, make_study) -> None:
    study = make_study("SAME")
    assert update_settings(db.session, study, {"timezone": "Europe/Paris"}, actor="test") == []
    assert _settings_events(study) == []


def test_the_on_call_address_cannot_be_emptied_on_the_page(client, login, make_user, make_study) -> None:
    study = make_study("ONC", oncall_email="oncall@clinic.test")
    login(make_user("coordinator", (study,)))
    response = client.post("/studies/ONC/settings", data=_form(study, oncall_email="", name="Renamed"))
    assert response.status_code == 400
    assert "level 2 and 3" in response.get_data(as_text=True)
    db.session.refresh(study)
    assert (study.oncall_email, study.name) == ("oncall@clinic.test", "Test study")
    assert _settings_events(study) == []


def test_the_on_call_address_cannot_be_emptied_from_the_cli(runner, make_study) -> None:
    study = make_study("ONCLI", oncall_email="oncall@clinic.test")
    db.session.commit()
    help_text = runner.invoke(args=["studies", "set", "--help"]).output
    assert "On-call e-mail for level 2-3 alerts ('' empties it)" not in help_text
    result = runner.invoke(args=["studies", "set", "ONCLI", "--oncall-email", ""])
    assert result.exit_code == 1 and "level 2 and 3" in result.output
    db.session.refresh(study)
    assert study.oncall_email == "oncall@clinic.test"
    assert _settings_events(study) == []
    assert runner.invoke(args=["studies", "set", "ONCLI", "--backup-oncall-email", "b@c.test"]).exit_code == 0
    assert runner.invoke(args=["studies", "set", "ONCLI", "--backup-oncall-email", ""]).exit_code == 0


def test_a_study_without_on_call_address_saves_other_settings_and_is_warned(
    client, login, make_user, make_study
) -> None:
    study = make_study("NOONC")
    login(make_user("coordinator", (study,)))
    page = client.get("/studies/NOONC/settings").get_data(as_text=True)
    assert "no on-call e-mail" in page
    response = client.post("/studies/NOONC/settings", data=_form(study, name="Renamed"))
    assert response.status_code == 303
    assert study.name == "Renamed" and study.oncall_email is None
    study.oncall_email = "o@c.test"
    db.session.commit()
    assert "no on-call e-mail" not in client.get("/studies/NOONC/settings").get_data(as_text=True)


def test_only_real_zone_names_are_offered_and_accepted(client, login, make_user, make_study, runner) -> None:
    study = make_study("TZ")
    login(make_user("coordinator", (study,)))
    page = client.get("/studies/TZ/settings").get_data(as_text=True)
    assert 'value="Europe/Paris"' in page and 'value="America/New_York"' in page
    for name in ("localtime", "Factory", "posixrules"):
        assert f'value="{name}"' not in page, name
    assert "posix/" not in page and "right/" not in page
    db.session.commit()
    result = runner.invoke(args=["studies", "set", "TZ", "--timezone", "localtime"])
    assert result.exit_code == 1 and "time zone" in result.output
    db.session.refresh(study)
    assert study.timezone == "Europe/Paris"
    for legacy in ("US/Eastern", "UTC", "Etc/GMT-3"):  # IANA's backward names stay valid
        assert runner.invoke(args=["studies", "set", "TZ", "--timezone", legacy]).exit_code == 0, legacy


def test_a_stored_non_zone_is_shown_not_silently_replaced(client, login, make_user, make_study) -> None:
    study = make_study("OLDTZ")
    study.timezone = "localtime"  # stored before zone names were checked
    login(make_user("coordinator", (study,)))
    db.session.commit()
    page = client.get("/studies/OLDTZ/settings").get_data(as_text=True)
    assert '<option selected value="localtime">' in page
    refused = client.post("/studies/OLDTZ/settings", data=_form(study, name="Renamed"))
    assert refused.status_code == 400 and "time zone" in refused.get_data(as_text=True)
    assert client.post("/studies/OLDTZ/settings",
                       data=_form(study, name="Renamed", timezone="Europe/Paris")).status_code == 303
    assert (study.name, study.timezone) == ("Renamed", "Europe/Paris")


@pytest.mark.parametrize(("language", "expected"), [
    ("en", "Settings saved: “Clinic telephone” and “Re-notify an emergency alert nobody has contacted the "
           "patient about after (minutes)”."),
    ("fr", "Paramètres enregistrés : « Téléphone de la clinique » et « Notifier de nouveau une alerte "
           "d&#39;urgence sans contact avec le patient après (minutes) »."),
])
def test_the_saved_message_names_the_settings_as_the_form_labels_them(
    client, login, make_user, make_study, language, expected
) -> None:
    study = make_study("LBL")
    coordinator = make_user("coordinator", (study,))
    coordinator.language = language
    login(coordinator)
    response = client.post("/studies/LBL/settings", follow_redirects=True,
                           data=_form(study, clinic_phone="+33 1 23 45 67 89", renotify_level3_minutes=45))
    page = response.get_data(as_text=True)
    assert expected in page
    assert "clinic phone" not in page and "renotify level3" not in page


@pytest.mark.parametrize(("language", "expected"), [
    ("en", ["Clinic telephone: — → +33 1 23 45 67 89", "Patients see their own scores: yes → no"]),
    ("fr", ["Téléphone de la clinique : — → +33 1 23 45 67 89",
            "Les patients voient leurs propres scores : oui → non"]),
])
def test_the_audit_trail_names_changed_settings_by_their_labels(
    client, login, make_user, make_study, language, expected
) -> None:
    study = make_study("AUDS")
    coordinator = make_user("coordinator", (study,))
    coordinator.language = language
    login(coordinator)
    form = _form(study, clinic_phone="+33 1 23 45 67 89")
    form.pop("show_scores_to_patients", None)
    assert client.post("/studies/AUDS/settings", data=form).status_code == 303
    page = unescape(client.get("/studies/AUDS/audit").get_data(as_text=True))
    for line in expected:
        assert line in page


def test_the_page_reports_every_problem_of_a_submission_at_once(client, login, make_user, make_study) -> None:
    """Form checks (the hour) and domain checks (the zone, the emptied on-call address) in one 400."""
    study = make_study("ALL", oncall_email="keep@clinic.test")
    login(make_user("coordinator", (study,)))
    response = client.post("/studies/ALL/settings", data=_form(
        study, oncall_email="", timezone="Factory", reminder_start_hour=25, name="Should not be stored"))
    page = unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert "Nothing was changed" in page
    assert "level 2 and 3" in page and "'Factory' is not a time zone name" in page
    assert "between 0 and 23" in page or "from 0 to 23" in page
    db.session.refresh(study)
    assert (study.name, study.oncall_email, study.timezone) == (
        "Test study", "keep@clinic.test", "Europe/Paris")
    assert _settings_events(study) == []


def test_a_form_level_problem_alone_still_says_nothing_was_changed(
    client, login, make_user, make_study
) -> None:
    study = make_study("HOUR")
    login(make_user("coordinator", (study,)))
    response = client.post("/studies/HOUR/settings", data=_form(study, reminder_start_hour=25))
    assert response.status_code == 400 and "Nothing was changed" in response.get_data(as_text=True)


def test_the_cli_lists_every_problem_at_once(runner, make_study) -> None:
    study = make_study("ALLCLI", oncall_email="keep@clinic.test")
    db.session.commit()
    result = runner.invoke(args=["studies", "set", "ALLCLI", "--oncall-email", "", "--timezone", "Factory",
                                 "--reminder-start-hour", "25", "--reminder-end-hour", "3"])
    assert result.exit_code == 1 and "Nothing was changed" in result.output
    for option in ("--oncall-email", "--timezone", "--reminder-start-hour"):
        assert option in result.output
    db.session.refresh(study)
    assert (study.oncall_email, study.timezone) == ("keep@clinic.test", "Europe/Paris")


def test_the_cross_checks_are_reported_with_the_value_checks(app, make_study) -> None:
    study = make_study("CROSS", oncall_email="keep@clinic.test")
    with pytest.raises(SettingsError) as caught:
        update_settings(db.session, study, {"oncall_email": "", "timezone": "Factory",
                                            "reminder_start_hour": 12, "reminder_end_hour": 10}, actor="test")
    assert set(caught.value.problems) == {"oncall_email", "timezone", "reminder_end_hour"}
