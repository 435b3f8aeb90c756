"""Alembic environment: the URL comes from the caller's config or DATABASE_URL, never from a file."""

from __future__ import annotations

import os
from typing import Any

from alembic import context

from surveys.domain import models  # noqa: F401  (registers every table on the metadata)
from surveys.infra.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("Set DATABASE_URL (or run through `flask --app app db upgrade`).")
    return url


def run_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: Any) -> None:
    # SQLite's batch migrations copy a table, drop the old one and rename the copy. With foreign keys
    # on, dropping a parent table first deletes its rows, and with them every child row ON DELETE
    # CASCADE (altering `patient` would empty `response`, `answer`...) or fails on RESTRICT. So the
    # checks are off while the chain runs (the pragma only works outside a transaction), then every
    # foreign key is verified before they are turned back on.
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True, compare_type=True
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            broken = connection.connection.driver_connection.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"foreign keys broken after the migration: {broken[:5]}")
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_offline()
else:
    run_online()
