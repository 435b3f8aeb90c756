"""`python -m instruments`: list, show, score and fhir, run as a separate process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from instruments import default_library

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
    assert any(line.startswith("who5 ") and " yes " in line for line in lines)
    assert len(lines) == 1 + len(default_library().all_versions())  # every kept version
    assert any(line.startswith("pirc ") and "1.0 (kept)" in line for line in lines)


def test_list_json() -> None:
    rows = json.loads(run("list", "--json").stdout)
    rses = next(row for row in rows if row["id"] == "rses" and row["version"] == "1.0")
    assert rses == {
        "id": "rses",
        "version": "1.0",
        "current": rses["current"],
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
    result = run("score", "who5", "--version", "1.0", stdin=json.dumps(answers))
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


def test_alerts_prints_the_level_and_every_rule_that_fired() -> None:
    answers = '{"rf_vision": 1, "rf_vision_now": 0}'
    result = run("alerts", "pirc", "--hours-since-session", "30", stdin=answers)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "level": 3, "alerts": [{"rule": "rf_vision_early", "level": 3}, {"rule": "rf_vision", "level": 2}]
    }


def test_alerts_with_nothing_reported_is_level_zero() -> None:
    result = run("alerts", "pirc", "--hours-since-session", "30", stdin='{"rf_breathing": 0}')
    assert json.loads(result.stdout) == {"level": 0, "alerts": []}


def test_alerts_without_the_hours_lists_the_rules_it_could_not_evaluate() -> None:
    result = run("alerts", "pirc", stdin='{"pain_present": 1, "pain_worst": 2, "pain_now": 1}')
    assert json.loads(result.stdout) == {
        "level": 1, "alerts": [{"rule": "pain_moderate_persisting_unevaluated", "level": 1}]
    }


def test_alerts_of_a_kept_version_use_that_versions_rules() -> None:
    answers = '{"rf_angioedema": 1, "rf_angioedema_now": 1, "rf_hives": 1}'
    result = run("alerts", "pirc", "--version", "1.0", stdin=answers)
    assert json.loads(result.stdout)["level"] == 3
    assert run("alerts", "pirc", stdin=answers).returncode == 2  # 2.0 has no rf_angioedema


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["alerts", "nope"], "{}", "unknown instrument 'nope'"),
        (["alerts", "pirc", "--version", "9.9"], "{}", "version '9.9' not in the library"),
        (["alerts", "pirc"], "not json", "answers are not valid JSON"),
        (["alerts", "pirc"], "[1, 2]", "answers must be a JSON object"),
        (["alerts", "pirc"], '{"rf_vision": 7}', "code 7 out of range"),
        (["alerts", "pirc"], '{"nope": 1}', "unknown item 'nope'"),
        (["alerts", "pirc", "--hours-since-session", "soon"], "{}", "must be a number"),
        (["alerts", "pirc", "--hours-since-session", "-3"], "{}", "must be 0 or more"),
        (["alerts", "pirc", "--hours-since-session", "nan"], "{}", "must be 0 or more"),
        (["alerts", "pirc", "--bogus"], "{}", "unrecognized arguments"),
    ],
)
def test_alerts_bad_input_exits_2_with_one_line(args: list[str], stdin: str, message: str) -> None:
    result = run(*args, stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr
