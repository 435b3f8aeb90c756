"""The study dashboard in a real browser: figures drawn, a filter redraws them, no console errors."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser


def _login(page: Any, base: str) -> None:
    page.goto(f"{base}/login")
    from surveys.demo import DEMO_USERS

    email, _role, password = next(user for user in DEMO_USERS if user[1] == "clinician")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert "/login" not in page.url, page.content()[:2000]


def _figure_data(page: Any) -> str:
    return page.evaluate("() => JSON.stringify(document.getElementById('fig-completion').data)")


def _windows_in_table(page: Any) -> int:
    """Sum of the on-time column of the completion table (the figure's text alternative)."""
    cells = page.locator("#alt-completion tbody tr td:first-of-type").all_inner_texts()
    return sum(int(text) for text in cells if text.strip().isdigit())


def test_dashboard_draws_and_redraws_on_filter_without_console_errors(demo_server, desktop):
    page = desktop
    _login(page, demo_server.url)
    page.goto(f"{demo_server.url}/studies/DEMO/dashboard")
    page.wait_for_selector("#fig-completion .main-svg")
    page.wait_for_selector("#fig-outcome-who5-percent .main-svg")
    before, before_total = _figure_data(page), _windows_in_table(page)
    draws = page.get_attribute("#fig-completion", "data-draws")
    assert draws == "1"

    page.select_option("#f-sex", "female")
    page.wait_for_function("() => document.getElementById('fig-completion').dataset.draws === '2'")
    assert "Updated:" in page.inner_text("#filter-status")
    assert _figure_data(page) != before  # redrawn with new numbers
    assert 0 < _windows_in_table(page) < before_total  # and the table alternative follows
    assert "sex=female" in page.url  # the address keeps the filter: reload and share work
    assert page.console_errors == []


def test_dashboard_filters_work_without_javascript(demo_server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        _login(page, demo_server.url)
        page.goto(f"{demo_server.url}/studies/DEMO/dashboard")
        page.select_option("#f-sex", "male")
        page.click("#dashboard-filters button[type=submit]")
        page.wait_for_url(lambda url: "sex=male" in url)
        assert page.inner_text("#alt-completion").strip()
    finally:
        context.close()


def test_patient_page_draws_trajectories_without_console_errors(demo_server, desktop):
    _login(desktop, demo_server.url)
    desktop.goto(f"{demo_server.url}/studies/DEMO/patients/DEMO-FOLLOWUP")
    desktop.wait_for_selector("#fig-trajectory-who5-percent .main-svg")
    assert desktop.console_errors == []
