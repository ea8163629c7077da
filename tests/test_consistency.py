"""Promise: compose (production layer), Kubernetes and Cloud Run describe the same application:
the same image repositories, container ports, health paths, UIDs, settings and secret paths; the
Gateways route the hosts Traefik routes, to the same ports, with the same health path, CORS
origins and request timeouts."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

from dwsupport import matrix
from dwsupport.compose import compose_prod
from dwsupport.k8s import (
    Manifest,
    by_kind,
    cloudrun_containers,
    cloudrun_manifests,
    containers,
    image_repo,
    kustomize,
    pod_specs,
)


def traefik_hosts(project: pathlib.Path) -> dict[str, str]:
    """host → service of the proxy's routers (compose), or {} without a proxy."""
    path = project / "traefik" / "dynamic" / "routes.yml"
    if not path.exists():
        return {}
    out = {}
    for router in yaml.safe_load(path.read_text())["http"]["routers"].values():
        # the api's router leaves out the paths the proxy must not serve (/metrics, the docs)
        match = re.fullmatch(r"Host\(`([^`]+)`\)(?: && !PathPrefix\(`/[^`]*`\))*", router["rule"])
        assert match, router["rule"]
        out[match[1]] = router["service"]
    return out


def gateway_routes(docs: list[Manifest]) -> dict[str, tuple[str, int]]:
    """host → (Service, port) of the HTTPRoutes with a backend."""
    return {
        host: (ref["name"], ref["port"])
        for route in by_kind(docs, "HTTPRoute").values()
        for rule in route["spec"]["rules"]
        for ref in rule.get("backendRefs", [])
        for host in route["spec"]["hostnames"]
    }


def k8s_containers(docs: list[Manifest]) -> dict[str, tuple[Manifest, Manifest]]:
    """container name → (container, its pod spec)."""
    return {c["name"]: (c, spec) for _, spec in pod_specs(docs) for c in containers(spec)}


@pytest.mark.parametrize("combo", matrix.deploy(matrix.TARGETS), ids=str)
def test_same_application_everywhere(renders, combo):
    project = renders.of(combo).root
    compose = compose_prod(project)["services"]
    gke_docs = kustomize(project, "gke")
    gke = k8s_containers(gke_docs)
    private = k8s_containers(kustomize(project, "private"))
    run = {c["name"]: c for doc in cloudrun_manifests(project).values() for c in cloudrun_containers(doc)}
    run_services = {
        doc["metadata"]["name"].rsplit("-", 1)[-1]: doc
        for doc in cloudrun_manifests(project).values()
        if doc["kind"] == "Service"
    }

    for name in ("api", "migrate", "frontend"):
        if name not in compose:
            assert name not in gke and name not in run
            continue
        repo = image_repo(compose[name]["image"])
        container, spec = gke[name]
        assert image_repo(container["image"]) == repo
        assert image_repo(run[name]["image"]) == repo
        assert image_repo(private[name][0]["image"]).rsplit("/", 1)[-1] == repo.rsplit("/", 1)[-1]
        uid, gid = (int(x) for x in compose[name]["user"].split(":"))
        assert spec["securityContext"]["runAsUser"] == uid and spec["securityContext"]["runAsGroup"] == gid
        if name == "migrate":
            assert compose[name]["command"] == container["command"] == run[name]["command"]
            continue
        # port and health path: compose's healthcheck URL, k8s probes, Cloud Run probes
        port = container["ports"][0]["containerPort"]
        assert run[name]["ports"][0]["containerPort"] == port
        health = " ".join(compose[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/healthz" in health
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert run[name]["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        service = by_kind(gke_docs, "Service")[name]
        assert service["spec"]["ports"][0]["port"] == port

    # the Gateways: host → Service port (= the container port) as Traefik routes it, the load
    # balancer's health check on compose's health path, Cloud Run's request timeouts
    traefik = traefik_hosts(project)
    for overlay in ("gke", "private"):
        docs = kustomize(project, overlay)
        routes = gateway_routes(docs)
        containers_ = k8s_containers(docs)
        for host, (backend, port) in routes.items():
            assert containers_[backend][0]["ports"][0]["containerPort"] == port
            if overlay == "gke" and traefik:
                assert traefik[host] == backend
        if overlay == "gke":
            assert set(routes) == {h for h, s in traefik.items() if s in ("api", "frontend")} or not traefik
            for name in ("api", "frontend"):
                if name not in compose:
                    continue
                path = by_kind(docs, "HealthCheckPolicy")[name]["spec"]["default"]["config"][
                    "httpHealthCheck"
                ]
                port = containers_[name][0]["ports"][0]["containerPort"]
                assert f"127.0.0.1:{port}{path['requestPath']}" in " ".join(
                    compose[name]["healthcheck"]["test"]
                )
                timeout = by_kind(docs, "GCPBackendPolicy")[name]["spec"]["default"]["timeoutSec"]
                assert timeout == run_services[name]["spec"]["template"]["spec"]["timeoutSeconds"]
        if "api" in compose and "frontend" in compose:  # the browser's origin is the frontend's host
            cors = by_kind(docs, "ConfigMap")["api-config"]["data"]["CORS_ORIGINS"]
            assert cors == "https://" + next(h for h, (s, _) in routes.items() if s == "frontend")

    # third-party images: the same pins in compose and in the GKE overlay
    for name in ("db", "cache"):
        if name in compose:
            assert gke[name][0]["image"] == compose[name]["image"]

    if "api" not in compose:
        return
    # the api's settings: the same variable names (compose/k8s use *_FILE, Cloud Run the plain
    # variable from Secret Manager) and the same database name and user
    compose_env = compose["api"]["environment"]
    # k8s: the ConfigMap, plus the password-file paths set on the container beside their mounts
    config = {
        **by_kind(gke_docs, "ConfigMap")["api-config"]["data"],
        **{e["name"]: e["value"] for e in gke["api"][0].get("env", [])},
    }
    run_env = {e["name"]: e.get("value") for e in run["api"]["env"]}
    assert set(config) == set(compose_env)
    assert {k.removesuffix("_FILE") for k in config} == set(run_env)
    for key in ("DATABASE_PORT", "DATABASE_NAME", "DATABASE_USER", "REDIS_PORT", "APP_ENV"):
        if key in compose_env:
            assert compose_env[key] == config[key] == run_env[key], key
    for key in ("DATABASE_PASSWORD_FILE", "REDIS_PASSWORD_FILE"):
        if key in compose_env:
            assert compose_env[key] == config[key]
            mounts = {m["mountPath"] for m in gke["api"][0]["volumeMounts"]}
            assert config[key] in mounts
    if "db" in compose:
        db_env = compose["db"]["environment"]
        assert db_env["POSTGRES_DB"] == config["DATABASE_NAME"]
        assert db_env["POSTGRES_USER"] == config["DATABASE_USER"]
        k8s_db_env = {e["name"]: e.get("value") for e in gke["db"][0]["env"]}
        assert k8s_db_env["POSTGRES_DB"] == db_env["POSTGRES_DB"]
        assert k8s_db_env["POSTGRES_PASSWORD_FILE"] == db_env["POSTGRES_PASSWORD_FILE"]


@pytest.mark.parametrize("combo", matrix.EACH_TARGET, ids=str)
def test_one_deploy_guide_per_target(renders, combo):
    project = renders.of(combo).root
    guides = sorted(p.name for p in (project / "docs").glob("deploy-*.md"))
    assert guides == sorted(f"deploy-{t}.md" for t in combo.targets)
    for guide in guides:
        text = (project / "docs" / guide).read_text()
        headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
        for section in ("Prerequisites", "One-time setup", "Deploy", "Roll back", "Where secrets live"):
            assert section in headings, f"{guide}: no '## {section}'"
        assert "{{" not in text and "{%" not in text


# (nginx alone is refused for these targets by the questionnaire: test_questionnaire.py)
@pytest.mark.parametrize("combo", matrix.EDGE_DEPLOYS, ids=str)
def test_edge_service_sets_still_build(renders, combo):
    """Services that do not deploy to these targets (nginx, observability) leave valid output."""
    project = renders.of(combo).root
    for overlay in ("gke", "gke-managed", "private"):
        if (project / "kubernetes" / "overlays" / overlay).exists():
            kustomize(project, overlay)
    if "cloudrun" in combo.targets:
        for doc in cloudrun_manifests(project).values():
            assert cloudrun_containers(doc)
