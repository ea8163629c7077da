"""Every derived value of the template, computed once per render (docs/ARCHITECTURE.md, "Context").

Templates test these booleans and lists; they never re-derive them with Jinja `or`/`and` chains
(tests/test_meta.py refuses both). docs/CONTRACT.md lists every key with its meaning, and a test
keeps that list equal to what derive() returns. Hooks may run several times per render:
everything here is a pure function of the answers.
"""

from __future__ import annotations

import functools
import importlib.util
import pathlib
from types import ModuleType
from typing import Any

import yaml
from copier_template_extensions import ContextHook


def _load_rules() -> ModuleType:
    # copier-template-extensions loads this file by path, not as a package: import rules.py beside it
    spec = importlib.util.spec_from_file_location(
        "dockwright_rules", pathlib.Path(__file__).with_name("rules.py")
    )
    if spec is None or spec.loader is None:
        raise ImportError("extensions/rules.py not found beside context.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rules = _load_rules()
# The choices of copier.yml's `services` and `deploy_targets`: the one list of each.
SERVICES: tuple[str, ...] = rules.SERVICES
TARGETS: tuple[str, ...] = rules.TARGETS

# Compose layers in merge order: backing services first, then what uses them, then what routes to
# them. Each service's layer is compose.<layer>.yml, named after the service, except the
# frontend's: compose.front.yml, the seed's own name (generated file names never change).
LAYER_ORDER = ("db", "cache", "api", "frontend", "nginx", "proxy", "observability")
LAYER_NAMES = {"frontend": "front"}

# One guide per deploy target, in docs/deploy-<target>.md.
GUIDES = {
    "vps": "one server with compose.prod.yml and Traefik TLS",
    "cloudrun": "Google Cloud Run",
    "gke": "Google Kubernetes Engine",
    "private": "Kubernetes on the private network",
}

# container ports of our HTTP services (unprivileged: nothing binds below 1024)
PORTS = {
    "api": 8000,
    "frontend": 8080,
    "nginx": 8080,
    "grafana": 3000,
    "prometheus": 9090,
    "proxy_http": 8080,
    "proxy_https": 8443,
    "proxy_metrics": 8082,
    "pgadmin": 8080,
}
# host ports (127.0.0.1 only) used when a service publishes one; all overridable in .env
HOST_PORTS = {
    "api": 8000,
    "frontend": 8090,
    "nginx": 8081,
    "grafana": 3000,
    "prometheus": 9090,
    "proxy_http": 8080,
    "proxy_dashboard": 8088,
    "pgadmin": 5050,
    "db": 5432,
    "cache": 6379,
}
# the .env variable of each browsable service's host port (used without a proxy)
PORT_VARS = {"api": "API_PORT", "frontend": "FRONTEND_PORT", "nginx": "NGINX_PORT", "grafana": "GRAFANA_PORT"}
# the service a proxy route points at, by the layer that defines it (grafana: observability)
ROUTE_SERVICES = {"grafana": "observability"}
UNROUTED_API_PATHS = ["/metrics", "/docs", "/openapi.json"]
APP_UID = 10001  # the api image's user
NGINX_UID = 101  # nginx-unprivileged's user (frontend and nginx images)

REQUIRED = ("project_slug", "python_version", "services", "deploy_targets", "domain", "registry")


@functools.cache
def load_images() -> dict[str, str]:
    data = yaml.safe_load(pathlib.Path(__file__).with_name("images.yml").read_text())
    return {key: entry["ref"] for key, entry in data.items()}


def layer_file(service: str) -> str:
    return f"compose.{LAYER_NAMES.get(service, service)}.yml"


def derive(answers: dict[str, Any]) -> dict[str, Any]:
    """Return the derived values for a set of answers (also used directly by the tests)."""
    services = set(answers.get("services") or [])
    targets = set(answers.get("deploy_targets") or [])
    slug = answers["project_slug"]
    registry = answers["registry"]
    domain = answers.get("domain") or "localhost"
    images = dict(load_images())
    images["python"] = images[f"python_{answers['python_version'].replace('.', '_')}"]

    # ------------------------------------------------------------ what is chosen
    d: dict[str, Any] = {f"use_{name}": name in services for name in SERVICES}
    d.update({f"target_{name}": name in targets for name in TARGETS})
    d["use_kubernetes"] = d["target_gke"] or d["target_private"]
    d["use_migrations"] = d["use_api"] and d["use_db"]
    # deploy/ holds the shell scripts of the vps and private targets only
    d["use_deploy_scripts"] = d["target_vps"] or d["target_private"]
    d["backing_services"] = d["use_db"] or d["use_cache"]
    d["build_images"] = d["use_api"] or d["use_frontend"]
    d["frontend_calls_api"] = d["use_frontend"] and d["use_api"]
    d["deploy_guides"] = [{"target": t, "title": GUIDES[t]} for t in TARGETS if t in targets]

    # ------------------------------------------------------------ compose
    layers = ["compose.yml"] + [layer_file(name) for name in LAYER_ORDER if name in services]
    d["compose_layers"] = layers
    d["compose_file"] = ":".join(layers)
    volumes = []
    if d["use_db"]:
        volumes.append("db_data")
    if d["use_observability"]:
        volumes += ["prometheus_data", "grafana_data"]
    d["volumes"] = volumes

    # Without a proxy, each service a person browses publishes a host port on 127.0.0.1; with
    # one, none does (the proxy's own port is the way in).
    direct = not d["use_proxy"]
    d["publishes_port_api"] = direct and d["use_api"]
    d["publishes_port_frontend"] = direct and d["use_frontend"]
    d["publishes_port_nginx"] = direct and d["use_nginx"]
    d["publishes_port_grafana"] = direct and d["use_observability"]

    # Routes the proxy serves (file provider), by host under `domain`.
    routes: list[dict[str, Any]] = []
    if d["use_frontend"]:
        routes.append({"name": "frontend", "host": domain, "port": PORTS["frontend"]})
    if d["use_api"]:
        routes.append({"name": "api", "host": f"api.{domain}", "port": PORTS["api"]})
    if d["use_nginx"]:
        host = f"static.{domain}" if d["use_frontend"] else domain
        routes.append({"name": "nginx", "host": host, "port": PORTS["nginx"]})
    if d["use_observability"]:
        routes.append({"name": "grafana", "host": f"grafana.{domain}", "port": PORTS["grafana"]})
    # Paths a route never serves through the proxy: the api's /metrics (Prometheus scrapes it
    # inside the network) and its API docs (a development aid: `make dev` publishes the api's own
    # port, which serves them). Traefik answers 404 for these.
    for r in routes:
        r["unrouted"] = UNROUTED_API_PATHS if r["name"] == "api" else []
    d["routes"] = routes
    d["hosts"] = {r["name"]: r["host"] for r in routes}
    d["unrouted_api_paths"] = UNROUTED_API_PATHS if d["use_api"] else []

    # Where http://127.0.0.1:<PROXY_PORT>/ sends a browser (Traefik routes by host name, so an
    # address alone matches no route): the route served at the bare domain, else the first one.
    fallback = routes[0]["host"] if routes else ""
    d["home_host"] = next((r["host"] for r in routes if r["host"] == domain), fallback)

    # ------------------------------------------------------------ compose layers need layers
    # What each chosen layer needs beside compose.yml: the services its depends_on names. The
    # generated README prints this table; tests/test_readme_commands.py checks it with compose.
    needs: dict[str, list[str]] = {
        "api": [s for s in ("db", "cache") if s in services],
        "proxy": [ROUTE_SERVICES.get(r["name"], r["name"]) for r in routes],
        "observability": ["api"],
    }
    d["layer_needs"] = [
        {"file": layer_file(name), "needs": [layer_file(n) for n in needs.get(name, [])]}
        for name in LAYER_ORDER
        if name in services
    ]

    # ------------------------------------------------------------ URLs and origins
    # Where a person reaches each browsable service on this machine: through the proxy by host
    # name, or on the service's own host port.
    d["local_urls"] = {
        r["name"]: (
            f"http://{r['host']}:{HOST_PORTS['proxy_http']}"
            if d["use_proxy"]
            else f"http://localhost:{HOST_PORTS[r['name']]}"
        )
        for r in routes
    }
    # The same URLs as compose interpolation of the host port variables in .env, so that the
    # frontend's api URL and the api's CORS origin follow a changed PROXY_PORT (or API_PORT and
    # FRONTEND_PORT without a proxy) by themselves.
    compose_urls = {
        r["name"]: (
            f"http://{r['host']}:${{PROXY_PORT:-{HOST_PORTS['proxy_http']}}}"
            if d["use_proxy"]
            else f"http://localhost:${{{PORT_VARS[r['name']]}:-{HOST_PORTS[r['name']]}}}"
        )
        for r in routes
    }
    # `*.localhost` resolves to 127.0.0.1 by itself; other domains need /etc/hosts lines locally,
    # and are the only ones a production URL or a certificate can be made for.
    domain_is_local = domain == "localhost" or domain.endswith(".localhost")
    d["needs_hosts_file"] = d["use_proxy"] and not domain_is_local
    d["vps_needs_public_domain"] = d["use_proxy"] and d["target_vps"] and domain_is_local
    d["production_url"] = "" if domain_is_local else f"https://{domain}"
    # The api's URL as the browser sees it (Vite inlines it into the frontend bundle at build
    # time): locally (a compose expression, as above), and in production (TLS through the
    # proxy or the load balancer).
    d["api_url_local"] = compose_urls["api"] if d["use_api"] else ""
    d["api_url_production"] = f"https://{d['hosts']['api']}" if d["use_api"] else ""
    # Browser origins allowed to call the api (CORS): the frontend as served locally (a compose
    # expression), in production, and on the private network.
    internal_domain = answers.get("internal_domain") or ""
    d["internal_hosts"] = {"frontend": f"{slug}.{internal_domain}", "api": f"api.{slug}.{internal_domain}"}
    calls = d["frontend_calls_api"]
    d["cors_origins_local"] = compose_urls["frontend"] if calls else ""
    d["cors_origins_production"] = f"https://{d['hosts']['frontend']}" if calls else ""
    d["cors_origins_private"] = f"https://{d['internal_hosts']['frontend']}" if calls else ""

    # ------------------------------------------------------------ secrets
    # The secrets compose mounts (compose.yml), the ones the api reads, and every secret file of
    # the project: compose's and the dev-only pgAdmin password.
    secrets = []
    if d["use_db"]:
        secrets.append("postgres_password")
    if d["use_cache"]:
        secrets.append("redis_password")
    if d["use_observability"]:
        secrets.append("grafana_admin_password")
    d["secrets"] = secrets
    d["api_secrets"] = [s for s in secrets if s in ("postgres_password", "redis_password")]
    # Kubernetes Secrets of the api's passwords (kubernetes/base/api.yaml mounts them by name)
    d["k8s_secrets"] = [{"name": s.replace("_", "-"), "file": f"secrets/{s}.txt"} for s in d["api_secrets"]]
    d["all_secrets"] = secrets + (["pgadmin_password"] if d["use_db"] else [])

    # ------------------------------------------------------------ images and users
    d["db_name"] = slug.replace("-", "_")
    d["db_user"] = slug.replace("-", "_")
    d["images"] = images
    d["uv_version"] = images["uv"].rsplit(":", 1)[1]
    d["node_version"] = images["node"].rsplit(":", 1)[1].split("-")[0]
    d["api_image"] = f"{registry}/api"
    d["frontend_image"] = f"{registry}/frontend"
    # The images this project builds and CI pushes, with the .env variable holding their tag.
    project_images = []
    if d["use_api"]:
        project_images.append({"name": "api", "repository": d["api_image"], "tag_variable": "API_TAG"})
    if d["use_frontend"]:
        project_images.append(
            {"name": "frontend", "repository": d["frontend_image"], "tag_variable": "FRONTEND_TAG"}
        )
    d["project_images"] = project_images
    d["app_uid"] = APP_UID
    # Who runs as which non-root UID (README's security section).
    d["runtime_uids"] = {}
    if d["use_api"]:
        d["runtime_uids"]["the api"] = APP_UID
    if d["use_frontend"] or d["use_nginx"]:
        d["runtime_uids"]["nginx"] = NGINX_UID
    d["ports"] = PORTS
    d["host_ports"] = HOST_PORTS

    # ------------------------------------------------------------ CI and registries
    registry_host = registry.split("/")[0]
    d["registry_host"] = registry_host
    # How CI logs in to push the project's images: one of these is true when it builds any.
    d["push_to_ghcr"] = d["build_images"] and registry_host == "ghcr.io"
    d["push_to_artifact_registry"] = d["build_images"] and registry_host.endswith("-docker.pkg.dev")
    d["push_to_other_registry"] = d["build_images"] and not (
        d["push_to_ghcr"] or d["push_to_artifact_registry"]
    )
    # The ci.yml jobs a deploy waits for (YAML: one job id, or a flow list).
    d["deploy_needs"] = "publish" if d["build_images"] else "[lint, trivy-fs]"

    # ------------------------------------------------------------ Kubernetes, Cloud Run, private
    # Kubernetes and Cloud Run run the api and the frontend (nginx/observability are compose-only).
    d["k8s_routes"] = [r for r in routes if r["name"] in ("api", "frontend")]
    # The deployment the rollback examples of the guides name.
    d["main_service"] = "api" if d["use_api"] else "frontend"
    d["internal_tls_secret"] = f"{slug}-internal-tls"
    d["runner_label"] = f"{slug}-private"  # the self-hosted runner of the private target
    private_registry = answers.get("private_registry") or ""
    d["private_registry_host"] = private_registry.split("/")[0]
    # Third-party images the private network pulls from its own registry, same name and tag.
    d["private_mirrors"] = [
        {
            "ref": ref,
            "repository": ref.rsplit(":", 1)[0],
            "mirror_ref": f"{private_registry}/{ref.split('/')[-1]}",
            "mirror_repository": f"{private_registry}/{ref.rsplit(':', 1)[0].split('/')[-1]}",
        }
        for ref in ([images["postgres"]] if d["use_db"] else [])
        + ([images["redis"]] if d["use_cache"] else [])
    ]
    # Google Cloud resources shared by Cloud Run and GKE (gke-managed).
    gcp_project = answers.get("gcp_project") or ""
    sql_instance = f"{slug}-db"
    d["gcp"] = {
        "sql_instance": sql_instance,
        "sql_connection": f"{gcp_project}:{answers.get('gcp_region') or ''}:{sql_instance}",
        "redis_instance": f"{slug[:34].rstrip('-')}-cache",
        "static_ip": f"{slug}-ip",
    }
    # Cloud Run names; service-account ids must stay within 30 characters.
    d["cloudrun"] = {
        "api": f"{slug}-api",
        "frontend": f"{slug}-frontend",
        "services": [f"{slug}-{image['name']}" for image in project_images],
        "migrate": f"{slug}-migrate",
        "api_sa": f"{slug[:22].rstrip('-')}-api-run",
        "frontend_sa": f"{slug[:17].rstrip('-')}-frontend-run",
        "connector": "run-egress",
        "db_secret": f"{slug}-postgres-password",
        "redis_secret": f"{slug}-redis-password",
    }
    return d


class Context(ContextHook):
    def hook(self, context: dict[str, Any]) -> None:
        # Copier also renders defaults and validators while the questionnaire is still being
        # answered; derive only once every answer the derivation reads is there.
        if not all(key in context for key in REQUIRED):
            return
        context.update(derive(context))
