"""A coordinator with a French browser walks the main staff pages and reads no English interface text.

Every text node the browser renders (and the alt, title, placeholder and aria-label attributes) is
compared against the English msgids of the catalogue whose French differs: a node that is such a
msgid, or a msgid with its placeholders filled in, is English that slipped through. Instrument
wording comes from the definitions, not the catalogue, so it is never mistaken for interface text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

from tests.browser.test_staff_flows import staff_study  # noqa: F401  (a fixture)
from tests.conftest import TEST_PASSWORD

CATALOGUE = Path(__file__).resolve().parents[2] / "surveys/infra/translations/fr/LC_MESSAGES/messages.po"
_PLACEHOLDER = re.compile(r"%\((\w+)\)[+]?[sd]")
VISIBLE_TEXT = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest('script, style, template, code')) continue;
    const text = node.textContent.trim();
    if (text) out.push(text);
  }
  for (const el of document.querySelectorAll('[alt], [title], [placeholder], [aria-label]')) {
    for (const name of ['alt', 'title', 'placeholder', 'aria-label']) {
      const value = el.getAttribute(name);
      if (value && value.trim()) out.push(value.trim());
    }
  }
  out.push(document.title.trim());
  return out;
}"""


def english_messages() -> tuple[set[str], list[re.Pattern[str]]]:
    """The catalogue's English msgids whose French differs: plain ones, and patterns for the others."""
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    plain: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for message in catalogue:
        ids = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
        strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        for msgid in ids:
            if not msgid or msgid in strings:
                continue
            english = msgid.replace("%%", "%")
            if _PLACEHOLDER.search(english):
                parts = _PLACEHOLDER.split(english)
                regex = "".join(re.escape(p) if i % 2 == 0 else ".+?" for i, p in enumerate(parts))
                patterns.append(re.compile(rf"^{regex}$", re.S))
            else:
                plain.add(english.strip())
    return plain, patterns


def english_on(page: Any, plain: set[str], patterns: list[re.Pattern[str]]) -> list[str]:
    texts = page.evaluate(VISIBLE_TEXT)
    return sorted({t for t in texts if t in plain or t.rstrip(":").strip() in plain
                   or any(p.match(t) for p in patterns)})


def test_a_french_coordinator_reads_no_english_on_the_main_pages(browser, live_server, staff_study) -> None:  # noqa: F811
    plain, patterns = english_messages()
    assert "Log in" in plain and len(plain) > 300
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    base, code = live_server.url, staff_study["code"]
    try:
        page.goto(f"{base}/login")
        assert page.locator("html").get_attribute("lang") == "fr"
        found = {"login": english_on(page, plain, patterns)}
        page.get_by_label("E-mail").fill(staff_study["coordinator"])
        page.get_by_label("Mot de passe").fill(TEST_PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Se connecter").click()
        pages = {
            "home": "/",
            "patients": f"/studies/{code}/patients",
            "patient page": f"/studies/{code}/patients/FEVERISH",
            "patient management and session form": f"/studies/{code}/patients/FEVERISH/manage",
            "enrollment": f"/studies/{code}/enroll",
            "worklist": f"/studies/{code}/worklist",
            "alerts": f"/studies/{code}/alerts?show=all",
            "dashboard": f"/studies/{code}/dashboard",
            "exports": f"/studies/{code}/exports",
            "audit": f"/studies/{code}/audit",
            "timeline": f"/studies/{code}/timeline",
            "protocol": f"/studies/{code}/protocol",
        }
        for name, path in pages.items():
            response = page.goto(base + path)
            assert response is not None and response.status == 200, (name, path)
            page.wait_for_load_state("load")
            assert page.locator("html").get_attribute("lang") == "fr", name
            found[name] = english_on(page, plain, patterns)
        # a form sent with mistakes: its messages are French too
        page.goto(f"{base}/studies/{code}/enroll")
        page.get_by_role("button", name="Inclure").click()
        page.wait_for_load_state("load")
        found["enrollment with errors"] = english_on(page, plain, patterns)
    finally:
        context.close()
    assert {name: texts for name, texts in found.items() if texts} == {}
