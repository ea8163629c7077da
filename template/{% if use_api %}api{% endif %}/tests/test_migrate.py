from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from app.db import Base
from app.migrate import alembic_config, main, upgrade


def test_one_head():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_upgrade_creates_the_items_table_and_is_idempotent(sqlite_url):
    assert main(["--url", sqlite_url]) == 0
    assert main(["--url", sqlite_url]) == 0
    engine = create_engine(sqlite_url)
    columns = {column["name"]: column for column in inspect(engine).get_columns("items")}
    assert set(columns) == {"id", "name", "created_at"}
    assert not columns["name"]["nullable"]
    engine.dispose()


def test_models_match_the_migrations(sqlite_url):
    """A model change without a migration fails here (autogenerate would find a difference)."""
    upgrade(sqlite_url)
    engine = create_engine(sqlite_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_downgrade_to_base_removes_the_table(sqlite_url):
    upgrade(sqlite_url)
    command.downgrade(alembic_config(sqlite_url), "base")
    engine = create_engine(sqlite_url)
    assert "items" not in inspect(engine).get_table_names()
    engine.dispose()


def test_without_a_database_migrate_exits_2(monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_HOST", raising=False)
    assert main([]) == 2
    assert "DATABASE_HOST" in capsys.readouterr().err
