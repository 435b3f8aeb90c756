"""One Alembic chain: a single head, upgrades from empty, agrees with the models, downgrades."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from surveys.infra import migrate
from surveys.infra.db import Base, make_engine


def test_the_chain_has_one_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_upgrade_from_empty_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_back_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chain.sqlite3'}"
    migrate.upgrade(url)
    command.downgrade(migrate.alembic_config(url), "base")
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(url)
    engine = make_engine(url)
    assert "response" in inspect(engine).get_table_names()
    engine.dispose()
