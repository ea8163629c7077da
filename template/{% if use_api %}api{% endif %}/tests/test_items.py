from __future__ import annotations

import json
import logging
import socket
import time

import pytest
from sqlalchemy import create_engine, exc, inspect, text

from app import db
from app.cache import Cache
from app.cache import make_client as redis_client
from app.items import LIST_KEY, LIST_TTL_SECONDS
from app.migrate import upgrade
from app.settings import CacheSettings


def test_create_then_list_newest_first(client):
    first = client.post("/items", json={"name": "first"})
    assert first.status_code == 201
    body = first.json()
    assert set(body) == {"id", "name", "created_at"}
    assert body["name"] == "first"
    assert body["created_at"]
    second = client.post("/items", json={"name": "  second  "})
    assert second.status_code == 201
    assert second.json()["name"] == "second"  # surrounding whitespace is trimmed

    listing = client.get("/items")
    assert listing.status_code == 200
    assert [item["name"] for item in listing.json()] == ["second", "first"]
    assert listing.json()[1] == body


def test_items_persist_in_the_database(client, engine):
    client.post("/items", json={"name": "kept"})
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM items")).scalars().all() == ["kept"]


def test_invalid_items_are_rejected(client):
    for payload in (
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": "a", "extra": 1},
    ):
        assert client.post("/items", json=payload).status_code == 422, payload
    assert client.get("/items").json() == []


def test_without_database_items_answer_503_with_a_reason(make_client):
    client = make_client()
    for response in (client.get("/items"), client.post("/items", json={"name": "x"})):
        assert response.status_code == 503
        assert "DATABASE_HOST" in response.json()["detail"]


def test_list_is_served_from_the_cache_until_an_item_is_created(client, engine, fake_redis):
    client.post("/items", json={"name": "one"})
    assert client.get("/items").status_code == 200
    key = "api:" + LIST_KEY
    assert [item["name"] for item in json.loads(fake_redis.store[key])] == ["one"]
    assert fake_redis.ttls[key] == LIST_TTL_SECONDS

    # a row written behind the api's back is not seen while the cached list is fresh...
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO items (name) VALUES ('sneaky')"))
    assert [item["name"] for item in client.get("/items").json()] == ["one"]

    # ...and creating through the api invalidates the cached list
    client.post("/items", json={"name": "two"})
    assert key not in fake_redis.store
    assert [item["name"] for item in client.get("/items").json()] == ["two", "sneaky", "one"]


def test_items_work_while_the_cache_is_down(client, fake_redis):
    fake_redis.down = True
    assert client.post("/items", json={"name": "still works"}).status_code == 201
    assert [item["name"] for item in client.get("/items").json()] == ["still works"]


def test_an_unreachable_redis_costs_a_request_little(make_client, engine):
    """The real client: one immediate retry, no backoff (redis-py's default backs off for
    seconds), so a list is served from the database at once and /readyz answers in time."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connections are refused
    cache = Cache(redis_client(CacheSettings(host="127.0.0.1", port=port, password=None)))
    client = make_client(engine=engine, cache=cache)
    started = time.monotonic()
    assert client.post("/items", json={"name": "a"}).status_code == 201
    assert [item["name"] for item in client.get("/items").json()] == ["a"]
    assert client.get("/readyz").json()["status"] == "degraded"
    assert time.monotonic() - started < 5  # redis-py's default backoff: ~7 s per call


def test_corrupt_cache_entry_falls_back_to_the_database(client, fake_redis):
    client.post("/items", json={"name": "real"})
    fake_redis.store["api:" + LIST_KEY] = "not json"
    assert [item["name"] for item in client.get("/items").json()] == ["real"]


def test_without_cache_every_list_reads_the_database(make_client, engine):
    client = make_client(engine=engine)
    client.post("/items", json={"name": "a"})
    assert [item["name"] for item in client.get("/items").json()] == ["a"]


def test_the_app_never_creates_the_schema(make_client, tmp_path, fake_redis):
    """Only the migration creates tables: an unmigrated database stays empty."""
    empty = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    client = make_client(engine=empty, cache=Cache(fake_redis))
    assert client.post("/items", json={"name": "x"}).status_code == 500
    assert inspect(empty).get_table_names() == []


def test_items_answer_503_while_the_database_is_unreachable(make_client, tmp_path, caplog):
    """A JSON reason and Retry-After, never a 500 with a stack trace; one warning per request."""
    unreachable = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'api.db'}")
    client = make_client(engine=unreachable)
    with caplog.at_level(logging.WARNING, logger="app"):
        responses = [client.get("/items"), client.post("/items", json={"name": "x"})]
    for response in responses:
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        assert response.headers["retry-after"] == "5"
        assert response.json() == {"detail": "The database is unavailable; try again shortly."}
    warnings = [r for r in caplog.records if r.getMessage() == "database unavailable"]
    assert [(r.method, r.path) for r in warnings] == [("GET", "/items"), ("POST", "/items")]
    assert warnings[0].error.startswith("OperationalError: unable to open database file")


def test_the_same_app_recovers_when_the_database_comes_back(make_client, tmp_path, fake_redis):
    """No restart needed: the pool opens a new connection on the next request."""
    folder = tmp_path / "later"
    url = f"sqlite:///{folder / 'api.db'}"
    client = make_client(engine=create_engine(url), cache=Cache(fake_redis))
    assert client.post("/items", json={"name": "lost"}).status_code == 503
    assert client.get("/readyz").status_code == 503
    folder.mkdir()  # the database "starts"
    upgrade(url)
    assert client.get("/readyz").status_code == 200
    assert client.post("/items", json={"name": "kept"}).status_code == 201
    assert [item["name"] for item in client.get("/items").json()] == ["kept"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # connect failed: SQLAlchemy raises it with no statement
        (exc.OperationalError(None, None, Exception("connection refused")), True),
        # the connection broke during a query: SQLAlchemy invalidated it
        (exc.OperationalError("SELECT 1", {}, OSError(), connection_invalidated=True), True),
        (exc.InterfaceError("SELECT 1", {}, OSError(), connection_invalidated=True), True),
        (exc.TimeoutError("QueuePool limit reached"), True),
        # the database answered and refused the statement: a bug, not an outage
        (exc.ProgrammingError("SELECT * FROM nope", {}, Exception("no such table")), False),
        (exc.IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (exc.OperationalError("SELECT * FROM nope", {}, Exception("no such table: nope")), False),
        (exc.NoResultFound(), False),
    ],
)
def test_which_database_errors_mean_unavailable(error, expected):
    assert db.unavailable(error) is expected
