"""Every derived value of the template, computed once per render (see DESIGN.md, decision 1).

Templates test these booleans and lists; they never re-derive them with Jinja or-chains.
Hooks may run several times per render: everything here is a pure function of the answers.
"""

from __future__ import annotations

import functools
import pathlib

import yaml
from copier_template_extensions import ContextHook

# compose layers in merge order; a service's file is listed only when it is chosen
LAYERS = (
    ("db", "compose.db.yml"),
    ("cache", "compose.cache.yml"),
    ("api", "compose.api.yml"),
    ("frontend", "compose.front.yml"),
    ("nginx", "compose.nginx.yml"),
    ("proxy", "compose.proxy.yml"),
    ("observability", "compose.observability.yml"),
)

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
# host ports (127.0.0.1 only) used when a service publishes; all overridable in .env
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


REQUIRED = ("project_slug", "python_version", "services", "deploy_targets", "domain", "registry")

# The data directory of each PostgreSQL major the template offers (postgres_version). From 18 on,
# the official image keeps PGDATA in /var/lib/postgresql/<major>/docker and its volume is
# /var/lib/postgresql (docker-library/postgres pull 1259): one mount can hold two majors side by
# side. Up to 17 the volume is the data directory itself. The volume's name carries the major
# from 18 on, so an upgrade starts on a fresh volume and the old one stays, untouched.
POSTGRES_LAYOUT = {
    "17": {"mount": "/var/lib/postgresql/data", "pgdata": "/var/lib/postgresql/data", "volume": "db_data"},
    "18": {
        "mount": "/var/lib/postgresql",
        "pgdata": "/var/lib/postgresql/18/docker",
        "volume": "db_data_pg18",
    },
}
DEFAULT_POSTGRES = "18"


@functools.cache
def load_images() -> dict[str, str]:
    data = yaml.safe_load(pathlib.Path(__file__).with_name("images.yml").read_text())
    return {key: entry["ref"] for key, entry in data.items()}


def postgres(major: str) -> dict:
    """Everything that follows from the PostgreSQL major: image, mount, PGDATA, volume names."""
    layout = POSTGRES_LAYOUT[major]
    older = sorted((m for m in POSTGRES_LAYOUT if int(m) < int(major)), key=int)
    return {
        "major": major,
        "image": load_images()[f"postgres_{major}"],
        **layout,
        # the major an existing database may come from (scripts/db_upgrade.py), if the template ran one
        "previous": postgres(older[-1]) if older else None,
        "newest": max(POSTGRES_LAYOUT, key=int),
        # Kubernetes: the StatefulSet's claim template (one PVC per major, like the compose volume)
        # and PGDATA below the mount point: a volume's root may hold lost+found, which initdb refuses.
        "claim": "data" if major == "17" else f"data-pg{major}",
        "k8s_pgdata": "/var/lib/postgresql/data/pgdata" if major == "17" else layout["pgdata"],
    }


def derive(answers: dict) -> dict:
    """Return the derived values for a set of answers (also used directly by the tests)."""
    services = set(answers.get("services") or [])
    targets = set(answers.get("deploy_targets") or [])
    slug = answers["project_slug"]
    registry = answers["registry"]
    images = dict(load_images())
    images["python"] = images[f"python_{answers['python_version'].replace('.', '_')}"]
    # asked only with a database; without one nothing renders it, the default keeps it defined
    pg = postgres(str(answers.get("postgres_version") or DEFAULT_POSTGRES))
    images["postgres"] = pg["image"]

    d = {
        f"use_{name}": name in services
        for name in ("api", "db", "cache", "frontend", "proxy", "nginx", "observability")
    }
    d.update({f"target_{name}": name in targets for name in ("vps", "cloudrun", "gke", "private")})
    d["use_kubernetes"] = d["target_gke"] or d["target_private"]
    d["deploy_guides"] = [{"target": t, "title": title} for t, title in GUIDES.items() if t in targets]
    d["use_migrations"] = d["use_api"] and d["use_db"]
    # deploy/ holds the shell scripts of the vps and private targets only
    d["use_deploy_scripts"] = d["target_vps"] or d["target_private"]

    layers = ["compose.yml"] + [f for name, f in LAYERS if name in services]
    d["compose_layers"] = layers
    d["compose_file"] = ":".join(layers)
    d["compose_dev_file"] = ":".join([*layers, "compose-dev.yml"])

    # Without a proxy, each service a person browses publishes on 127.0.0.1; with one, none does.
    direct = not d["use_proxy"]
    d["publish_api"] = direct and d["use_api"]
    d["publish_frontend"] = direct and d["use_frontend"]
    d["publish_nginx"] = direct and d["use_nginx"]
    d["publish_grafana"] = direct and d["use_observability"]

    # Routes the proxy serves (file provider), by host under `domain`.
    domain = answers.get("domain") or "localhost"
    routes = []
    if d["use_frontend"]:
        routes.append({"name": "frontend", "host": domain, "port": PORTS["frontend"]})
    if d["use_api"]:
        routes.append({"name": "api", "host": f"api.{domain}", "port": PORTS["api"]})
    if d["use_nginx"]:
        host = f"static.{domain}" if d["use_frontend"] else domain
        routes.append({"name": "nginx", "host": host, "port": PORTS["nginx"]})
    if d["use_observability"]:
        routes.append({"name": "grafana", "host": f"grafana.{domain}", "port": PORTS["grafana"]})
    d["routes"] = routes
    d["hosts"] = {r["name"]: r["host"] for r in routes}

    # The api's public URL as the browser sees it (inlined into the frontend bundle at build time).
    if d["use_api"]:
        d["api_public_url"] = (
            f"http://{d['hosts']['api']}:{HOST_PORTS['proxy_http']}"
            if d["use_proxy"]
            else f"http://localhost:{HOST_PORTS['api']}"
        )
    else:
        d["api_public_url"] = ""

    # Browser origins allowed to call the api (CORS): the frontend as served, and the dev server.
    origins = []
    if d["use_frontend"] and d["use_api"]:
        origins.append(
            f"http://{d['hosts']['frontend']}:{HOST_PORTS['proxy_http']}"
            if d["use_proxy"]
            else f"http://localhost:{HOST_PORTS['frontend']}"
        )
    d["cors_origins"] = ",".join(origins)

    secrets = []
    if d["use_db"]:
        secrets.append("postgres_password")
    if d["use_cache"]:
        secrets.append("redis_password")
    if d["use_observability"]:
        secrets.append("grafana_admin_password")
    d["secrets"] = secrets
    d["secrets_api"] = [s for s in secrets if s in ("postgres_password", "redis_password")]
    d["dev_secrets"] = ["pgadmin_password"] if d["use_db"] else []

    d["pg"] = pg
    # scripts/db_upgrade.py (make db-upgrade): dump from the previous major's volume, restore here
    d["use_db_upgrade"] = d["use_db"] and pg["previous"] is not None
    d["db_name"] = slug.replace("-", "_")
    d["db_user"] = slug.replace("-", "_")
    d["images"] = images
    d["uv_version"] = images["uv"].rsplit(":", 1)[1]
    d["node_version"] = images["node"].rsplit(":", 1)[1].split("-")[0]

    # Kubernetes and Cloud Run run the api and the frontend (nginx/observability are compose-only).
    d["k8s_routes"] = [r for r in routes if r["name"] in ("api", "frontend")]
    internal_domain = answers.get("internal_domain") or ""
    d["internal_hosts"] = {"frontend": f"{slug}.{internal_domain}", "api": f"api.{slug}.{internal_domain}"}
    d["runner_label"] = f"{slug}-private"  # the self-hosted runner of the private target
    # Cloud Run names; service-account ids must stay within 30 characters.
    d["cloudrun"] = {
        "api": f"{slug}-api",
        "frontend": f"{slug}-frontend",
        "migrate": f"{slug}-migrate",
        "api_sa": f"{slug[:22].rstrip('-')}-api-run",
        "frontend_sa": f"{slug[:17].rstrip('-')}-frontend-run",
        "sql_instance": f"{slug}-db",
        "redis_instance": f"{slug[:34].rstrip('-')}-cache",
        "connector": "run-egress",
        "db_secret": f"{slug}-postgres-password",
        "redis_secret": f"{slug}-redis-password",
    }

    # CI: which images are built, and how the registry is logged in to.
    d["build_images"] = d["use_api"] or d["use_frontend"]
    d["backing_services"] = d["use_db"] or d["use_cache"]
    d["mirrored"] = d["build_images"] or d["backing_services"]
    registry_host = registry.split("/")[0]
    d["registry_host"] = registry_host
    d["publish_ghcr"] = d["build_images"] and registry_host == "ghcr.io"
    d["publish_gar"] = d["build_images"] and registry_host.endswith("-docker.pkg.dev")
    d["publish_other"] = d["build_images"] and not (d["publish_ghcr"] or d["publish_gar"])
    # The production api URL the frontend image is built with in CI (TLS through the proxy).
    d["vite_api_url"] = f"https://{d['hosts']['api']}" if d["use_api"] else ""
    d["api_image"] = f"{registry}/api"
    d["frontend_image"] = f"{registry}/frontend"
    d["ports"] = PORTS
    d["host_ports"] = HOST_PORTS
    d["app_uid"] = 10001
    return d


class Context(ContextHook):
    def hook(self, context: dict) -> None:
        # Copier also renders defaults and validators while the questionnaire is still being
        # answered; derive only once every answer the derivation reads is there.
        if not all(key in context for key in REQUIRED):
            return
        context.update(derive(context))
