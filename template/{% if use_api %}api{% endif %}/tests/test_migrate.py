from __future__ import annotations

import json
import logging
import logging.config
import shutil
import textwrap

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from app import migrate
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


BROKEN = textwrap.dedent('''\
    """A migration that fails in the database."""
    from alembic import op

    revision = "0002"
    down_revision = "0001"
    branch_labels = None
    depends_on = None


    def upgrade() -> None:
        op.execute("SELECT no_such_function()")


    def downgrade() -> None:
        pass
    ''')


def test_a_failing_migration_exits_1_and_logs_why(sqlite_url, tmp_path, monkeypatch, capsys):
    """compose (service_completed_successfully) and Kubernetes (initContainer) only start the
    api after a 0 exit: a failure must be a non-zero exit, explained in the log."""
    migrations = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, migrations)
    (migrations / "versions" / "0002_broken.py").write_text(BROKEN)
    monkeypatch.setattr(migrate, "MIGRATIONS", migrations)
    try:
        assert main(["--url", sqlite_url]) == 1
    finally:  # main() configured logging for the process (a handler on capsys' stdout)
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    failed = [line for line in lines if line["message"] == "migration failed"]
    assert [line["level"] for line in failed] == ["error"]
    assert "no such function: no_such_function" in failed[0]["exception"]
    # 0001 applied, 0002 not recorded: the next deploy retries it
    engine = create_engine(sqlite_url)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == "0001"
    engine.dispose()
