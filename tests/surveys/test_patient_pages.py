"""Patient pages: home contents, language, privacy headers, kind pages for bad links."""

from __future__ import annotations

from datetime import timedelta

from surveys.domain.links import issue_link, revoke_links
from surveys.infra.db import db
from surveys.infra.i18n import compile_catalogues
from tests.today import local_today


def text_of(page) -> str:
    return page.get_data(as_text=True)


def test_home_shows_what_is_due_what_comes_next_and_the_clinic(client, make_patient, make_study):
    study = make_study(contact="Clinique du Parc, 01 23 45 67 89", emergency_number="15")
    patient = make_patient(study)
    page = client.get(f"/p/{patient.token}")
    html = text_of(page)
    assert page.status_code == 200
    assert "To do now" in html and "Before treatment" in html and "Start" in html
    assert "Coming next" in html and "Week 12" in html
    assert "Clinique du Parc, 01 23 45 67 89" in html and 'href="tel:15"' in html
    assert '<html lang="en">' in html


def test_home_lists_done_questionnaires_and_dates_in_the_patient_language(client, make_patient):
    patient = make_patient(language="fr", sessions_days_ago=(2,))
    html = text_of(client.get(f"/p/{patient.token}"))
    assert '<html lang="fr">' in html
    assert "À faire maintenant" in html and "Après la séance 1" in html
    week12 = local_today() - timedelta(days=2) + timedelta(days=77)
    months = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
              "octobre", "novembre", "décembre")
    assert f"{week12.day} {months[week12.month - 1]} {week12.year}" in html


def test_language_switch_is_remembered_on_the_patient_record(client, make_patient):
    patient = make_patient()
    switched = client.post(f"/p/{patient.token}/language", data={"lang": "fr", "next": f"/p/{patient.token}"})
    assert switched.status_code == 303
    db.session.refresh(patient)
    assert patient.language == "fr"
    other_device = client.application.test_client()
    assert "Vos questionnaires" in text_of(other_device.get(f"/p/{patient.token}"))


def test_language_switch_never_redirects_off_the_patient_pages(client, make_patient):
    patient = make_patient()
    switched = client.post(f"/p/{patient.token}/language", data={"lang": "en", "next": "https://evil.example/"})
    assert switched.headers["Location"].endswith(f"/p/{patient.token}")
    assert client.post(f"/p/{patient.token}/language", data={"lang": "xx"}).status_code == 400


def test_questions_come_from_the_instrument_in_the_patient_language(client, make_patient):
    patient = make_patient(language="fr")
    html = text_of(client.get(f"/p/{patient.token}/q/T0/who5"))
    assert "Au cours des deux dernières semaines" in html
    assert "Je me suis senti(e) bien et de bonne humeur" in html
    assert "Suivant" in html and "Question 1 sur 5" in html


def test_patient_pages_are_private_and_never_cached(client, make_patient):
    patient = make_patient()
    for url in (f"/p/{patient.token}", f"/p/{patient.token}/q/T0/who5", "/p/not-a-real-token"):
        page = client.get(url)
        assert page.headers["Cache-Control"] == "no-store", url
        assert page.headers["Referrer-Policy"] == "no-referrer", url


def test_titles_and_urls_carry_no_health_information(client, make_patient):
    patient = make_patient(sessions_days_ago=(2,))
    url = f"/p/{patient.token}/q/S1/pirc"
    posted = client.post(url, data={"item": "pain_present", "answer": "1"})
    assert posted.headers["Location"] == url  # no item, answer or score in the address
    html = text_of(client.get(url))
    title = html.split("<title>")[1].split("</title>")[0]
    assert title.startswith("Question 1 of") and "more about it" in title  # a follow-up of question 1
    assert "pain" not in title.lower()


def test_unknown_link_gets_a_kind_404(client):
    page = client.get("/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert page.status_code == 404
    assert "We do not recognise this link" in text_of(page)


def test_revoked_link_gets_a_kind_403_and_the_new_link_works(client, make_patient):
    patient = make_patient()
    new_token = issue_link(db.session, patient)
    page = client.get(f"/p/{patient.token}")
    assert page.status_code == 403
    assert "This link no longer works" in text_of(page)
    assert client.get(f"/p/{new_token}").status_code == 200
    revoke_links(db.session, patient)
    assert client.get(f"/p/{new_token}").status_code == 403


def test_qr_code_of_the_link_is_an_svg(client, make_patient):
    patient = make_patient()
    page = client.get(f"/p/{patient.token}/qr.svg")
    assert page.status_code == 200
    assert page.mimetype == "image/svg+xml"
    assert text_of(page).startswith("<svg")


def test_option_pictures_are_served(client):
    with client.get("/instrument-images/hair_stage/norwood_1.svg") as page:
        assert page.status_code == 200 and page.mimetype == "image/svg+xml"
    assert client.get("/instrument-images/hair_stage/../pirc.json").status_code == 404
    assert client.get("/instrument-images/nope/norwood_1.svg").status_code == 404


def test_stale_catalogue_is_compiled(tmp_path):
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: fr\\n"\n\nmsgid "Next"\nmsgstr "Suivant"\n')
    assert compile_catalogues(tmp_path) == [folder / "messages.mo"]
    assert compile_catalogues(tmp_path) == []  # up to date: left alone
    assert b"Suivant" in (folder / "messages.mo").read_bytes()


def test_withdrawn_patient_has_nothing_to_answer(client, make_patient):
    patient = make_patient()
    patient.status = "withdrawn"
    html = text_of(client.get(f"/p/{patient.token}"))
    assert "no longer taking part in the study" in html and "Start" not in html
    assert client.get(f"/p/{patient.token}/q/T0").status_code == 404


def test_the_clinic_phone_is_a_tel_link_on_patient_pages(client, make_study, make_patient):
    from surveys.infra.phone import tel_uri_number

    assert tel_uri_number("+33 (0)1 23 45 67 89") == "+33123456789"
    assert tel_uri_number("01.23.45-67 89") == "0123456789"
    study = make_study()
    study.clinic_phone = "+33 1 23 45 67 89"
    patient = make_patient(study)
    for url in (f"/p/{patient.token}", f"/p/{patient.token}/q/T0/who5"):
        html = text_of(client.get(url))
        assert 'href="tel:+33123456789"' in html, url
        assert 'href="tel:112"' in html


def test_a_revoked_link_page_gives_the_clinic_phone_as_a_tel_link(client, make_study, make_patient):
    from surveys.domain.links import revoke_links

    study = make_study()
    study.clinic_phone = "01 23 45 67 89"
    patient = make_patient(study)
    revoke_links(db.session, patient)
    page = client.get(f"/p/{patient.token}")
    assert page.status_code == 403
    assert 'href="tel:0123456789"' in text_of(page)


def test_the_thank_you_page_repeats_the_emergency_advice_after_an_emergency(client, make_patient):
    from tests.surveys.test_patient_flow import answer_all

    calm, urgent = make_patient(sessions_days_ago=(2,)), make_patient(sessions_days_ago=(2,))
    answer_all(client, f"/p/{calm.token}/q/S1/pirc", choose=min)
    assert "Call 112 now" not in text_of(client.get(f"/p/{calm.token}/q/S1"))
    url = f"/p/{urgent.token}/q/S1/pirc"
    client.post(url, data={"item": "rf_breathing", "answer": "1"})
    client.post(url, data={"item": "rf_breathing_now", "answer": "1"})
    assert "Call 112 now" in text_of(client.get(url))  # the advice at once
    answer_all(client, url, choose=min)  # the rest of the checklist
    done = text_of(client.get(f"/p/{urgent.token}/q/S1"))
    assert "Thank you!" in done and "Call 112 now if it is still happening" in done
    assert 'href="tel:112"' in done
