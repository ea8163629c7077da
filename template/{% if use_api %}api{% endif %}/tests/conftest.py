"""Fixtures: a migrated SQLite database and an in-memory Redis stand-in (no services needed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from app.cache import Cache
from app.main import create_app
from app.migrate import upgrade
from app.settings import Settings


class FakeRedis:
    """The part of redis.Redis that app.cache uses; `down = True` makes every call fail."""

    def __init__(self) -> None:
        self.store: dict[str, str] = {}
        self.ttls: dict[str, int | None] = {}
        self.down = False
        self.closed = False

    def _check(self) -> None:
        if self.down:
            raise redis.ConnectionError("fake redis is down")

    def get(self, name: str) -> str | None:
        self._check()
        return self.store.get(name)

    def set(self, name: str, value: str, ex: int | None = None) -> bool:
        self._check()
        self.store[name] = value
        self.ttls[name] = ex
        return True

    def delete(self, *names: str) -> int:
        self._check()
        return sum(self.store.pop(name, None) is not None for name in names)

    def ping(self) -> bool:
        self._check()
        return True

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'api.db'}"


@pytest.fixture
def engine(sqlite_url) -> Iterator[Engine]:
    """A database migrated by the real Alembic migrations (never create_all)."""
    upgrade(sqlite_url)
    engine = create_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def fake_redis() -> FakeRedis:
    return FakeRedis()


@pytest.fixture
def make_client():
    """Build an app and enter its lifespan; `settings` defaults to an empty environment."""
    clients: list[TestClient] = []

    def make(settings: Settings | None = None, **kwargs) -> TestClient:
        app = create_app(settings or Settings.from_env({}), **kwargs)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client, engine, fake_redis) -> TestClient:
    """The app with a database and a cache."""
    return make_client(engine=engine, cache=Cache(fake_redis))
