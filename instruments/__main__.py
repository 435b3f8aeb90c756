"""Command line: list, show, score and export instruments without Flask or a database.

    python -m instruments list [--json]
    python -m instruments show ID [--lang fr]
    python -m instruments score ID < answers.json
    python -m instruments fhir ID [--lang fr]

Every sub-command takes ``--extra-dir DIR`` (repeatable) to load private definitions.
Invalid input prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from instruments.fhir import questionnaire
from instruments.loader import InstrumentError, load_library
from instruments.model import Instrument, thaw
from instruments.scoring import AnswerError, score

EXIT_INVALID = 2


class UsageError(Exception):
    """Bad input from the command line or stdin: reported in one line, exit status 2."""


def _library(args: argparse.Namespace) -> dict[str, Instrument]:
    return load_library(args.extra_dir or ())


def _instrument(args: argparse.Namespace) -> Instrument:
    library = _library(args)
    if args.id not in library:
        raise UsageError(f"unknown instrument {args.id!r} (known: {', '.join(sorted(library))})")
    return library[args.id]


def _lang(instrument: Instrument, lang: str) -> str:
    if lang not in instrument.languages:
        raise UsageError(
            f"{instrument.id}: language {lang!r} not available ({', '.join(instrument.languages)})"
        )
    return lang


def _cmd_list(args: argparse.Namespace) -> None:
    rows = [
        {
            "id": inst.id,
            "version": inst.version,
            "title": inst.title.get("en") or next(iter(inst.title.values())),
            "validated": inst.validated,
            "languages": {lang: inst.translation_status[lang] for lang in inst.languages},
        }
        for inst in _library(args).values()
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = [("ID", "VERSION", "VALIDATED", "LANGUAGES", "TITLE")] + [
        (
            row["id"],
            row["version"],
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
    try:
        answers = json.loads(sys.stdin.read())
    except ValueError as exc:
        raise UsageError(f"answers are not valid JSON: {exc}") from None
    if not isinstance(answers, dict):
        raise UsageError("answers must be a JSON object of item id -> code")
    print(json.dumps(score(inst, answers).to_dict(), ensure_ascii=False))


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
    parser = argparse.ArgumentParser(prog="python -m instruments", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", parents=[common], help="list the instruments")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=_cmd_list)
    for name, run, helptext in (
        ("show", _cmd_show, "print items, codes and labels in display order"),
        ("score", _cmd_score, "score answers read as a JSON object on stdin"),
        ("fhir", _cmd_fhir, "print the FHIR R4 Questionnaire"),
    ):
        command = commands.add_parser(name, parents=[common], help=helptext)
        command.add_argument("id", help="instrument id, e.g. who5")
        if name != "score":
            command.add_argument("--lang", default="en", help="language code (default: en)")
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
