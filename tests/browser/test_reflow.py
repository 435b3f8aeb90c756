"""WCAG 1.4.10 reflow and 1.4.4 text resize: at 320 CSS pixels (a 640 px window at 200% zoom), and
with text at 200% on a phone, no page scrolls sideways: the headers wrap."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.test_staff_flows import log_in, staff_study  # noqa: F401  (the fixture)

#: 200% zoom of a 640 px wide window: 320 CSS pixels, the width WCAG 1.4.10 names.
ZOOMED = {"viewport": {"width": 320, "height": 480}, "device_scale_factor": 2}
#: A phone whose owner set text to 200% (browsers' text zoom scales the root font size).
BIG_TEXT_PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2}


@pytest.fixture
def zoomed(browser: Any) -> Iterator[Any]:
    context = browser.new_context(**ZOOMED)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def big_text(browser: Any) -> Iterator[Any]:
    context = browser.new_context(**BIG_TEXT_PHONE)
    context.add_init_script(
        "document.addEventListener('DOMContentLoaded',"
        " () => { document.documentElement.style.fontSize = '200%'; })"
    )
    page = context.new_page()
    yield page
    context.close()


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than its window (0: no horizontal scroll)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def test_patient_pages_reflow_at_320_css_pixels(zoomed, patient_link) -> None:
    url = patient_link(sessions_days_ago=(2,), study={"contact": "Clinic reception, +33 1 23 45 67 89"})
    for address in (url, f"{url}/q/T0/hair_stage", f"{url}/q/S1/pirc", f"{url}/q/T0/who5"):
        zoomed.goto(address)
        assert overflow(zoomed) == 0, address


def test_patient_pages_reflow_with_text_at_200_percent(big_text, patient_link) -> None:
    for language in ("en", "fr"):
        url = patient_link(language=language, sessions_days_ago=(2,))
        for address in (url, f"{url}/q/T0/rses", f"{url}/q/S1/pirc"):
            big_text.goto(address)
            assert overflow(big_text) == 0, (language, address, _debug_wide(big_text))


def test_staff_pages_reflow_at_320_css_pixels(zoomed, live_server, staff_study) -> None:  # noqa: F811
    log_in(zoomed, live_server.url, staff_study["coordinator"])
    code = staff_study["code"]
    for path in ("/", f"/studies/{code}/patients", f"/studies/{code}/patients/FEVERISH/manage",
                 f"/studies/{code}/worklist", f"/studies/{code}/alerts"):
        zoomed.goto(f"{live_server.url}{path}")
        assert overflow(zoomed) == 0, (path, _debug_wide(zoomed))


#: The elements wider than the window or overflowing their own box (for a failure's message).
_WIDE = """() => {
  const w = document.documentElement.clientWidth;
  return [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > w + 0.5 || e.scrollWidth > e.clientWidth + 1)
    .slice(0, 8)
    .map(e => `${e.tagName}.${e.className} ${e.scrollWidth}/${e.clientWidth}: `
              + (e.textContent || '').trim().slice(0, 40));
}"""


def _debug_wide(page: Any) -> list[str]:
    return page.evaluate(_WIDE)
