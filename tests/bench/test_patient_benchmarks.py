"""The patient benchmarks still drive today's pages: a simulated patient finishes the baseline in
both flows. (The benchmark once timed refused answers for days after the screens' markup changed.)"""

from __future__ import annotations

from collections import defaultdict

import pytest

from bench.patient_cpu import SECRET, Browser, answer_baseline
from bench.patient_load import answer_form, seed


@pytest.mark.parametrize("script", [False, True], ids=["no-js", "patient.js"])
def test_a_simulated_patient_finishes_the_baseline(tmp_path, script: bool) -> None:
    from app import create_app

    url = f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    token = seed(url, 1)[0]
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "BASE_URL": "http://127.0.0.1",
                      "RATELIMIT_STORAGE_URI": "memory://", "MAIL_SERVER": ""},
                     instance_path=str(tmp_path / "instance"))
    answers = answer_baseline(Browser(app, [0], defaultdict(list)), token, script)
    assert answers >= 20  # every screen of the baseline, each answer taken once


def test_a_screen_without_its_token_stops_the_benchmark() -> None:
    with pytest.raises(ValueError, match="no CSRF token"):
        answer_form('<input name="item" value="who5_1"><input name="answer" value="3">', "who5_1")
