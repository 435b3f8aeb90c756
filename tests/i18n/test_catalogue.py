"""Every interface string is in the French catalogue with a translation, and none is left unmarked."""

from __future__ import annotations

from pathlib import Path

from tests.i18n.catalogue import (
    ROOT,
    extracted,
    staff_templates,
    unmarked_template_text,
    untranslated,
)


def test_every_extracted_string_has_a_french_translation() -> None:
    found = extracted()
    assert len(found) > 400  # the extraction really ran over templates and Python
    assert untranslated(found) == []


def test_the_check_fails_on_a_string_missing_from_the_catalogue(tmp_path: Path) -> None:
    package = tmp_path / "surveys" / "staff" / "templates" / "staff"
    package.mkdir(parents=True)
    (package / "new.html").write_text('<p>{{ _("A brand-new sentence nobody translated") }}</p>\n')
    (tmp_path / "surveys" / "feature.py").write_text(
        'from flask_babel import lazy_gettext as _l\nLABEL = _l("Another untranslated label")\n'
        'OLD = _l("Log in")\n')
    found = extracted(tmp_path, ROOT / "babel.cfg")
    problems = untranslated(found)
    assert len(problems) == 2
    assert "A brand-new sentence nobody translated" in problems[0] + problems[1]
    assert "Another untranslated label" in problems[0] + problems[1]


def test_the_check_fails_on_an_empty_french_translation(tmp_path: Path) -> None:
    catalogue = tmp_path / "messages.po"
    catalogue.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                         'msgid "Log in"\nmsgstr ""\n', encoding="utf-8")
    assert untranslated({"Log in": "x.html:1"}, catalogue) == ["x.html:1: empty French translation: 'Log in'"]


def test_staff_templates_have_no_unmarked_text() -> None:
    templates = staff_templates()
    assert len(templates) > 20
    assert unmarked_template_text(templates) == []


def test_the_template_check_finds_unmarked_text(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text('<h1>{{ _("Patients") }}</h1>\n<p>Nothing to see here</p>\n'
                    '<img alt="A picture" src="x.png">\n<td>{{ count }} d</td>\n')
    problems = unmarked_template_text([page])
    assert len(problems) == 2
    assert "Nothing to see here" in problems[0]
    assert "A picture" in problems[1]


def test_the_check_fails_on_placeholders_that_do_not_match(tmp_path: Path) -> None:
    catalogue = tmp_path / "messages.po"
    catalogue.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                         '#, python-format\nmsgid "Patient %(code)s"\nmsgstr "Patient %(cod)s"\n',
                         encoding="utf-8")
    problems = untranslated({"Patient %(code)s": "x.html:1"}, catalogue)
    assert len(problems) == 1 and "Patient %(code)s" in problems[0]
