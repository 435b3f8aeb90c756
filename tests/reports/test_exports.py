"""CSV exports: round trips through pandas, codebook coverage, formula injection, filters, audit."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from reports.exports.csv_cells import csv_chunks, dialect_of, line_chunks, neutralise, text_cell
from reports.exports.options import ExportOptions
from reports.exports.runs import open_export
from surveys.domain.models import Answer, AuditEvent, Patient, Response, Score
from surveys.domain.responses import save_answers, start_response, submit_response
from surveys.infra.db import db
from tests.today import local_today

OTHER_TEXT = "=HYPERLINK(\"http://evil.test\",\"click\")"
PRIOR = "@SUM(1+1)"


def answer(patient: Any, timepoint: str, instrument: str, answers: dict[str, Any], lang: str = "en",
           submitted_days_ago: int | None = None) -> Response:
    """Store and submit one response the way the patient pages do."""
    from surveys.infra.library import instruments

    inst = instruments()[instrument]
    response = start_response(db.session, patient, timepoint, inst, lang)
    save_answers(db.session, response, inst, answers)
    submit_response(db.session, response, inst)
    if submitted_days_ago is not None:
        response.submitted_at = datetime.now(UTC) - timedelta(days=submitted_days_ago)
    db.session.flush()
    return response


def read_csv(data: bytes, **kwargs: Any) -> pd.DataFrame:
    """A CSV export as pandas reads it (empty cells are missing, text stays text)."""
    kwargs.setdefault("dtype", {"instrument_version": str})
    return pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=[""], **kwargs)


@pytest.fixture
def cohort(make_study: Callable[..., Any], make_patient: Callable[..., Any],
           make_user: Callable[..., Any]) -> SimpleNamespace:
    """Two studies; in A a treated patient with free text and injection attempts, one without sessions."""
    return build_cohort(make_study, make_patient, make_user)


def build_cohort(make_study: Callable[..., Any], make_patient: Callable[..., Any],
                 make_user: Callable[..., Any]) -> SimpleNamespace:
    """The cohort the export tests share (other test modules wrap it in their own fixture)."""
    a, b = make_study("EXPA"), make_study("EXPB")
    p1 = make_patient(a, "A-001", sessions_days_ago=(30, 2), sex="female", birth_year=1980,
                      diagnosis="female_pattern_hair_loss", prior_treatments=[PRIOR, "ketoconazole"])
    p2 = make_patient(a, "A-002", sex="male", birth_year=1999, language="fr")
    q1 = make_patient(b, "B-001", sessions_days_ago=(10,), birth_year=1970)
    who5 = {f"who5_{i}": c for i, c in enumerate((5, 4, 3, 1, 0), 1)}
    answer(p1, "T0", "who5", who5, submitted_days_ago=40)
    answer(p1, "T0", "rses", {f"rses_{i}": 2 for i in range(1, 9)}, submitted_days_ago=40)
    pirc = {"pain_present": 1, "pain_worst": 2, "pain_now": 0, "pain_interference": 1,
            "redness_present": 0, "rf_fever": 0, "other": OTHER_TEXT}
    answer(p1, "S1", "pirc", pirc, submitted_days_ago=28)
    answer(p1, "W12", "hair_change", {"amount": -3, "shedding": 2, "appearance": 0})
    answer(p2, "T0", "who5", {f"who5_{i}": 3 for i in range(1, 6)}, lang="fr", submitted_days_ago=5)
    answer(q1, "T0", "who5", {f"who5_{i}": 1 for i in range(1, 6)})
    # An unsubmitted response is not analysis data: exports leave it out.
    from surveys.infra.library import instruments
    draft = start_response(db.session, p2, "T0", instruments()["rses"], "fr")
    save_answers(db.session, draft, instruments()["rses"], {"rses_1": 1})
    db.session.commit()
    return SimpleNamespace(a=a, b=b, p1=p1, p2=p2, q1=q1, users=Users(make_user, a, b))


class Users:
    """The cohort's staff, each created on first use (password hashing is slow on purpose)."""

    def __init__(self, make_user: Callable[..., Any], a: Any, b: Any) -> None:
        self._make, self._a, self._b = make_user, a, b

    def _user(self, role: str, studies: tuple[Any, ...]) -> Any:
        user = self._make(role, studies)
        db.session.commit()
        return user

    @cached_property
    def coordinator(self) -> Any:
        return self._user("coordinator", (self._a,))

    @cached_property
    def clinician(self) -> Any:
        return self._user("clinician", (self._a,))

    @cached_property
    def other(self) -> Any:
        return self._user("coordinator", (self._b,))

    @cached_property
    def both(self) -> Any:
        return self._user("coordinator", (self._a, self._b))


def download(client: FlaskClient, code: str, fmt: str, **args: Any) -> Any:
    return client.get(f"/studies/{code}/exports/{fmt}", query_string=args)


def db_answers(study_id: int) -> set[tuple[Any, ...]]:
    rows = db.session.execute(
        select(Patient.code, Response.timepoint, Response.instrument_id, Answer.item_id, Answer.code,
               Answer.text)
        .join(Response, Response.patient_id == Patient.id).join(Answer, Answer.response_id == Response.id)
        .where(Patient.study_id == study_id, Response.status == "submitted"))
    return {tuple(r) for r in rows}


def test_long_export_read_back_with_pandas_equals_the_database(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    response = download(client, "EXPA", "long")
    assert response.status_code == 200 and "Content-Length" not in response.headers  # sent streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    frame = read_csv(response.data)
    exported = {(r.patient, r.timepoint, r.instrument, r.item,
                 None if pd.isna(r.code) else int(r.code), None if pd.isna(r.text) else r.text)
                for r in frame.itertuples()}
    expected = db_answers(cohort.a.id)  # text exactly as given: no spreadsheet quote in analysis files
    assert exported == expected
    assert len(frame) == len(expected)
    row = frame[(frame.patient == "A-001") & (frame.item == "who5_1")].iloc[0]
    assert row.label == "All of the time" and row.instrument_version == "1.1" and row.language == "en"
    assert row.days_since_first_session == -10  # answered 40 days ago, first session 30 days ago
    stored = db.session.scalar(select(Answer.answered_at).join(Response).where(
        Response.patient_id == cohort.p1.id, Answer.item_id == "who5_1"))
    assert row.answered_at == stored.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert frame[frame.patient == "A-002"].days_since_first_session.isna().all()  # no session yet


def test_a_response_without_answers_shifts_no_other_rows_of_the_long_export(client, login, cohort) -> None:
    # long.csv reads responses and answers side by side: an empty response sorted first must be skipped.
    answer(cohort.p1, "T0", "hair_status", {}, submitted_days_ago=40)
    db.session.commit()
    login(cohort.users.coordinator)
    frame = read_csv(download(client, "EXPA", "long").data)
    exported = {(r.patient, r.timepoint, r.instrument, r.item) for r in frame.itertuples()}
    assert exported == {row[:4] for row in db_answers(cohort.a.id)} and len(frame) == len(exported)
    assert "hair_status" not in set(frame.instrument)


def test_wide_and_scores_exports_match_stored_answers_and_scores(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    wide = read_csv(download(client, "EXPA", "wide").data)
    assert len(wide) == len(wide[["patient", "timepoint"]].drop_duplicates())
    t0 = wide[(wide.patient == "A-001") & (wide.timepoint == "T0")].iloc[0]
    assert [t0[f"who5_who5_{i}"] for i in range(1, 6)] == [5, 4, 3, 1, 0]
    percent = db.session.scalar(select(Score.value).join(Response).where(
        Response.patient_id == cohort.p1.id, Response.instrument_id == "who5", Score.scale == "percent"))
    assert t0.who5_percent_score == percent == 52.0
    assert t0.who5_percent_band == "not_low" and t0.who5_status == "complete"
    assert t0.rses_status == "prorated" and "item_low" in t0.who5_flags
    assert t0.birth_year == 1980 and t0.sex == "female"
    w12 = wide[(wide.patient == "A-001") & (wide.timepoint == "W12")].iloc[0]
    assert w12.hair_change_amount == -3  # a number, not text
    assert wide.hair_change_amount.dtype.kind in "if"

    scores = read_csv(download(client, "EXPA", "scores").data)
    submitted = db.session.scalars(select(Response).join(Patient).where(
        Patient.study_id == cohort.a.id, Response.status == "submitted")).all()
    assert len(scores) == len(submitted) == 5
    rses = scores[scores.instrument == "rses"].iloc[0]
    assert rses.status == "prorated" and rses.rses_total_score == 15.0
    assert rses.scoring_version == "rses-2.0-s3"
    assert pd.isna(rses.who5_raw_score)


def test_labels_mode_writes_option_labels_in_the_chosen_language(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    wide = read_csv(download(client, "EXPA", "wide", values="labels", lang="fr").data)
    t0 = wide[(wide.patient == "A-001") & (wide.timepoint == "T0")].iloc[0]
    assert t0.who5_who5_1 == "Tout le temps"
    assert t0.who5_percent_score == 52.0


@pytest.mark.parametrize("options", [{}, {"deidentified": "1"}, {"values": "labels"}, {"instrument": "who5"}])
def test_codebook_describes_every_column_of_every_file(client, login, cohort, options) -> None:
    login(cohort.users.coordinator)
    codebook = read_csv(download(client, "EXPA", "codebook", **options).data)
    for fmt in ("long", "wide", "scores"):
        columns = list(read_csv(download(client, "EXPA", fmt, **options).data).columns)
        described = codebook[codebook.file == f"{fmt}.csv"]
        assert columns == list(described.variable), fmt
        assert described.label.notna().all() and described.type.notna().all()
    item = codebook[(codebook.file == "wide.csv") & (codebook.variable == "who5_who5_1")].iloc[0]
    assert item.validated == "yes" and "fr: draft" in item.translation_status
    assert "Topp" in item.licence or item.licence
    if options.get("values") != "labels":
        assert "5=All of the time" in item.codes and item.type == "integer"
    json_book = download(client, "EXPA", "codebook", json="1", **options).get_json()
    assert [v["name"] for v in json_book["files"]["wide.csv"]] == list(
        codebook[codebook.file == "wide.csv"].variable)


def test_codebook_marks_instruments_written_by_the_project_as_not_validated(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    codebook = read_csv(download(client, "EXPA", "codebook").data)
    change = codebook[codebook.variable == "hair_change_amount"].iloc[0]
    assert change.validated == "no" and "-3=" in change.codes


def test_formula_injection_is_neutralised_in_spreadsheet_files_only(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    long = read_csv(download(client, "EXPA", "long", excel="en").data, encoding="utf-8-sig")
    assert list(long[long.item == "other"].text) == ["'" + OTHER_TEXT]
    assert -3 in set(long[long.item == "amount"].code)
    wide = read_csv(download(client, "EXPA", "wide", excel="en").data, encoding="utf-8-sig")
    assert wide.pirc_other.dropna().tolist() == ["'" + OTHER_TEXT]
    raw = download(client, "EXPA", "wide", excel="en").data.decode("utf-8-sig")
    assert re.search(r"(^|,)[=+@-][A-Za-z(]", raw, re.M) is None  # no live formula anywhere
    assert ",-3," in raw
    prior = read_csv(download(client, "EXPA", "prior_treatments", excel="en").data, encoding="utf-8-sig")
    assert list(prior.treatment) == ["'" + PRIOR, "ketoconazole"]
    # Files meant for R, Stata, SPSS and pandas carry the text exactly as given.
    long = read_csv(download(client, "EXPA", "long").data)
    assert list(long[long.item == "other"].text) == [OTHER_TEXT]
    prior = read_csv(download(client, "EXPA", "prior_treatments").data)
    assert list(prior.treatment) == [PRIOR, "ketoconazole"] and list(prior.number) == [1, 2]


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1+A1", "@SUM(A1)", "\tx", "\rx", "-",
                                   "\uff1d1+1", "\uff0b1", "\uff0d1", "\uff20SUM(A1)"])
def test_every_formula_start_gets_a_quote_in_spreadsheet_csv_only(value) -> None:
    assert neutralise(value) == "'" + value
    data = b"".join(csv_chunks([value, "ok"], [[value, -3], [1.5, "plain"]],
                               dialect=dialect_of(True, "en"))).decode("utf-8-sig")
    lines = data.split("\r\n")
    assert lines[0].startswith(("'", "\"'"))  # headers too
    assert lines[1].startswith(("'", "\"'")) and lines[1].endswith(",-3")
    assert lines[2] == "1.5,\"plain\""  # text quoted, numbers bare
    analysis = b"".join(csv_chunks([value, "ok"], [[value, -3]])).decode()
    assert analysis.split("\r\n")[1] == text_cell(value) + ",-3" == '"' + value + '",-3'


@pytest.mark.parametrize("value", [-3, 0, 2.5, None, "plain", "a=b", "3-1"])
def test_safe_values_are_written_unchanged(value) -> None:
    assert neutralise(value) == value


def test_excel_option_adds_a_bom_and_the_locales_separators(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    data = download(client, "EXPA", "long", excel="1", lang="fr").data
    assert data.startswith("\ufeff".encode())
    frame = pd.read_csv(io.BytesIO(data), sep=";", encoding="utf-8-sig")
    assert frame.columns[0] == "patient" and len(frame) == len(db_answers(cohort.a.id))
    # A decimal comma (fr, de) goes with ';'; the scores stay numbers in those spreadsheets.
    scores = pd.read_csv(io.BytesIO(download(client, "EXPA", "scores", excel="de").data), sep=";",
                         decimal=",", encoding="utf-8-sig")
    assert scores.who5_percent_score.dtype.kind == "f"
    text = download(client, "EXPA", "scores", excel="de").data.decode("utf-8-sig")
    assert re.search(r";\d+,\d+;", text)
    english = download(client, "EXPA", "scores", excel="en").data.decode("utf-8-sig")
    assert english.startswith('"patient","timepoint"') and re.search(r",\d+\.\d+,", english)


# random identifiers: pseudonyms (R + 10 hex) and the FHIR Bundle's and entries' UUIDs
RANDOM_ID = re.compile(r"\bR[0-9a-f]{10}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def test_de_identified_exports_hold_no_code_date_birth_year_or_free_text(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    forbidden = ["A-001", "A-002", OTHER_TEXT[1:12], PRIOR[1:], "ketoconazole", "1980", "1999"]
    date_like = re.compile(r"\d{4}-\d{2}-\d{2}")
    ids = []
    for fmt in ("long", "wide", "scores", "fhir"):
        text = download(client, "EXPA", fmt, deidentified="1").data.decode()
        # random hex may hold "1980" by chance ("Rcd06919804"), not the birth year
        outside_random_ids = RANDOM_ID.sub("ID", text)
        for value in forbidden:
            assert value not in outside_random_ids, (fmt, value)
        if fmt != "fhir":  # the Bundle's own timestamp is the export time, not patient data
            assert date_like.search(text) is None, fmt
        if fmt == "long":
            frame = read_csv(text.encode())
            ids.append(set(frame.patient))
            assert "answered_at" not in frame.columns and "text" not in frame.columns
            assert "other" not in set(frame.item)
            assert set(frame.days_since_first_session.dropna()) == {-10.0, 2.0, 30.0}
        if fmt == "wide":
            frame = read_csv(text.encode())
            year = (datetime.now(UTC) - timedelta(days=30)).year  # age at enrollment
            decade = (year - 1980) // 10 * 10
            expected = {f"{decade}-{decade + 9}", "18-29" if year - 1999 < 30 else "30-39"}
            assert set(frame.age_band) == expected
            assert "birth_year" not in frame.columns and "pirc_other" not in frame.columns
    again = set(read_csv(download(client, "EXPA", "long", deidentified="1").data).patient)
    assert len(ids[0]) == 2 and not ids[0] & again  # new random ids every export


def test_filters_by_timepoint_instrument_and_date(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    long = read_csv(download(client, "EXPA", "long", timepoint="S").data)
    assert set(long.timepoint) == {"S1"}
    long = read_csv(download(client, "EXPA", "long", timepoint=["T0", "W12"], instrument="who5").data)
    assert set(long.timepoint) == {"T0"} and set(long.instrument) == {"who5"}
    today = local_today()
    recent = read_csv(download(client, "EXPA", "scores", **{"from": (today - timedelta(days=10)).isoformat(),
                                                           "to": today.isoformat()}).data)
    assert sorted(recent.instrument) == ["hair_change", "who5"]
    wide = read_csv(download(client, "EXPA", "wide", instrument="who5").data)
    assert not [c for c in wide.columns if c.startswith("rses_")]


@pytest.mark.parametrize("args, message", [
    ({"timepoint": "X9"}, "Unknown timepoint"), ({"instrument": "dlqi"}, "Unknown instrument"),
    ({"from": "2026-13-01"}, "YYYY-MM-DD"), ({"from": "2026-02-01", "to": "2026-01-01"}, "after"),
    ({"values": "both"}, "codes"), ({"deidentified": "maybe"}, "1 or 0"),
])
def test_bad_options_get_a_clear_400_and_no_audit_event(client, login, cohort, args, message) -> None:
    login(cohort.users.coordinator)
    before = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    response = download(client, "EXPA", "long", **args)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) == before


def test_every_export_is_audited_with_who_filters_and_row_count(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    frame = read_csv(download(client, "EXPA", "long", instrument="who5", deidentified="1").data)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export")
                              .order_by(AuditEvent.id.desc()))
    assert event.actor == f"staff:{cohort.users.coordinator.id}" and event.study_id == cohort.a.id
    assert event.details["rows"] == len(frame) == 10 and event.details["completed"] is True
    assert event.details["instruments"] == ["who5"] and event.details["deidentified"] is True
    assert event.details["via"] == "web"
    page = client.get("/studies/EXPA/exports")
    assert page.status_code == 200 and "staff:" in page.get_data(as_text=True)


def test_a_download_cut_short_is_audited_as_incomplete(app, cohort) -> None:
    from surveys.infra.library import instruments

    export = open_export(db.session, cohort.a, ExportOptions(format="long"), instruments(),
                         actor="test", via="test")
    next(export.chunks)
    export.chunks.close()
    event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()))
    assert event.action == "export" and event.details["completed"] is False


def test_exports_never_mix_studies(client, login, cohort) -> None:
    login(cohort.users.both)
    text = download(client, "EXPA", "long").data.decode()
    assert "B-001" not in text and "A-001" in text
    text = download(client, "EXPB", "long").data.decode()
    assert "A-00" not in text and "B-001" in text


def test_study_outside_the_users_studies_is_404(client, login, cohort) -> None:
    login(cohort.users.other)
    assert download(client, "EXPA", "long").status_code == 404
    assert client.get("/studies/EXPA/exports").status_code == 404
    assert download(client, "NOPE", "long").status_code == 404


def test_unknown_format_is_404(client, login, cohort) -> None:
    login(cohort.users.coordinator)
    assert download(client, "EXPA", "xls").status_code == 404


def test_clinicians_get_de_identified_exports_only(client, login, cohort) -> None:
    login(cohort.users.clinician)
    text = download(client, "EXPA", "long").data.decode()
    assert "A-001" not in text and "answered_at" not in text
    assert download(client, "EXPA", "long", deidentified="0").status_code == 403
    page = client.get("/studies/EXPA/exports").get_data(as_text=True)
    assert 'name="deidentified" value="1"' in page


def test_export_page_needs_login(client, cohort) -> None:
    response = client.get("/studies/EXPA/exports")
    assert response.status_code in (302, 401)


def test_cli_exports_to_a_file_and_audits(runner, cohort, tmp_path) -> None:
    out = tmp_path / "long.csv"
    result = runner.invoke(args=["export", "EXPA", "--format", "long", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(read_csv(out.read_bytes())) == len(db_answers(cohort.a.id))
    event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()))
    assert event.actor.startswith("os-user:") and event.details["rows"] == len(db_answers(cohort.a.id))
    book = tmp_path / "codebook.json"
    assert runner.invoke(args=["export", "EXPA", "--format", "codebook", "--out", str(book)]).exit_code == 0
    assert book.read_text().startswith("{")


def test_cli_refuses_unknown_study_and_bad_filters(runner, cohort, tmp_path) -> None:
    result = runner.invoke(args=["export", "NOPE", "--format", "long", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code != 0 and "No study with code NOPE" in result.output
    result = runner.invoke(args=["export", "EXPA", "--format", "long", "--timepoint", "Z", "--out",
                                 str(tmp_path / "x.csv")])
    assert result.exit_code != 0 and "Unknown timepoint" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_missing_values_are_bare_empty_cells_and_quoted_text_survives() -> None:
    tricky = ['a,"",b', 'x\n"=y', '"', ""]
    data = b"".join(csv_chunks(["t", "n"], [[tricky[0], None], [tricky[1], 1], [tricky[2], None],
                                            [tricky[3], -3]])).decode()
    assert data.splitlines()[1].endswith(",")  # None: nothing between the delimiters, not ""
    frame = read_csv(data.encode())
    assert frame.t.tolist()[:3] == tricky[:3] and pd.isna(frame.t[3])
    assert frame.n.isna().tolist() == [True, False, True, False] and frame.n[3] == -3


@pytest.mark.parametrize("excel", [False, True])
def test_a_text_cell_ending_in_a_separator_or_line_break_ends_a_row_intact(excel) -> None:
    rows = [["x", "a,"], ["y", "b;"], ["z", "itchy\n"]]
    data = b"".join(csv_chunks(["k", "v"], rows, dialect=dialect_of(excel, "fr"))).decode("utf-8-sig")
    frame = pd.read_csv(io.StringIO(data), sep=";" if excel else ",")
    assert frame.v.tolist() == ["a,", "b;", "itchy\n"]


_cell_values = st.one_of(st.none(), st.integers(-10**6, 10**6), st.text(max_size=12),
                         st.sampled_from(["=1+1", "-", "@x", "\tx", "\rx", 'a"b', "x\r\ny", "é;ü", ""]))


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(_cell_values, min_size=3, max_size=3), max_size=5),
       dialect=st.sampled_from([dialect_of(False), dialect_of(True, "en"), dialect_of(True, "fr")]))
def test_lines_written_by_hand_are_the_bytes_the_csv_module_writes(rows, dialect) -> None:
    """long.csv's lines (`text_cell`, bare numbers, empty cells) == `csv_chunks` of the same cells."""
    header = ["=a", "b", 'c"']
    lines = [dialect.delimiter.join(text_cell(v, dialect.spreadsheet) if isinstance(v, str)
                                    else "" if v is None else str(v) for v in row)
             for row in rows]
    by_hand = b"".join(line_chunks(header, [lines], dialect=dialect))
    assert by_hand == b"".join(csv_chunks(header, rows, dialect=dialect))


def test_long_lines_count_the_rows_they_write(app, cohort) -> None:
    from reports.exports.runs import export_context
    from reports.exports.tables import RowCount, long_lines
    from surveys.infra.library import instruments

    count = RowCount()
    ctx = export_context(cohort.a, ExportOptions(format="long"), instruments())
    batches = list(long_lines(db.session, ctx, count))
    assert count.rows == sum(len(lines) for lines in batches) == len(db_answers(cohort.a.id)) > 0
