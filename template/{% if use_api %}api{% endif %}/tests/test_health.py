from __future__ import annotations

import sqlite3
import threading

from anyio import to_thread
from sqlalchemy import create_engine

from app.cache import Cache
from app.settings import Settings


def test_healthz(make_client):
    response = make_client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_without_database_and_cache(make_client):
    response = make_client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "disabled", "cache": "disabled"},
    }


def test_ready_when_database_and_cache_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok"}


def test_cache_outage_is_reported_as_degraded_but_stays_ready(client, fake_redis):
    """Reads fall back to the database, so the api stays in its load balancer (200)."""
    fake_redis.down = True
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["failing"] == ["cache"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"] == "failed: ConnectionError"
    fake_redis.down = False  # redis-py reconnects on the next call: ready again, same app
    assert client.get("/readyz").json() == {
        "status": "ready",
        "checks": {"database": "ok", "cache": "ok"},
    }


def test_not_ready_when_database_is_unreachable(make_client, tmp_path, fake_redis):
    broken = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'api.db'}")
    client = make_client(engine=broken, cache=Cache(fake_redis))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["failing"] == ["database"]
    assert response.json()["checks"]["cache"] == "ok"
    # liveness is not readiness: the process still serves, so nothing should restart it
    assert client.get("/healthz").status_code == 200


def test_not_ready_when_database_and_cache_are_down(make_client, tmp_path, fake_redis):
    broken = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'api.db'}")
    fake_redis.down = True
    response = make_client(engine=broken, cache=Cache(fake_redis)).get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["database", "cache"]


def test_liveness_answers_while_every_worker_thread_waits_on_the_database(make_client):
    """A database that hangs ties up the worker threads of the item routes; /healthz runs on
    the event loop and still answers, so the healthcheck never restarts the api for it."""
    entered, release = threading.Event(), threading.Event()

    def hanging_connect():
        entered.set()
        release.wait(30)
        raise sqlite3.OperationalError("gave up")

    client = make_client(engine=create_engine("sqlite://", creator=hanging_connect))
    limiter = client.portal.call(to_thread.current_default_thread_limiter)
    client.portal.call(setattr, limiter, "total_tokens", 1)  # one worker thread in all
    stuck = threading.Thread(target=client.get, args=("/items",))
    stuck.start()
    try:
        # the item request now holds the only worker thread, waiting on the database
        assert entered.wait(10), "the item request never reached the database"
        assert limiter.borrowed_tokens == 1
        answers: list[int] = []
        probe = threading.Thread(target=lambda: answers.append(client.get("/healthz").status_code))
        probe.start()
        probe.join(timeout=5)
        assert answers == [200], "/healthz waited for a worker thread"
    finally:
        release.set()
        stuck.join(timeout=10)
        client.portal.call(setattr, limiter, "total_tokens", 40)


def test_shutdown_closes_the_cache_client(make_client, fake_redis):
    client = make_client(cache=Cache(fake_redis))
    client.__exit__(None, None, None)
    assert fake_redis.closed


def test_cors_allows_only_the_configured_origins(make_client):
    client = make_client(Settings.from_env({"CORS_ORIGINS": "http://localhost:5173"}))
    allowed = client.get("/healthz", headers={"Origin": "http://localhost:5173"})
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    other = client.get("/healthz", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_no_cors_headers_without_cors_origins(make_client):
    response = make_client().get("/healthz", headers={"Origin": "http://localhost:5173"})
    assert "access-control-allow-origin" not in response.headers


def test_api_docs_only_in_development(make_client):
    assert make_client().get("/docs").status_code == 404
    assert make_client().get("/openapi.json").status_code == 404
    dev = make_client(Settings.from_env({"APP_ENV": "development"}))
    assert dev.get("/docs").status_code == 200
    assert "/items" in dev.get("/openapi.json").json()["paths"]
