""""Open until" is the last local day a window can be answered, the same on every page that says it:
the patient's home page, the worklist and the staff patient page (the reminder e-mail: test_reminders)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from babel.dates import format_date

from surveys.infra.db import db
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing
from tests.today import local_today

pytestmark = pytest.mark.usefixtures("fast_password_hashing")
ENGLISH = {"Accept-Language": "en"}


@pytest.fixture
def coordinator(client: Any, login: Any, make_user: Any, make_study: Any) -> Any:
    study = make_study("UNTIL")
    user = make_user("coordinator", (study,))
    login(user)
    user.study = study
    db.session.commit()
    return user


def test_open_until_is_the_last_answerable_local_day_everywhere(client, coordinator, make_patient) -> None:
    study = coordinator.study
    assert study.timezone == "Europe/Paris"
    patient = make_patient(study, "P-UNTIL", sessions_days_ago=(1,), language="en")
    db.session.commit()
    last = local_today() - timedelta(days=1) + timedelta(days=20)  # S1: 21 local days after the session
    first_closed = last + timedelta(days=1)
    home = client.get(f"/p/{patient.token}", follow_redirects=True).get_data(as_text=True)
    assert f"Open until {format_date(last, 'long', locale='en')}." in home
    assert format_date(first_closed, "long", locale="en") not in home
    worklist = client.get(f"/studies/{study.code}/worklist", headers=ENGLISH).get_data(as_text=True)
    row = worklist[worklist.index("P-UNTIL"):]
    row = row[:row.index("</tr>")]
    assert "S1" in row and format_date(last, "medium", locale="en") in row
    record = client.get(f"/studies/{study.code}/patients/P-UNTIL", headers=ENGLISH).get_data(as_text=True)
    s1 = record[record.index("After session 1"):]
    s1 = s1[:s1.index("</tr>")]
    assert format_date(last, "medium", locale="en") in s1
    assert format_date(first_closed, "medium", locale="en") not in s1
