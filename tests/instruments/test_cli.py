"""`python -m instruments`: list, show, score and fhir, run as a separate process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import definition

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "instruments", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def test_list_prints_a_table_of_the_instruments() -> None:
    result = run("list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "VERSION", "VALIDATED", "LANGUAGES"]
    assert any(line.startswith("who5 ") and "fr(draft)" in line and " yes " in line for line in lines)
    assert len(lines) == 9


def test_list_json() -> None:
    rows = json.loads(run("list", "--json").stdout)
    rses = next(row for row in rows if row["id"] == "rses")
    assert rses == {
        "id": "rses",
        "version": "1.0",
        "title": "Rosenberg Self-Esteem Scale",
        "validated": True,
        "languages": {"en": "official", "fr": "official"},
    }


def test_show_prints_items_in_the_language_order_with_codes() -> None:
    result = run("show", "rses", "--lang", "fr")
    assert result.returncode == 0, result.stderr
    assert "1. rses_7 (choice)" in result.stdout
    assert "10. rses_2 (choice)" in result.stdout
    assert "  3  Tout à fait en accord" in result.stdout


def test_score_reads_answers_on_stdin_and_prints_json() -> None:
    answers = {"who5_1": 5, "who5_2": 4, "who5_3": 3, "who5_4": 2, "who5_5": 1}
    result = run("score", "who5", stdin=json.dumps(answers))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "instrument": "who5",
        "version": "1.0",
        "scoring_version": "who5-1.0-s1",
        "status": "complete",
        "scores": {"raw": 15, "percent": 60},
        "bands": {"percent": "not_low"},
        "flags": ["item_low"],
    }


def test_score_treats_null_as_missing() -> None:
    result = run(
        "score", "rses", stdin=json.dumps({f"rses_{n}": 2 for n in range(1, 10)} | {"rses_10": None})
    )
    assert json.loads(result.stdout)["status"] == "prorated"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("score", "who5"), "{not json", "answers are not valid JSON"),
        (("score", "who5"), "[1, 2]", "answers must be a JSON object"),
        (("score", "who5"), '{"who5_9": 1}', "unknown item 'who5_9'"),
        (("score", "who5"), '{"who5_1": 6}', "code 6 out of range"),
        (("score", "who5"), '{"who5_1": "6"}', "expected an integer code"),
        (("score", "dlqi"), "{}", "unknown instrument 'dlqi'"),
        (("show", "who5", "--lang", "de"), "", "language 'de' not available"),
    ],
)
def test_invalid_input_exits_2_with_one_line_on_stderr(
    args: tuple[str, ...], stdin: str, message: str
) -> None:
    result = run(*args, stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_fhir_prints_a_questionnaire() -> None:
    result = run("fhir", "pgic", "--lang", "fr")
    assert result.returncode == 0, result.stderr
    resource = json.loads(result.stdout)
    assert resource["resourceType"] == "Questionnaire"
    assert resource["item"][0]["answerOption"][0]["valueCoding"]["display"] == "Très nettement amélioré"


def test_extra_dir_loads_private_definitions(tmp_path: Path) -> None:
    data = definition("pgic") | {"id": "pgic_private"}
    (tmp_path / "pgic_private.json").write_text(json.dumps(data), encoding="utf-8")
    result = run("score", "pgic_private", "--extra-dir", str(tmp_path), stdin='{"pgic": 2}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["bands"] == {"pgic": "meaningful_improvement"}
    assert "pgic_private" in run("list", "--extra-dir", str(tmp_path)).stdout


def test_broken_extra_definition_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    result = run("list", "--extra-dir", str(tmp_path))
    assert result.returncode == 2
    assert "bad.json: missing required key(s)" in result.stderr
