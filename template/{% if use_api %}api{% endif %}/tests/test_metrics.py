from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from app.settings import Settings


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_are_off_by_default(make_client):
    assert make_client().get("/metrics").status_code == 404


def test_request_count_and_latency_by_route_template(make_client):
    client = make_client(Settings.from_env({"METRICS_ENABLED": "true"}))
    client.get("/healthz")
    client.get("/healthz")
    client.get("/items")  # 503: no database
    client.get("/nowhere/42")

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)

    def count(method: str, route: str, status: str) -> float | None:
        labels = frozenset({"method": method, "route": route, "status": status}.items())
        return found.get(("http_requests_total", labels))

    assert count("GET", "/healthz", "200") == 2
    assert count("GET", "/items", "503") == 1
    assert count("GET", "<unmatched>", "404") == 1
    assert not any(
        "/nowhere" in str(labels) for _, labels in found
    )  # raw paths never become labels
    histogram = frozenset({"method": "GET", "route": "/healthz", "le": "+Inf"}.items())
    assert found[("http_request_duration_seconds_bucket", histogram)] == 2
    healthz = frozenset({"method": "GET", "route": "/healthz"}.items())
    assert found[("http_request_duration_seconds_count", healthz)] == 2


def test_each_app_has_its_own_registry(make_client):
    settings = Settings.from_env({"METRICS_ENABLED": "true"})
    first, second = make_client(settings), make_client(settings)
    first.get("/healthz")
    assert 'route="/healthz"' not in second.get("/metrics").text
