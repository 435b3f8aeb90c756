"""Unicode look-alikes of formula starters are neutralised in spreadsheet files too (and only there:
the analysis files carry every text exactly as given)."""

from __future__ import annotations

import pytest

from reports.exports.csv_cells import ANALYSIS, csv_chunks, dialect_of, neutralise, text_cell


@pytest.mark.parametrize("value", [
    "＝HYPERLINK(\"http://evil.example\")", "＋1+1", "－2+3", "＠SUM(A1)", "﹦1+1", "﹢1", "﹣1", "﹫A1",
    " =1+1", "\u3000＝1+1", "\u00a0+1",
])
def test_look_alikes_of_formula_starters_get_a_quote(value: str) -> None:
    assert neutralise(value) == "'" + value
    assert text_cell(value, spreadsheet=True).startswith("\"'")
    assert text_cell(value) == '"' + value.replace('"', '""') + '"'  # analysis files: as given


@pytest.mark.parametrize("value", ["Week 12", "élevé", "１２ weeks", "ｗｅｅｋ", "", "naïve = 1", "a-b"])
def test_ordinary_text_is_left_alone(value: str) -> None:
    assert neutralise(value) == value


def test_headers_and_cells_of_a_spreadsheet_file_are_neutralised() -> None:
    chunks = csv_chunks(["＝cmd"], [["＋1"], [-3]], dialect=dialect_of(True, "en"))
    written = b"".join(chunks).decode("utf-8-sig")
    assert written == "\"'＝cmd\"\r\n\"'＋1\"\r\n-3\r\n"


def test_headers_and_cells_of_an_analysis_file_keep_their_text() -> None:
    written = b"".join(csv_chunks(["＝cmd"], [["＋1"], [-3]], dialect=ANALYSIS)).decode("utf-8")
    assert written == "\"＝cmd\"\r\n\"＋1\"\r\n-3\r\n"
