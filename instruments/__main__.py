"""Command line: list, show, score and export instruments without Flask or a database.

    python -m instruments list [--json]
    python -m instruments show ID [--lang fr] [--version V]
    python -m instruments score ID [--version V] < answers.json
    python -m instruments alerts ID [--hours-since-session H] [--version V] < answers.json
    python -m instruments fhir ID [--lang fr] [--version V]

Every sub-command takes ``--extra-dir DIR`` (repeatable) to load private definitions, and those
about one instrument ``--version V`` to use a kept version instead of the current one (a response
is read with the version it was answered in). `list` shows every kept version.

``alerts`` reads answers as a JSON object on stdin (``{"item_id": code, ...}``) and prints
``{"level": N, "alerts": [{"rule": ID, "level": N}, ...]}``: level 0 and no alerts when nothing
fires. H is the time since the session in hours (a number >= 0; e.g. 71.5); without it, a rule
that needs it and has ``"if_unknown": "task"`` is listed as ``<rule>_unevaluated`` at level 1
(a task for staff), never dropped.

Invalid input (unknown instrument or version, JSON that is not an object, unknown item,
out-of-range code, a bad H) prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import NoReturn

from instruments.alerts import AlertContext, evaluate_alerts
from instruments.fhir import questionnaire
from instruments.library import Library
from instruments.loader import InstrumentError, load_library
from instruments.model import Instrument, thaw
from instruments.scoring import AnswerError, score

EXIT_INVALID = 2


class UsageError(Exception):
    """Bad input from the command line or stdin: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2 (like bad answers)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INVALID, f"error: {message}\n")


def _library(args: argparse.Namespace) -> Library:
    return load_library(args.extra_dir or ())


def _instrument(args: argparse.Namespace) -> Instrument:
    library = _library(args)
    if args.id not in library:
        raise UsageError(f"unknown instrument {args.id!r} (known: {', '.join(sorted(library))})")
    version = getattr(args, "version", None)
    if version is None:
        return library[args.id]
    try:
        return library.version(args.id, version)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None


def _answers() -> dict[str, object]:
    try:
        answers = json.loads(sys.stdin.read())
    except ValueError as exc:
        raise UsageError(f"answers are not valid JSON: {exc}") from None
    if not isinstance(answers, dict):
        raise UsageError("answers must be a JSON object of item id -> code")
    return answers


def _lang(instrument: Instrument, lang: str) -> str:
    if lang not in instrument.languages:
        raise UsageError(
            f"{instrument.id}: language {lang!r} not available ({', '.join(instrument.languages)})"
        )
    return lang


def _cmd_list(args: argparse.Namespace) -> None:
    library = _library(args)
    rows = [
        {
            "id": inst.id,
            "version": inst.version,
            "current": library[inst.id] is inst,
            "title": inst.title.get("en") or next(iter(inst.title.values())),
            "validated": inst.validated,
            "languages": {lang: inst.translation_status[lang] for lang in inst.languages},
        }
        for inst in library.all_versions()
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = [("ID", "VERSION", "VALIDATED", "LANGUAGES", "TITLE")] + [
        (
            row["id"],
            row["version"] + ("" if row["current"] else " (kept)"),
            "yes" if row["validated"] else "no",
            " ".join(f"{lang}({status})" for lang, status in row["languages"].items()),
            row["title"],
        )
        for row in rows
    ]
    widths = [max(len(line[col]) for line in table) for col in range(4)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*cells, line[4]]))


def _cmd_show(args: argparse.Namespace) -> None:
    inst = _instrument(args)
    lang = _lang(inst, args.lang)
    status = inst.translation_status[lang]
    print(f"{inst.id} {inst.version}: {inst.title[lang]}")
    print(f"validated: {'yes' if inst.validated else 'no'}; translation: {lang} ({status})")
    if inst.recall is not None:
        print(f"recall: {inst.recall[lang]}")
    print(inst.instructions[lang])
    for number, item in enumerate(inst.items_in_order(lang), start=1):
        condition = f"  [shown if {json.dumps(thaw(item.show_if))}]" if item.show_if else ""
        print(f"\n{number}. {item.id} ({item.type}){condition}\n   {item.texts[lang]}")
        for option in item.options:
            print(f"   {option.code:>3}  {option.labels[lang]}")


def _cmd_score(args: argparse.Namespace) -> None:
    inst = _instrument(args)
    print(json.dumps(score(inst, _answers()).to_dict(), ensure_ascii=False))


def _hours(text: str) -> float:
    try:
        hours = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"hours since the session must be a number, got {text!r}") from None
    if not math.isfinite(hours) or hours < 0:
        raise argparse.ArgumentTypeError(f"hours since the session must be 0 or more, got {text!r}")
    return hours


def _cmd_alerts(args: argparse.Namespace) -> None:
    inst = _instrument(args)
    answers = _answers()
    result = evaluate_alerts(inst, answers, AlertContext(hours_since_session=args.hours_since_session))
    print(json.dumps(result.contract(inst.alert_rules), ensure_ascii=False))


def _cmd_fhir(args: argparse.Namespace) -> None:
    inst = _instrument(args)
    print(json.dumps(questionnaire(inst, _lang(inst, args.lang)), ensure_ascii=False, indent=2))


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `python -m instruments`."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--extra-dir",
        action="append",
        metavar="DIR",
        help="also load every *.json definition in DIR (repeatable)",
    )
    parser = _Parser(prog="python -m instruments", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    listing = commands.add_parser("list", parents=[common], help="list the instruments and their versions")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=_cmd_list)
    for name, run, helptext in (
        ("show", _cmd_show, "print items, codes and labels in display order"),
        ("score", _cmd_score, "score answers read as a JSON object on stdin"),
        ("alerts", _cmd_alerts, "alert level of answers read as a JSON object on stdin"),
        ("fhir", _cmd_fhir, "print the FHIR R4 Questionnaire"),
    ):
        command = commands.add_parser(name, parents=[common], help=helptext)
        command.add_argument("id", help="instrument id, e.g. who5")
        command.add_argument("--version", help="a kept version, e.g. 1.0 (default: the current one)")
        if name in ("show", "fhir"):
            command.add_argument("--lang", default="en", help="language code (default: en)")
        if name == "alerts":
            command.add_argument("--hours-since-session", type=_hours, metavar="H",
                                 help="hours since the start of the session day (a number >= 0)")
        command.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (UsageError, InstrumentError, AnswerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return 0


if __name__ == "__main__":
    sys.exit(main())
