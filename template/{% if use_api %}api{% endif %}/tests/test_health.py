from __future__ import annotations

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


def test_not_ready_when_cache_is_down(client, fake_redis):
    fake_redis.down = True
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["cache"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"].startswith("failed")
    # liveness is not readiness: the process still serves
    assert client.get("/healthz").status_code == 200


def test_not_ready_when_database_is_unreachable(make_client, tmp_path, fake_redis):
    broken = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'api.db'}")
    response = make_client(engine=broken, cache=Cache(fake_redis)).get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]
    assert response.json()["checks"]["cache"] == "ok"


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
