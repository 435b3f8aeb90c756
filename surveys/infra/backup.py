"""Backups of the embedded SQLite database (online, consistent) and their restore.

PostgreSQL is backed up with its own tools (`pg_dump` / `pg_restore`, see the README); these
commands say so instead of pretending.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import make_url

from surveys.infra.db import db
from surveys.infra.files import private_sqlite


class BackupError(RuntimeError):
    """A backup or restore that cannot be done, with the reason."""


def _sqlite_path(url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(
            f"{parsed.get_backend_name()} databases are backed up with their own tools: "
            "pg_dump --format=custom (restore with pg_restore); see the README."
        )
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return Path(parsed.database)


def backup_sqlite(url: str, target: Path) -> int:
    """Copy the live database to `target` with SQLite's online backup API; returns pages copied."""
    source_path = _sqlite_path(url)
    if not source_path.exists():
        raise BackupError(f"no database file at {source_path}")
    if target.exists():
        raise BackupError(f"{target} exists already; choose a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    private_sqlite(target)  # a copy of the health data: 0600 from its first byte
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
        pages = destination.execute("PRAGMA page_count").fetchone()[0]
        check = destination.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the copy failed its integrity check: {check}")
    finally:
        destination.close()
        source.close()
    return int(pages)


def restore_sqlite(url: str, source: Path) -> None:
    """Replace the database's content with a backup file (after checking the backup is sound)."""
    target_path = _sqlite_path(url)
    if not source.exists():
        raise BackupError(f"no backup file at {source}")
    backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        check = backup.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the backup failed its integrity check: {check}")
        tables = {r[0] for r in backup.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "alembic_version" not in tables:
            raise BackupError("that file is not a backup of this application's database")
        destination = sqlite3.connect(target_path)
        try:
            backup.backup(destination)
        finally:
            destination.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot read {source}: {exc}") from exc
    finally:
        backup.close()


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(path: Path) -> None:
    """Write a consistent copy of the SQLite database to PATH while the app runs."""
    try:
        pages = backup_sqlite(current_app.config["DATABASE_URL"], path)
    except (BackupError, sqlite3.Error) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Backup written to {path} ({pages} pages, integrity ok).")


@click.command("restore")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--yes", is_flag=True, help="Confirm replacing the current data.")
def restore_command(path: Path, yes: bool) -> None:
    """Replace the SQLite database's content with the backup at PATH (stop the app first)."""
    if not yes:
        raise click.ClickException("restoring replaces all current data; add --yes to confirm")
    db.session.remove()
    if db.engine is not None:
        db.engine.dispose()
    try:
        restore_sqlite(current_app.config["DATABASE_URL"], path)
    except (BackupError, sqlite3.Error) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Restored from {path}.")
