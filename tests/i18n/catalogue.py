"""The catalogue check: extract every interface string the way `make messages` does, and list the
ones the French catalogue lacks or leaves untranslated; and find template text nobody marked.

Kept apart from the tests so the tests can prove it fails on a planted string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "surveys/infra/translations/fr/LC_MESSAGES/messages.po"
# The keywords of `make messages` (-k _l -k lazy_gettext -k lazy_ngettext:1,2) on top of Babel's own
# defaults (_, gettext, ngettext, ...).
from babel.messages.extract import DEFAULT_KEYWORDS  # noqa: E402

KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
#: The staff side's templates: every text node in them must go through Babel.
STAFF_TEMPLATE_DIRS = (
    "surveys/staff/templates", "surveys/infra/templates", "reports/dashboards/templates",
    "reports/exports/templates",
)


def extracted(root: Path = ROOT, cfg: Path | None = None) -> dict[str, str]:
    """msgid -> 'file:line' for every string babel.cfg's extractors find under `root`."""
    with (cfg or ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS,
    ):
        msgid = message[0] if isinstance(message, (tuple, list)) else message
        if msgid:
            found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def untranslated(found: dict[str, str], catalogue: Path = CATALOGUE) -> list[str]:
    """The extracted strings that are missing from the catalogue or have an empty French text, and
    entries whose placeholders do not match (what `pybabel compile` refuses)."""
    with catalogue.open("rb") as handle:
        cat = read_po(handle)
    problems = [f"{message.id!r}: {error}" for message, errors in cat.check() for error in errors]
    for msgid, where in sorted(found.items()):
        message = cat.get(msgid)
        strings = () if message is None else (
            (message.string,) if isinstance(message.string, str) else tuple(message.string))
        if message is None:
            problems.append(f"{where}: not in the French catalogue: {msgid!r}")
        elif not strings or not all(strings):
            problems.append(f"{where}: empty French translation: {msgid!r}")
    return problems


_JINJA = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.S)
_WORD = re.compile(r"[A-Za-z]{2,}")
#: Text that is not English interface wording: names, codes, formats.
ALLOWED_TEXT = {
    "English", "Français", "Authorization: Bearer …", "IQR", "UTC", "QR", "CSV", "JSON", "FHIR",
    "n", "d", "z", "dz", "S",
    "staff",  # a body class (layouts/staff.html), not text
    "patient.view",  # an audit action code, as typed in the filter
}


class _TextNodes(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[tuple[int, str]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code"):
            self._skip += 1
        for name, value in attrs:  # attributes people read
            if name in ("alt", "title", "placeholder", "aria-label") and value and _WORD.search(value):
                self.texts.append((self.getpos()[0], value))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append((self.getpos()[0], data.strip()))


def unmarked_template_text(paths: Iterable[Path]) -> list[str]:
    """Words in templates outside Jinja tags: interface text that never reaches the catalogue."""
    problems = []
    for path in paths:
        source = _JINJA.sub("\u2063", path.read_text(encoding="utf-8"))  # a separator no text holds
        parser = _TextNodes()
        parser.feed(source)
        for line, text in parser.texts:
            for piece in text.split("\u2063"):
                piece = piece.strip(" \n·:;,.()/–—-#|+%")
                if piece and piece not in ALLOWED_TEXT and _WORD.search(piece):
                    problems.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:"
                                    f"{line}: unmarked text {piece!r}")
    return problems


def staff_templates() -> list[Path]:
    """Every template of the staff side (staff, shared layouts, dashboards, exports)."""
    return sorted(p for d in STAFF_TEMPLATE_DIRS for p in (ROOT / d).rglob("*.html"))
