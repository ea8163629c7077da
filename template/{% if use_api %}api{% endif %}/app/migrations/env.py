"""Alembic environment: the URL comes from `python -m app.migrate` or, for `alembic` commands
run in api/, from the DATABASE_* variables (settings.py). Online mode only."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from app.db import Base
from app.settings import Settings

config = context.config
target_metadata = Base.metadata  # for `alembic revision --autogenerate` only


def database_url():
    url = config.attributes.get("url")
    if url is not None:
        return url
    database = Settings.from_env().database
    if database is None:
        raise SystemExit("alembic: no database configured: set DATABASE_HOST (and DATABASE_*)")
    return database.url()


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("alembic: offline (--sql) mode is not supported; run against a database")
run_migrations_online()
