"""PostgreSQL through SQLAlchemy 2 and psycopg 3.

The schema comes ONLY from the Alembic migrations (`python -m app.migrate`); the app never calls
`create_all`. The models below describe tables that a migration created.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Engine, Integer, String, create_engine, exc, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.settings import DatabaseSettings

# BIGINT identity on PostgreSQL; SQLite (the tests) only auto-increments an INTEGER primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )


def make_engine(database: DatabaseSettings) -> Engine:
    """A small pool that checks connections before use: after the database restarts, the first
    checkout of each stale connection pings, fails, and reconnects, so no request sees it. A
    database that does not answer costs a request at most `connect_timeout` seconds."""
    return create_engine(
        database.url(),
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5, "application_name": "api"},
    )


def unavailable(error: Exception) -> bool:
    """True when `error` means "the database cannot serve now; retry later" rather than a bug:
    a connection that could not be opened (refused, unknown host, timeout, server starting or
    shutting down: SQLAlchemy raises these with no statement), one that broke during a query
    (SQLAlchemy marks it invalidated and drops it from the pool), or no free connection in the
    pool in time. A query the database rejects (a missing table, a constraint) is not one."""
    if isinstance(error, exc.TimeoutError):  # pool checkout timed out
        return True
    return isinstance(error, exc.DBAPIError) and (
        error.connection_invalidated or error.statement is None
    )


def ping(engine: Engine) -> None:
    """Raise when the database does not answer."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
