from __future__ import annotations

import json

from sqlalchemy import create_engine, inspect, text

from app.cache import Cache
from app.items import LIST_KEY, LIST_TTL_SECONDS


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
