"""What an export asks for (format, filters, de-identification), parsed and checked in one place."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from typing import Protocol as TypingProtocol

from flask_babel import gettext as _

from instruments import Instrument
from surveys.domain.models import Study
from surveys.domain.protocol_history import protocol_versions_of
from surveys.infra.i18n import LANGUAGES

TABLES = ("patients", "long", "wide", "scores", "answer_history", "sessions", "prior_treatments", "alerts",
          "clinician_stages")
FORMATS = (*TABLES, "codebook", "datapackage", "fhir", "fhir-ndjson", "sav", "dta", "xlsx")
NATIVE_FORMATS = ("sav", "dta", "xlsx")  # one table (`table=`, wide by default) in a native file
# Spreadsheet locales of the Excel CSV: a decimal comma (fr, de) goes with ';' between cells.
EXCEL_LOCALES = ("en", "fr", "de")
VALUE_MODES = ("codes", "labels")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_SESSION = re.compile(r"^S([1-9][0-9]?|100)$")


class OptionError(ValueError):
    """An export request that cannot be served, with a message for the person who asked."""


class ArgSource(TypingProtocol):
    """A mapping of request arguments with repeated keys (Werkzeug's MultiDict)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getlist(self, key: str) -> list[str]: ...


@dataclass(frozen=True)
class ExportOptions:
    """One export request, already checked against the study."""

    format: str
    values: str = "codes"  # "labels": wide item columns carry option labels instead of codes
    lang: str = "en"  # language of labels
    timepoints: tuple[str, ...] = ()  # empty: all; "S" stands for every session window
    instruments: tuple[str, ...] = ()  # empty: all the study's instruments
    date_from: date | None = None
    date_to: date | None = None
    deidentified: bool = False
    excel: bool = False  # a CSV for spreadsheet programs: BOM, formula starts defused, locale's separators
    excel_locale: str = ""  # en, fr or de when `excel`: decimal point or comma, ',' or ';' between cells
    as_json: bool = False  # codebook only: JSON instead of CSV
    stable_ids: bool = False  # de-identified: keyed pseudonyms, the same in every export of the study
    table: str = "wide"  # sav, dta, xlsx: which table

    def audit_details(self) -> dict[str, Any]:
        """The options as plain data, for the audit trail."""
        return {
            "format": self.format, "values": self.values, "lang": self.lang,
            "timepoints": list(self.timepoints), "instruments": list(self.instruments),
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "deidentified": self.deidentified, "excel": self.excel,
            **({"excel_locale": self.excel_locale} if self.excel else {}),
            **({"json": True} if self.as_json else {}),
            **({"stable_ids": True} if self.stable_ids else {}),
            **({"table": self.table} if self.format in NATIVE_FORMATS else {}),
        }

    def query_args(self) -> dict[str, Any]:
        """The options as URL query arguments (what `parse_options` reads back)."""
        args: dict[str, Any] = {"values": self.values, "lang": self.lang}
        if self.timepoints:
            args["timepoint"] = list(self.timepoints)
        if self.instruments:
            args["instrument"] = list(self.instruments)
        if self.date_from:
            args["from"] = self.date_from.isoformat()
        if self.date_to:
            args["to"] = self.date_to.isoformat()
        if self.deidentified:
            args["deidentified"] = "1"
        if self.excel:
            args["excel"] = self.excel_locale or "1"
        if self.as_json:
            args["json"] = "1"
        if self.stable_ids:
            args["stable_ids"] = "1"
        if self.format in NATIVE_FORMATS:
            args["table"] = self.table
        return args


def study_instruments(study: Study, library: Mapping[str, Instrument]) -> list[Instrument]:
    """The instruments any version of the study's protocol asks (the current one's first, in protocol
    order; then those an amendment removed, whose answers stay exportable) that the library knows."""
    return [library[name] for name in protocol_versions_of(study).instrument_ids() if name in library]


def study_timepoints(study: Study) -> list[str]:
    """The timepoint ids of every version of the protocol, in a merged protocol order (`S` stands for the
    per-session windows S1, S2, ...): a timepoint an amendment removed still filters its answers."""
    return [tp.id for tp in protocol_versions_of(study).timepoints()]


def _flag(args: ArgSource, name: str) -> bool:
    raw = str(args.get(name, "") or "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise OptionError(f"'{name}' must be 1 or 0, not '{raw[:20]}'.")


def _day(args: ArgSource, name: str) -> date | None:
    raw = str(args.get(name, "") or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise OptionError(f"'{name}' must be a date written YYYY-MM-DD, not '{raw[:20]}'.") from None


def _many(args: ArgSource, name: str) -> list[str]:
    values: list[str] = []
    for raw in args.getlist(name):
        values += [part.strip() for part in str(raw).split(",") if part.strip()]
    return list(dict.fromkeys(values))


def parse_options(
    fmt: str, args: ArgSource, study: Study, library: Mapping[str, Instrument]
) -> ExportOptions:
    """Check an export request against the study; raises OptionError with a readable reason."""
    if fmt not in FORMATS:
        raise OptionError(_("Unknown export format '%(format)s'; use one of %(formats)s.",
                            format=fmt[:30], formats=", ".join(FORMATS)))
    values = str(args.get("values", "codes") or "codes")
    if values not in VALUE_MODES:
        raise OptionError(_("'values' must be 'codes' or 'labels'."))
    lang = str(args.get("lang", "en") or "en")
    if lang not in LANGUAGES:
        raise OptionError(_("'lang' must be one of %(languages)s.", languages=", ".join(LANGUAGES)))
    known_timepoints = study_timepoints(study)
    timepoints = _many(args, "timepoint")
    for tp in timepoints:
        if tp not in known_timepoints and not (_SESSION.match(tp) and "S" in known_timepoints):
            raise OptionError(
                _("Unknown timepoint '%(timepoint)s'; this study has %(known)s "
                  "(S1, S2, ... for single sessions).",
                  timepoint=tp[:20], known=", ".join(known_timepoints))
            )
    known_instruments = [i.id for i in study_instruments(study, library)]
    chosen = _many(args, "instrument")
    for name in chosen:
        if name not in known_instruments:
            raise OptionError(
                _("Unknown instrument '%(instrument)s'; this study uses %(known)s.",
                  instrument=name[:30], known=", ".join(known_instruments))
            )
    excel_raw = str(args.get("excel", "") or "").strip().lower()
    if excel_raw in EXCEL_LOCALES:
        excel, excel_locale = True, excel_raw
    else:
        try:
            excel = _flag(args, "excel")
        except OptionError:
            raise OptionError(f"'excel' must be 1, 0 or a spreadsheet locale ({', '.join(EXCEL_LOCALES)}), "
                              f"not '{excel_raw[:20]}'.") from None
        excel_locale = (lang if lang in EXCEL_LOCALES else "en") if excel else ""
    table = str(args.get("table", "wide") or "wide")
    if table not in TABLES:
        raise OptionError(f"'table' must be one of {', '.join(TABLES)}.")
    deidentified, stable_ids = _flag(args, "deidentified"), _flag(args, "stable_ids")
    if stable_ids and not deidentified:
        raise OptionError("'stable_ids' applies to de-identified exports only (identified ones carry "
                          "the patient codes).")
    asked = table if fmt in NATIVE_FORMATS else fmt
    if asked == "prior_treatments" and deidentified:
        raise OptionError("Prior treatments are free text typed by staff: de-identified exports leave "
                          "them out.")
    date_from, date_to = _day(args, "from"), _day(args, "to")
    if date_from and date_to and date_from > date_to:
        raise OptionError(_("The start date must not be after the end date."))
    return ExportOptions(
        format=fmt, values=values, lang=lang, timepoints=tuple(timepoints),
        instruments=tuple(chosen), date_from=date_from, date_to=date_to,
        deidentified=deidentified, excel=excel, excel_locale=excel_locale,
        as_json=_flag(args, "json"), stable_ids=stable_ids, table=table,
    )


def session_timepoints(timepoints: Sequence[str]) -> list[str]:
    """Expand `S` in a timepoint filter to the session windows S1..S100."""
    expanded: list[str] = []
    for tp in timepoints:
        expanded += [f"S{n}" for n in range(1, 101)] if tp == "S" else [tp]
    return expanded
