"""Prometheus and Grafana configuration, checked statically: the smoke suite's Grafana is a stand-in
that only answers /api/health, so the provisioning files are proven here. Every metric the
dashboard queries is one the api exports; every scrape target is a service with that port."""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

import pytest
import yaml

from dwsupport import matrix
from dwsupport.compose import compose_config
from dwsupport.render import Render, Renders


@pytest.fixture(scope="module", params=matrix.OBSERVABILITY, ids=str)
def render(request: pytest.FixtureRequest, renders: Renders) -> Render:
    return renders.of(request.param)


@pytest.fixture(scope="module")
def config(render: Render) -> dict[str, Any]:
    return compose_config(render.root)  # the layers .env lists


def exported_metrics(project: pathlib.Path) -> set[str]:
    source = (project / "api" / "app" / "metrics.py").read_text()
    return set(re.findall(r'(?:Counter|Histogram|Gauge|Summary)\(\s*"([a-z_:]+)"', source))


def test_prometheus_scrapes_existing_services(render, config):
    prom = yaml.safe_load((render.root / "prometheus" / "prometheus.yml").read_text())
    services = config["services"]
    jobs = {job["job_name"]: job for job in prom["scrape_configs"]}
    assert "api" in jobs
    assert ("traefik" in jobs) == ("proxy" in services)
    for job in jobs.values():
        for target in (t for sc in job["static_configs"] for t in sc["targets"]):
            host, port = target.rsplit(":", 1)
            if host == "localhost":
                continue
            assert host in services, f"{job['job_name']} scrapes unknown service {host}"
            expected = render.context["ports"]["proxy_metrics" if host == "proxy" else host]
            assert int(port) == expected, f"{target}: the service listens on {expected}"
            shared = set(services[host]["networks"]) & set(services["prometheus"]["networks"])
            assert shared, f"prometheus cannot reach {host}: no common network"
    api_env = services["api"]["environment"]
    assert api_env["METRICS_ENABLED"] == "true"


def test_grafana_provisioning_matches_the_mounts(render, config):
    grafana = config["services"]["grafana"]
    mounts = {v["target"]: v.get("source", "") for v in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"].endswith("grafana/provisioning")
    datasources = yaml.safe_load(
        (render.root / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert datasources["apiVersion"] == 1
    (source,) = datasources["datasources"]
    assert (
        source["type"] == "prometheus"
        and source["url"] == f"http://prometheus:{render.context['ports']['prometheus']}"
    )
    providers = yaml.safe_load((render.root / "grafana/provisioning/dashboards/dashboards.yml").read_text())
    path = providers["providers"][0]["options"]["path"]
    assert path in mounts and mounts[path].endswith("grafana/dashboards")
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"


def test_dashboard_queries_metrics_the_api_exports(render):
    dashboard = json.loads((render.root / "grafana/dashboards/api.json").read_text())
    datasource_uid = yaml.safe_load(
        (render.root / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]["uid"]
    exported = exported_metrics(render.root)
    assert {"http_requests_total", "http_request_duration_seconds"} <= exported
    titles = set()
    for panel in dashboard["panels"]:
        titles.add(panel["title"])
        assert panel["datasource"]["uid"] == datasource_uid
        for target in panel["targets"]:
            for name in re.findall(r"\b(http_[a-z_]+)", target["expr"]):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                assert base in exported, f"{panel['title']} queries {name}, which the api does not export"
    assert {"Request rate", "Latency", "Error rate (5xx share)"} <= titles


def test_traefik_dev_config_is_the_base_plus_the_dashboard(renders):
    # traefik.yml and traefik.dev.yml are whole static configs (Traefik takes one file, no merge):
    # keep them in step, the dev one adding only the dashboard API, its entry point and debug logs.
    traefik = renders.of(matrix.EVERYTHING).root / "traefik"
    base = yaml.safe_load((traefik / "traefik.yml").read_text())
    dev = yaml.safe_load((traefik / "traefik.dev.yml").read_text())
    assert dev.pop("api") == {"dashboard": True, "insecure": True}
    assert dev["entryPoints"].pop("traefik") == {"address": ":8088"}
    assert dev["log"].pop("level") == "DEBUG" and base["log"].pop("level") == "INFO"
    assert dev == base
