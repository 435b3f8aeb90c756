"""The study dashboard and the patient page, per role, on empty, tiny and demo cohorts."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from reports.dashboards.views import PLOTLY_VERSION
from surveys.demo import load_demo
from surveys.domain.models import AuditEvent, Patient, Study
from surveys.domain.responses import save_answers, start_response, submit_response
from surveys.infra.db import db
from surveys.infra.security import CONTENT_SECURITY_POLICY


@pytest.fixture
def demo(app, library):
    """A small synthetic cohort (study DEMO) with its sessions, answers and alerts."""
    load_demo(db.session, n_patients=24, seed=11, secret="test", base_url="http://localhost", library=library)
    return db.session.scalar(select(Study).where(Study.code == "DEMO"))


@pytest.mark.parametrize("role", ["coordinator", "clinician", "admin"])
def test_every_staff_role_of_the_study_sees_the_dashboard(demo, make_user, login, client, role):
    login(make_user(role, (demo,)))
    page = client.get("/studies/DEMO/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="dashboard-figures"' in html and f"plotly-{PLOTLY_VERSION}.min.js" in html
    assert "not validated" in html and "never diagnoses" in html
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY  # strict, unchanged
    assert "<script>" not in html and " style=" not in html  # no inline script or style attribute


def test_other_study_user_gets_404_everywhere(demo, make_study, make_user, login, client):
    other = make_study()
    login(make_user("clinician", (other,)))
    patient = db.session.scalar(select(Patient).where(Patient.study_id == demo.id))
    for url in (
        "/studies/DEMO/dashboard",
        "/studies/DEMO/dashboard.json",
        f"/studies/DEMO/patients/{patient.code}",
    ):
        assert client.get(url).status_code == 404, url


def test_anonymous_visitors_are_sent_to_login(demo, client):
    for url in (
        "/studies/DEMO/dashboard",
        "/studies/DEMO/dashboard.json",
        "/studies/DEMO/patients/DEMO-00001",
        f"/reports/plotly-{PLOTLY_VERSION}.min.js",
    ):
        response = client.get(url)
        assert response.status_code in (302, 401), url
        if response.status_code == 302:
            assert "/login" in response.headers["Location"]


def test_empty_study_renders_without_figures(make_study, make_user, login, client):
    study = make_study()
    login(make_user("clinician", (study,)))
    page = client.get(f"/studies/{study.code}/dashboard")
    assert page.status_code == 200
    assert "No patient matches these filters yet." in page.get_data(as_text=True)
    data = client.get(f"/studies/{study.code}/dashboard.json").get_json()
    assert data["patients"] == 0
    assert all(figure is None for figure in data["figures"].values())


def test_one_patient_study_is_suppressed_and_says_so(
    make_study, make_patient, make_user, login, client, library
):
    study = make_study()
    patient = make_patient(study, enrolled_days_ago=20, sessions_days_ago=(10,))
    who5 = library["who5"]
    response = start_response(db.session, patient, "T0", who5, "en")
    save_answers(db.session, response, who5, {f"who5_{i}": 3 for i in range(1, 6)})
    submit_response(db.session, response, who5)
    login(make_user("clinician", (study,)))
    html = client.get(f"/studies/{study.code}/dashboard").get_data(as_text=True)
    assert "Fewer than 5 patients match these filters" in html
    data = client.get(f"/studies/{study.code}/dashboard.json").get_json()
    assert data["suppressed"] is True and data["patients"] is None
    assert all(figure is None for figure in data["figures"].values())


def test_json_gives_figures_and_their_tables_for_a_filter(demo, make_user, login, client):
    login(make_user("clinician", (demo,)))
    everyone = client.get("/studies/DEMO/dashboard.json").get_json()
    women = client.get("/studies/DEMO/dashboard.json?sex=female").get_json()
    assert women["filters"] == {"sex": "female"}
    assert 0 < women["patients"] < everyone["patients"]
    assert set(everyone["figures"]) >= {"completion", "outcome-who5-percent", "responders", "side-effects"}
    assert everyone["figures"]["completion"]["data"][0]["type"] == "bar"
    assert set(everyone["alts"]) == set(everyone["figures"])
    assert "<table" in everyone["alts"]["completion"]
    assert everyone["alts"]["completion"] != women["alts"]["completion"]


def test_filter_form_works_without_javascript(demo, make_user, login, client):
    login(make_user("coordinator", (demo,)))
    html = client.get("/studies/DEMO/dashboard?sex=female&age_band=30_39").get_data(as_text=True)
    assert re.search(r'<option value="female"\s+selected', html)
    assert re.search(r'<option value="30_39"\s+selected', html)


def test_small_filtered_group_is_suppressed(demo, make_user, login, client):
    login(make_user("clinician", (demo,)))
    women = db.session.scalars(
        select(Patient.enrolled_at).where(Patient.study_id == demo.id).order_by(Patient.enrolled_at)
    ).all()
    day = women[0].date().isoformat()
    data = client.get(f"/studies/DEMO/dashboard.json?enrolled_to={day}").get_json()
    assert data["suppressed"] is True
    assert "suppressed to protect their privacy" in data["summary"]


@pytest.mark.parametrize(
    "query",
    [
        "sex=robot",
        "age_band=7_8",
        "enrolled_from=yesterday",
        "enrolled_from=2026-02-01&enrolled_to=2026-01-01",
        "diagnosis=flu",
    ],
)
def test_bad_filters_are_refused_with_a_message(demo, make_user, login, client, query):
    login(make_user("clinician", (demo,)))
    page = client.get(f"/studies/DEMO/dashboard?{query}")
    assert page.status_code == 400
    assert 'role="alert"' in page.get_data(as_text=True)
    data = client.get(f"/studies/DEMO/dashboard.json?{query}")
    assert data.status_code == 400 and data.get_json()["message"]


def test_patient_page_shows_the_record_and_is_audited(demo, make_user, make_patient, login, client, library):
    user = make_user("clinician", (demo,))
    login(user)
    patient = make_patient(demo, "XSS-1", enrolled_days_ago=20, sessions_days_ago=(10,))
    for iid, tp, answers in (
        ("who5", "T0", {f"who5_{i}": 2 for i in range(1, 6)}),
        (
            "pirc",
            "S1",
            {
                "pain_present": 1,
                "pain_worst": 2,
                "pain_now": 0,
                "pain_interference": 1,
                "other": "<script>alert(1)</script>",
            },
        ),
    ):
        response = start_response(db.session, patient, tp, library[iid], "en", patient.sessions[0])
        save_answers(db.session, response, library[iid], answers)
        submit_response(db.session, response, library[iid])
    page = client.get("/studies/DEMO/patients/XSS-1")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "Score trajectories" in html and "Before treatment" in html
    assert 'id="fig-trajectory-who5-percent"' in html and "have you had pain or tenderness" in html
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY  # strict, unchanged
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "patient.view").order_by(AuditEvent.id.desc())
    )
    assert (event.actor, event.entity, event.entity_id, event.study_id) == (
        f"staff:{user.id}",
        "patient",
        str(patient.id),
        demo.id,
    )


def test_patient_page_links_to_management_only_when_that_page_exists(demo, make_user, login, client, app):
    login(make_user("clinician", (demo,)))
    html = client.get("/studies/DEMO/patients/DEMO-NEW").get_data(as_text=True)
    has_manage = any(e in app.view_functions for e in ("staff.patient_manage", "staff.manage"))
    assert ("/studies/DEMO/patients/DEMO-NEW/manage" in html) is has_manage


def test_unknown_patient_is_404(demo, make_user, login, client):
    login(make_user("clinician", (demo,)))
    assert client.get("/studies/DEMO/patients/NOBODY").status_code == 404


def test_plotly_js_comes_from_the_package_with_long_cache(demo, make_user, login, client):
    login(make_user("clinician", (demo,)))
    script = client.get(f"/reports/plotly-{PLOTLY_VERSION}.min.js")
    assert script.status_code == 200
    assert script.mimetype == "text/javascript"
    assert "max-age=31536000" in script.headers["Cache-Control"]
    assert b"plotly.js" in script.data[:200]
    script.close()
    assert client.get("/reports/plotly-0.0.1.min.js").status_code == 404


def test_patient_page_shows_rses_without_bands_but_with_reliable_change(make_study, make_patient, make_user,
                                                                        login, client):
    """The scale's owners publish no cut-offs: no low/normal/high on a patient's page, even for the bands
    stored with 1.0 responses; the reliable change comes from the study's baseline SD."""
    from surveys.infra.library import instruments

    study = make_study("RSE")
    old = instruments().version("rses", "1.0")
    patients = []
    for n, code in enumerate((0, 1, 2, 3)):  # totals 15, 20, 25, 30: bands normal ... high in 1.0
        patient = make_patient(study, f"R-{n}")
        response = start_response(db.session, patient, "T0", old, "en")
        answers = {f"rses_{i}": 0 if i in (2, 5, 6, 8, 9) else code for i in range(1, 11)}
        save_answers(db.session, response, old, answers)
        submit_response(db.session, response, old)
        patients.append(patient)
    login(make_user("clinician", (study,)))
    db.session.commit()
    html = client.get(f"/studies/RSE/patients/{patients[3].code}").get_data(as_text=True)
    rses = html[html.index("Rosenberg self-esteem"):]
    rses = rses[:rses.index("</article>")]
    assert "reliable change" in rses
    for band in ("low", "normal", "high"):
        assert f"<td>{band}</td>" not in rses


def test_a_small_study_still_shows_its_safety_alert_counts_to_its_staff(
    make_study, make_patient, make_user, login, client
):
    from tests.surveys.staff_world import BREATHING_NOW, submit_pirc

    study = make_study()
    submit_pirc(make_patient(study, sessions_days_ago=(2,)), BREATHING_NOW)  # one level-3 alert
    login(make_user("clinician", (study,)))
    data = client.get(f"/studies/{study.code}/dashboard.json").get_json()
    assert data["suppressed"] is True and data["patients"] is None  # the cohort figures stay hidden
    panel = data["alts"]["resolution"]
    row = re.search(r'<th scope="row">3</th>(.*?)</tr>', panel, re.S).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row)[:4] == ["1", "1", "0", "0"]  # 1 alert, open
    assert "&lt;5" not in panel


def test_band_labels_and_notes_follow_the_staff_language(make_study, make_patient, make_user, login, client,
                                                         library):
    """A French clinician read "not low" and "Screening information, never a diagnosis (Topp...)"."""
    study = make_study("FRBANDS")
    user = make_user("clinician", (study,))
    user.language = "fr"
    patient = make_patient(study, "FR-1", enrolled_days_ago=20, sessions_days_ago=(10,))
    response = start_response(db.session, patient, "T0", library["who5"], "fr")
    save_answers(db.session, response, library["who5"], {f"who5_{i}": 4 for i in range(1, 6)})
    submit_response(db.session, response, library["who5"])
    db.session.commit()
    login(user)
    for url in ("/studies/FRBANDS/patients/FR-1", "/studies/FRBANDS/dashboard"):
        html = client.get(url).get_data(as_text=True)
        assert "Screening information" not in html and "not low" not in html, url
        assert "{&#39;en&#39;" not in html, url
        assert "Information de dépistage, jamais un diagnostic" in html, url
    dashboard = client.get("/studies/FRBANDS/dashboard").get_data(as_text=True)
    assert "Un changement de 10 points du score en pourcentage" in dashboard and "percent:" not in dashboard
    page = client.get("/studies/FRBANDS/patients/FR-1").get_data(as_text=True)
    assert "bien-être non diminué" in page and "Bien-être WHO-5 (0 à 100)" in page


def test_the_side_effect_table_names_each_symptom_in_the_readers_language(
    demo, make_user, make_patient, login, client, library
):
    """The staff patient page's Symptom column showed raw codes ('pain', 'redness') in English and French."""
    user = make_user("clinician", (demo,))
    login(user)
    patient = make_patient(demo, "SYM-1", enrolled_days_ago=20, sessions_days_ago=(10,))
    response = start_response(db.session, patient, "S1", library["pirc"], "en", patient.sessions[0])
    save_answers(db.session, response, library["pirc"], {"pain_present": 1, "pain_worst": 2, "pain_now": 0,
                                                         "pain_interference": 1, "redness_present": 0})
    submit_response(db.session, response, library["pirc"])
    db.session.commit()
    for language, shown in (("en", "Pain"), ("fr", "Douleur")):
        user.language = language
        db.session.commit()
        html = client.get("/studies/DEMO/patients/SYM-1").get_data(as_text=True)
        table = html[html.index('id="h-grades"'):]
        table = table[:table.index("</table>")]
        assert f"<td>{shown}</td>" in table
        assert not re.search(r"<td>(pain|redness|swelling|bruising|itch|headache)</td>", table)


def test_french_dashboard_and_patient_pages_set_a_no_break_space_before_colons(
    demo, make_user, login, client
):
    """'DEMO-00083 · statut: actif', 'WHO-5: distribution…': French sets a no-break space before ':'."""
    import html as html_module

    user = make_user("clinician", (demo,))
    user.language = "fr"
    db.session.commit()
    login(user)
    code = db.session.scalar(select(Patient.code).where(Patient.study_id == demo.id).order_by(Patient.id))
    for url in ("/studies/DEMO/dashboard", f"/studies/DEMO/patients/{code}"):
        page = html_module.unescape(client.get(url).get_data(as_text=True))
        body = re.sub(r"<script.*?</script>|<[^>]+>", " ", page.split("<main", 1)[1], flags=re.S)
        assert not re.findall(r"\w+: ", body), url
