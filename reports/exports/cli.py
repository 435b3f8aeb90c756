"""Command-line entry points of the read side (`flask --app app export ...`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from reports.exports.options import EXCEL_LOCALES, FORMATS, TABLES, OptionError, parse_options
from reports.exports.runs import open_export
from surveys.domain.accounts import EXPORT
from surveys.domain.models import Study
from surveys.domain.operators import as_option, cli_operator
from surveys.infra.db import db
from surveys.infra.files import open_private


@click.command("export")
@click.argument("study_code")
@click.option("--format", "fmt", required=True, type=click.Choice(FORMATS), help="What to export.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="File to write ('-' for standard output). A codebook written to *.json is JSON.")
@click.option("--labels", is_flag=True, help="wide: option labels instead of codes.")
@click.option("--lang", default="en", show_default=True, type=click.Choice(["en", "fr"]),
              help="Language of labels.")
@click.option("--timepoint", "timepoints", multiple=True,
              help="Only this timepoint (repeatable; S = all sessions).")
@click.option("--instrument", "instruments", multiple=True, help="Only this instrument (repeatable).")
@click.option("--from", "date_from", help="Submitted on or after this local day of the study (YYYY-MM-DD).")
@click.option("--to", "date_to", help="Submitted on or before this local day of the study (YYYY-MM-DD).")
@click.option("--deidentified", is_flag=True,
              help="Random ids, days instead of dates, age bands, no free text.")
@click.option("--excel", is_flag=True,
              help="A CSV for spreadsheet programs: BOM, formulas defused, the locale's separators.")
@click.option("--excel-locale", type=click.Choice(EXCEL_LOCALES),
              help="Spreadsheet locale of --excel (fr, de: decimal comma and ';'); default: --lang.")
@click.option("--stable-ids", is_flag=True,
              help="De-identified: pseudonyms kept across exports (needs EXPORT_PSEUDONYM_KEY).")
@click.option("--table", default="wide", show_default=True, type=click.Choice(TABLES),
              help="sav, dta, xlsx: the table to write.")
@as_option
def export_command(study_code: str, fmt: str, out: str, labels: bool, lang: str, timepoints: tuple[str, ...],
                   instruments: tuple[str, ...], date_from: str | None, date_to: str | None,
                   deidentified: bool, excel: bool, excel_locale: str | None, stable_ids: bool,
                   table: str, as_email: str | None) -> None:
    """Export a study's data, streamed to a file, and record the export in the audit trail."""
    from surveys.infra.library import instruments as library

    # The roles of the export page: clinicians export de-identified data only.
    who = cli_operator(as_email, roles=("coordinator", "clinician") if deidentified else EXPORT)
    study = db.session.scalar(select(Study).where(Study.code == study_code))
    if study is None:
        raise click.ClickException(f"No study with code {study_code}.")
    args = MultiDict([("values", "labels" if labels else "codes"), ("lang", lang),
                      ("from", date_from or ""), ("to", date_to or ""),
                      ("deidentified", "1" if deidentified else "0"),
                      ("excel", (excel_locale or "1") if excel else "0"),
                      ("stable_ids", "1" if stable_ids else "0"), ("table", table),
                      ("json", "1" if fmt == "codebook" and out.endswith(".json") else "0")])
    for tp in timepoints:
        args.add("timepoint", tp)
    for name in instruments:
        args.add("instrument", name)
    try:
        options = parse_options(fmt, args, study, library())
        download = open_export(db.session, study, options, library(), actor=who, via="cli")
    except OptionError as exc:
        raise click.ClickException(str(exc)) from exc
    if out == "-":
        for chunk in download.chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    path = Path(out)
    partial = path.with_name(path.name + ".partial")
    with open_private(partial) as handle:  # 0600; a failed export never leaves a file that looks complete
        for chunk in download.chunks:
            handle.write(chunk)
    partial.replace(path)
    click.echo(f"Wrote {path} ({path.stat().st_size:,} bytes).", err=True)


def register(app: Flask) -> None:
    """Attach the commands to the app's CLI (and `patients access` to the collection side's group)."""
    from reports.exports.access import register_cli
    from surveys.cli import patients_cli

    app.cli.add_command(export_command)
    register_cli(patients_cli)
