"""Every derived value of the template, computed once per render (docs/ARCHITECTURE.md, "Context").

Templates test these booleans and lists; they never re-derive them with Jinja `or`/`and` chains
(tests/test_meta.py refuses both). docs/CONTRACT.md lists every key with its meaning, and a test
keeps that list equal to what derive() returns. Hooks may run several times per render:
everything here is a pure function of the answers.
"""

from __future__ import annotations

import functools
import importlib.util
import json
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
# Where Google's load balancers send health checks from, and, for the global external Application
# Load Balancer with container-native endpoints, the proxied requests too
# (https://cloud.google.com/load-balancing/docs/firewall-rules).
GOOGLE_HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
# Seconds a request may take, end to end, on Cloud Run and behind the GKE load balancer.
REQUEST_TIMEOUTS = {"api": 60, "frontend": 30}
# the .env variable of each browsable service's host port (used without a proxy)
PORT_VARS = {"api": "API_PORT", "frontend": "FRONTEND_PORT", "nginx": "NGINX_PORT", "grafana": "GRAFANA_PORT"}
# the service a proxy route points at, by the layer that defines it (grafana: observability)
ROUTE_SERVICES = {"grafana": "observability"}
UNROUTED_API_PATHS = ["/metrics", "/docs", "/openapi.json"]
APP_UID = 10001  # the api image's user
NGINX_UID = 101  # nginx-unprivileged's user (frontend and nginx images)

# `registry: ghcr.io` (the host alone): this GitHub repository's path there, resolved by CI.
GITHUB_REGISTRY = "ghcr.io"

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

# Scheduled database backups (docs/backups.md): the defaults of the .env settings of the backup
# service (compose.prod.yml) and of the Kubernetes CronJob. 03:15 UTC: a quiet hour for most sites.
# uid/gid: the owner of backups/ on the server, whom the service writes as (the deploy user;
# bootstrap.sh prints its ids).
BACKUP_AT = "03:15"
BACKUP_DEFAULTS: dict[str, Any] = {
    "at": BACKUP_AT,
    "keep_daily": 7,
    "keep_weekly": 4,
    "uid": 1000,
    "gid": 1000,
}


@functools.cache
def load_images() -> dict[str, str]:
    data = yaml.safe_load(pathlib.Path(__file__).with_name("images.yml").read_text())
    return {key: entry["ref"] for key, entry in data.items()}


def postgres(major: str) -> dict[str, Any]:
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
    # asked only with a database; without one nothing renders it, the default keeps it defined
    pg = postgres(str(answers.get("postgres_version") or DEFAULT_POSTGRES))
    images["postgres"] = pg["image"]

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
    # the page lists and adds items: the api stores them only with a database (else /items is 503)
    d["frontend_lists_items"] = d["frontend_calls_api"] and d["use_db"]
    d["deploy_guides"] = [{"target": t, "title": GUIDES[t]} for t in TARGETS if t in targets]
    # The licence: LICENSE (its standard text, licenses/<SPDX id>.txt) and the packages' metadata;
    # npm's word for "no licence granted" is UNLICENSED.
    license = answers.get("license") or "none"
    d["has_license"] = license != "none"
    d["npm_license"] = license if d["has_license"] else "UNLICENSED"

    # ------------------------------------------------------------ compose
    layers = ["compose.yml"] + [layer_file(name) for name in LAYER_ORDER if name in services]
    d["compose_layers"] = layers
    d["compose_file"] = ":".join(layers)
    volumes = []
    if d["use_db"]:
        volumes.append(pg["volume"])  # named after the PostgreSQL major from 18 on (see postgres())
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
    d["pg"] = pg
    # scripts/db_upgrade.py (make db-upgrade): dump from the previous major's volume, restore here
    d["use_db_upgrade"] = d["use_db"] and pg["previous"] is not None
    # the database runs an older major than the newest offered (copier's after-update message)
    d["pg_upgrade_available"] = d["use_db"] and pg["major"] != pg["newest"]
    d["db_name"] = slug.replace("-", "_")
    d["db_user"] = slug.replace("-", "_")
    d["images"] = images
    d["node_version"] = images["node"].rsplit(":", 1)[1].split("-")[0]
    # `registry: ghcr.io` alone means this GitHub repository's own path on ghcr.io, which only CI
    # knows (github.repository; GITHUB_TOKEN may push there whoever owns the repository). The
    # names the project's files use locally (compose's build tags, kustomize's image names) keep
    # the slug: ghcr.io/<slug>/<slug>. Deploys replace them with what CI pushed, by digest.
    d["registry_is_github_repository"] = registry == GITHUB_REGISTRY
    image_prefix = f"{registry}/{slug}/{slug}" if d["registry_is_github_repository"] else registry
    d["api_image"] = f"{image_prefix}/api"
    d["frontend_image"] = f"{image_prefix}/frontend"
    # Where CI pushes, as a workflow expression (lowercased by the step that uses it).
    d["ci_image_prefix"] = (
        f"{GITHUB_REGISTRY}/${{{{ github.repository }}}}" if d["registry_is_github_repository"] else registry
    )
    # The images this project builds and CI pushes, with the .env / deploy variables of each:
    # its repository (API_IMAGE), tag (API_TAG) and digest (API_DIGEST).
    project_images = [
        {
            "name": name,
            "repository": d[f"{name}_image"],
            "image_variable": f"{name.upper()}_IMAGE",
            "tag_variable": f"{name.upper()}_TAG",
            "digest_variable": f"{name.upper()}_DIGEST",
        }
        for name in ("api", "frontend")
        if d[f"use_{name}"]
    ]
    d["project_images"] = project_images
    d["app_uid"] = APP_UID
    # Who runs as which non-root UID (README's security section).
    d["runtime_uids"] = {}
    if d["use_api"]:
        d["runtime_uids"]["the api"] = APP_UID
    if d["use_frontend"] or d["use_nginx"]:
        d["runtime_uids"]["nginx"] = NGINX_UID
    d["ports"] = PORTS
    d["request_timeouts"] = REQUEST_TIMEOUTS
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
    # How a job logs in to that registry (docker/login-action): GitHub's token for ghcr.io, an
    # access token from Workload Identity Federation for Artifact Registry, a variable and a
    # secret for any other registry.
    if d["push_to_ghcr"]:
        d["registry_login"] = {"username": "${{ github.actor }}", "password": "${{ secrets.GITHUB_TOKEN }}"}
    elif d["push_to_artifact_registry"]:
        d["registry_login"] = {
            "username": "oauth2accesstoken",
            "password": "${{ steps.gcp.outputs.access_token }}",
        }
    else:
        d["registry_login"] = {
            "username": "${{ vars.REGISTRY_USERNAME }}",
            "password": "${{ secrets.REGISTRY_PASSWORD }}",
        }
    # The ci.yml jobs a deploy waits for (YAML: one job id, or a flow list).
    d["deploy_needs"] = "publish" if d["build_images"] else "[lint, trivy-fs]"
    # The token scopes of each deploy job (and of its caller in ci.yml, which must grant them):
    # reading the images to verify their signatures, and Workload Identity Federation on Google
    # Cloud. The private target's self-hosted runner holds its own registry and cluster logins.
    deploy_permissions = {}
    for target in TARGETS:
        scopes = {"contents": "read"}
        if target != "private":
            if d["push_to_ghcr"]:
                scopes["packages"] = "read"
            if target in ("cloudrun", "gke") or d["push_to_artifact_registry"]:
                scopes["id-token"] = "write"
        deploy_permissions[target] = scopes
    d["deploy_permissions"] = deploy_permissions
    # The repository secrets a deploy workflow reads, which its caller in ci.yml passes on.
    registry_secret = ["REGISTRY_PASSWORD"] if d["push_to_other_registry"] else []
    d["deploy_secrets"] = {
        "vps": ["VPS_SSH_KEY", *registry_secret],
        "cloudrun": registry_secret,
        "gke": registry_secret,
        "private": [],
    }

    # ------------------------------------------------------------ Kubernetes, Cloud Run, private
    # Kubernetes and Cloud Run run the api and the frontend (nginx/observability are compose-only).
    d["k8s_routes"] = [r for r in routes if r["name"] in ("api", "frontend")]
    # The deployment the rollback examples of the guides name.
    d["main_service"] = "api" if d["use_api"] else "frontend"
    d["internal_tls_secret"] = f"{slug}-internal-tls"
    # The Gateway API objects in front of the api/frontend Services (both overlays): one Gateway,
    # an HTTPRoute per route, and an HTTP → HTTPS redirect route.
    d["gateway_name"] = "web"
    d["google_health_check_ranges"] = list(GOOGLE_HEALTH_CHECK_RANGES)
    # The private Gateway's class: a GKE one (an internal load balancer outside the cluster, whose
    # proxies connect from the proxy-only subnet) or any other implementation (its proxies run in
    # a namespace of their own).
    private_class = answers.get("private_gateway_class") or ""
    d["private_gateway_on_gke"] = d["target_private"] and private_class.startswith("gke-l7-")
    # kubernetes/components/: GKE's Gateway policies (HealthCheckPolicy, GCPBackendPolicy), shared
    # by the gke overlay and a private overlay on GKE; Cloud SQL / Memorystore for gke-managed.
    d["use_kustomize_components"] = d["target_gke"] or d["private_gateway_on_gke"]
    d["gke_cloud_sql"] = d["target_gke"] and d["use_db"]
    d["gke_memorystore"] = d["target_gke"] and d["use_cache"]
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
        # Certificate Manager: one Google-managed certificate for every host, in a certificate map
        # the Gateway names; a modern TLS policy on its HTTPS listener.
        "certificate": f"{slug}-cert",
        "certmap": f"{slug}-certmap",
        "ssl_policy": f"{slug}-tls",
    }
    # Each host the GKE Gateway serves, with its DNS authorization and certificate-map entry.
    d["gke_hosts"] = [
        {
            "name": r["name"],
            "host": r["host"],
            "authorization": f"{slug}-{r['name']}",
            "entry": f"{slug}-{r['name']}",
        }
        for r in d["k8s_routes"]
    ]
    # Cloud Run reaches Memorystore's private IP through Direct VPC egress (Cloud SQL through its
    # own connection, /cloudsql): only the api with a cache needs a network interface.
    network_interface = {
        "network": answers.get("gcp_network") or "",
        "subnetwork": answers.get("gcp_subnet") or "",
    }
    d["cloudrun_direct_vpc"] = d["target_cloudrun"] and d["use_cache"]
    # Cloud Run names; service-account ids must stay within 30 characters.
    d["cloudrun"] = {
        "api": f"{slug}-api",
        "frontend": f"{slug}-frontend",
        "services": [f"{slug}-{image['name']}" for image in project_images],
        "migrate": f"{slug}-migrate",
        "api_sa": f"{slug[:22].rstrip('-')}-api-run",
        "frontend_sa": f"{slug[:17].rstrip('-')}-frontend-run",
        # run.googleapis.com/network-interfaces: a JSON list with one interface, as gcloud writes it
        "network_interfaces": json.dumps([network_interface], sort_keys=True),
        "db_secret": f"{slug}-postgres-password",
        "redis_secret": f"{slug}-redis-password",
    }

    # ------------------------------------------------------------ backups (docs/backups.md)
    # `make backup` / `make restore` and docs/backups.md come with the db; the scheduled dumps are
    # the backup service on the VPS and a CronJob for the in-cluster database on Kubernetes.
    d["backup_service"] = d["use_db"] and d["target_vps"]
    d["backup_cronjob"] = d["use_db"] and d["use_kubernetes"]
    d["offsite_restic"] = d["backup_service"] and answers.get("backup_offsite") == "restic"
    d["backup_stays_local"] = d["backup_service"] and not d["offsite_restic"]  # docs: how to add one
    hour, minute = BACKUP_AT.split(":")
    d["backup"] = {
        **BACKUP_DEFAULTS,
        "cron": f"{int(minute)} {int(hour)} * * *",
        "log_tag": f"{slug}-backup",  # journald SYSLOG_IDENTIFIER: journalctl -t <log_tag>
    }
    if d["offsite_restic"]:
        # the restic repository's password: random, generated with the others (keep a copy!)
        d["all_secrets"] = [*d["all_secrets"], "restic_password"]
    # Secret files compose.prod.yml declares itself (the base layer declares the generated ones).
    d["prod_secrets"] = (["cloudflare_dns_api_token"] if d["use_proxy"] else []) + (
        ["restic_password", "offsite_credentials"] if d["offsite_restic"] else []
    )
    return d


class Context(ContextHook):
    def hook(self, context: dict[str, Any]) -> None:
        # Copier also renders defaults and validators while the questionnaire is still being
        # answered; derive only once every answer the derivation reads is there.
        if not all(key in context for key in REQUIRED):
            return
        context.update(derive(context))
