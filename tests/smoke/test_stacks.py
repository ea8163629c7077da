"""Build and run generated projects for real, one compose stack per configuration.

For each configuration: render (copier) → stand-ins tagged → `docker compose build` →
`up -d --wait` → every service healthy (the one-shot `migrate` exited 0) → published ports
exactly as promised, all on 127.0.0.1 → HTTP checks (through Traefik by Host header when the
proxy is chosen, else on each service's own port) → an item round-trip that survives
`down` + `up` → the api crashes and its restart policy brings it back healthy → Prometheus
scrapes the api → the api runs as 10001:10001 on a read-only root filesystem.

Image sharing between configurations is content-addressed (lib.image_tags): a configuration
reuses another's api/frontend image only when its Dockerfile and build inputs are byte-identical;
each configuration still runs `docker compose build` (a cache hit when they are).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import uuid

import pytest
from conftest import DEFAULT_SERVICES, copy

from smoke import lib

pytestmark = pytest.mark.docker

ALL = ("api", "db", "cache", "frontend", "proxy", "nginx", "observability")


@dataclasses.dataclass(frozen=True)
class Config:
    id: str
    services: tuple[str, ...] | None  # None: the questionnaire's defaults (no answer given)
    dev: bool = False

    @property
    def chosen(self) -> tuple[str, ...]:
        return tuple(DEFAULT_SERVICES) if self.services is None else self.services

    def has(self, service: str) -> bool:
        return service in self.chosen


# The defaults first: they build the api and the proxied frontend that later ones reuse.
CONFIGS = [
    Config("defaults", None),
    Config("api+db", ("api", "db")),
    Config("api+cache", ("api", "cache")),
    Config("frontend+nginx", ("frontend", "nginx")),
    Config("everything", ALL),
    Config("everything+dev", ALL, dev=True),
]


def containers_expected(cfg: Config) -> tuple[set[str], set[str]]:
    """(long-running services, one-shot services) the stack must contain."""
    services = set()
    for name in ("db", "cache", "api", "frontend", "proxy", "nginx"):
        if cfg.has(name):
            services.add(name)
    if cfg.has("observability"):
        services |= {"prometheus", "grafana"}
    one_shots = {"migrate"} if cfg.has("api") and cfg.has("db") else set()
    return services, one_shots


def ports_expected(cfg: Config) -> dict[tuple[str, int], str]:
    """(service, container port) → the .env variable of its host port. Nothing else may publish."""
    out: dict[tuple[str, int], str] = {}
    if cfg.has("proxy"):
        out[("proxy", 8080)] = "PROXY_PORT"
    else:
        for service, port, var in (
            ("api", 8000, "API_PORT"),
            ("frontend", 8080, "FRONTEND_PORT"),
            ("nginx", 8080, "NGINX_PORT"),
        ):
            if cfg.has(service):
                out[(service, port)] = var
        if cfg.has("observability"):
            out[("grafana", 3000)] = "GRAFANA_PORT"
    if cfg.dev:
        if cfg.has("api"):
            out[("api", 8000)] = "API_PORT"
        if cfg.has("proxy"):
            out[("proxy", 8088)] = "PROXY_DASHBOARD_PORT"
        if cfg.has("db"):
            out[("db", 5432)] = "DB_PORT"
        if cfg.has("cache"):
            out[("cache", 6379)] = "CACHE_PORT"
        if cfg.has("observability"):
            out[("prometheus", 9090)] = "PROMETHEUS_PORT"
            out[("grafana", 3000)] = "GRAFANA_PORT"
    return out


def endpoint(cfg: Config, stack: lib.Stack, service: str) -> tuple[int, str]:
    """(host port, Host header) by which a person reaches `service` in this configuration."""
    domain = "localhost"
    if cfg.has("proxy"):
        host = {
            "frontend": domain,
            "api": f"api.{domain}",
            "nginx": f"static.{domain}" if cfg.has("frontend") else domain,
            "grafana": f"grafana.{domain}",
        }[service]
        return stack.ports["PROXY_PORT"], host
    var = {"api": "API_PORT", "frontend": "FRONTEND_PORT", "nginx": "NGINX_PORT", "grafana": "GRAFANA_PORT"}
    return stack.ports[var[service]], domain


class Steps:
    """Names the step being run in the record, so the summary says where a failure happened."""

    def __init__(self, record: dict):
        self.record = record

    def __call__(self, name: str) -> Steps:
        self.record["step"] = name
        return self


# ------------------------------------------------------------------ checks
def check_health(cfg: Config, stack: lib.Stack) -> None:
    lib.assert_healthy(stack, *containers_expected(cfg))


def check_published_ports(cfg: Config, stack: lib.Stack) -> None:
    published: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for service, container in stack.containers().items():
        container.reload()
        for spec, bindings in (container.attrs["NetworkSettings"]["Ports"] or {}).items():
            if bindings:
                port = int(spec.split("/")[0])
                published[(service, port)] = sorted({(b["HostIp"], b["HostPort"]) for b in bindings})
    expected = ports_expected(cfg)
    assert set(published) == set(expected), f"published {sorted(published)}, expected {sorted(expected)}"
    for key, bindings in published.items():
        want = [("127.0.0.1", str(stack.ports[expected[key]]))]
        assert bindings == want, f"{key} is published on {bindings}, expected {want} ({expected[key]})"


def check_api(cfg: Config, stack: lib.Stack) -> None:
    port, host = endpoint(cfg, stack, "api")
    r = lib.http(port, "/healthz", host=host)
    assert r.status == 200 and r.json() == {"status": "ok"}, str(r)
    r = lib.http(port, "/readyz", host=host)
    assert r.status == 200, str(r)
    assert r.json()["checks"] == {
        "database": "ok" if cfg.has("db") else "disabled",
        "cache": "ok" if cfg.has("cache") else "disabled",
    }, str(r)
    r = lib.http(port, "/metrics", host=host)
    if cfg.has("observability"):
        assert r.status == 200 and "http_requests_total" in r.text, str(r)
    else:
        assert r.status == 404, f"/metrics should be off without observability: {r}"
    if cfg.has("proxy"):
        # Traefik's security-headers middleware is on every route
        assert r.headers.get("x-frame-options") == "DENY", r.headers
    if cfg.dev:
        # compose-dev.yml also publishes the api itself (with --reload)
        r = lib.http(stack.ports["API_PORT"], "/healthz")
        assert r.status == 200, f"api on API_PORT (dev): {r}"


def check_frontend(cfg: Config, stack: lib.Stack) -> None:
    port, host = endpoint(cfg, stack, "frontend")
    page = lib.http(port, "/", host=host)
    assert page.status == 200 and page.headers.get("content-type", "").startswith("text/html"), str(page)
    assert '<main id="app">' in page.text, page.text[:500]
    scripts = re.findall(r'<script[^>]+type="module"[^>]+src="([^"]+)"', page.text)
    assert scripts, f"no module script in the page: {page.text[:500]}"
    asset = lib.http(port, scripts[0], host=host)
    assert asset.status == 200 and "javascript" in asset.headers.get("content-type", ""), str(asset)
    if not cfg.dev:
        assert lib.http(port, "/healthz", host=host).status == 200
        vite_api_url = stack.dotenv.get("VITE_API_URL", "")
        if vite_api_url:
            # the build arg reached the bundle's CSP (frontend/scripts/csp.mjs): connect-src allows it
            csp = page.headers.get("content-security-policy", "")
            assert vite_api_url in csp, f"VITE_API_URL {vite_api_url!r} not in the CSP: {csp!r}"


def check_nginx(cfg: Config, stack: lib.Stack) -> None:
    port, host = endpoint(cfg, stack, "nginx")
    r = lib.http(port, "/robots.txt", host=host)
    assert r.status == 200 and "User-agent" in r.text, str(r)
    assert r.headers.get("x-content-type-options") == "nosniff", r.headers
    assert r.headers.get("cache-control") == "no-cache", r.headers
    css = lib.http(port, "/css/site.css", host=host)
    assert css.status == 200 and css.headers.get("content-type", "").startswith("text/css"), str(css)
    assert css.headers.get("cache-control") == "public, max-age=604800", css.headers
    assert lib.http(port, "/no-such-file.txt", host=host).status == 404


def check_dev_ports(cfg: Config, stack: lib.Stack) -> None:
    """compose-dev.yml: the dashboard, the database and the cache answer on their host ports."""
    if cfg.has("proxy"):
        r = lib.http(stack.ports["PROXY_DASHBOARD_PORT"], "/api/http/routers")
        assert r.status == 200, str(r)
        routers = {router["name"] for router in r.json()}
        assert {"api@file", "frontend@file"} <= routers, routers
    if cfg.has("db"):
        # PostgreSQL's SSLRequest: a postgres server answers a single 'S' or 'N'
        ssl_request = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")
        answer = lib.tcp_exchange(stack.ports["DB_PORT"], ssl_request)
        assert answer in (b"S", b"N"), answer
    if cfg.has("cache"):
        answer = lib.tcp_exchange(stack.ports["CACHE_PORT"], b"PING\r\n")
        assert answer.startswith(b"-NOAUTH"), f"redis must require its password: {answer!r}"
    if cfg.has("observability"):
        r = lib.http(stack.ports["PROMETHEUS_PORT"], "/-/ready")
        assert r.status == 200, str(r)


def create_item(cfg: Config, stack: lib.Stack) -> str | None:
    port, host = endpoint(cfg, stack, "api")
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    r = lib.http(port, "/items", host=host, method="POST", payload={"name": name})
    if not cfg.has("db"):
        assert r.status == 503, f"without a database POST /items must be 503: {r}"
        return None
    assert r.status == 201, str(r)
    created = r.json()
    assert created["name"] == name and isinstance(created["id"], int) and created["created_at"], created
    assert_listed(cfg, stack, name)
    return name


def assert_listed(cfg: Config, stack: lib.Stack, name: str) -> None:
    port, host = endpoint(cfg, stack, "api")
    r = lib.http(port, "/items", host=host)
    assert r.status == 200, str(r)
    names = [item["name"] for item in r.json()]
    assert names and names[0] == name, f"{name!r} should be listed first (newest): {names[:5]}"


def check_observability(cfg: Config, stack: lib.Stack) -> None:
    """Prometheus scrapes the api (and Traefik). Prometheus is not published in the base
    layers, so it is asked from inside its own container."""
    jobs = {"api"} | ({"traefik"} if cfg.has("proxy") else set())

    def targets_up():
        out = stack.exec("prometheus", "wget", "-qO-", "http://127.0.0.1:9090/api/v1/targets", check=False)
        if out.returncode != 0:
            return False
        active = json.loads(out.stdout)["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in active}
        return health if all(health.get(job) == "up" for job in jobs) else False

    lib.wait_for(targets_up, 60, f"Prometheus targets {sorted(jobs)} to be up", interval=2)
    # Grafana here is offline-docker's FAKE stand-in (answers 200 to every GET): this only proves
    # the container, its healthcheck and its route/port are wired. Its provisioning files are
    # checked statically by the render tests.
    port, host = endpoint(cfg, stack, "grafana")
    r = lib.http(port, "/api/health", host=host)
    assert r.status == 200, f"grafana /api/health: {r}"


def check_api_hardening(stack: lib.Stack, merged: dict) -> None:
    api = stack.container("api")
    api.reload()
    assert api.attrs["Config"]["User"] == "10001:10001", api.attrs["Config"]["User"]
    ids = stack.exec("api", "python", "-c", "import os; print(os.getuid(), os.getgid())").stdout.split()
    assert ids == ["10001", "10001"], ids
    # every service the compose file marks read_only really runs with a read-only root FS
    for service, container in stack.containers().items():
        if merged["services"].get(service, {}).get("read_only"):
            assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True, f"{service} is not read-only"
    assert merged["services"]["api"].get("read_only") is True, "compose should run the api read_only"
    # as root (who owns /app), so only the read-only mount can refuse the write
    attempt = stack.exec(
        "api", "python", "-c", "open('/app/smoke-probe', 'w').write('x')", user="0", check=False
    )
    assert attempt.returncode != 0 and "Read-only file system" in attempt.stderr, (
        f"writing /app should fail with EROFS: rc={attempt.returncode} {attempt.stderr[-300:]}"
    )
    # ... while the tmpfs on /tmp stays writable for the app user
    stack.exec("api", "python", "-c", "open('/tmp/smoke-probe', 'w').write('x')")


# ------------------------------------------------------------------ the matrix
@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.id for c in CONFIGS])
def test_stack(cfg: Config, tmp_path, stacks, smoke_record):
    started = time.perf_counter()
    record = smoke_record
    record["config"] = cfg.id
    step = Steps(record)
    try:
        step("render")
        answers = {} if cfg.services is None else {"services": list(cfg.services)}
        project = copy(tmp_path / "project", **answers)
        lib.tag_standins(project)
        stack = stacks(project, dev=cfg.dev)

        step("build")
        stack.build()
        record["build"] = stack.timings["build"]

        step("up --wait")
        record["up"] = stack.up()

        step("every service healthy")
        check_health(cfg, stack)
        step("published ports")
        check_published_ports(cfg, stack)
        merged = stack.config()

        if cfg.has("api"):
            step("api over HTTP")
            check_api(cfg, stack)
        if cfg.has("frontend"):
            step("frontend over HTTP")
            check_frontend(cfg, stack)
        if cfg.has("nginx"):
            step("nginx over HTTP")
            check_nginx(cfg, stack)
        if cfg.dev:
            step("dev ports")
            check_dev_ports(cfg, stack)
        if cfg.has("observability"):
            step("observability")
            check_observability(cfg, stack)

        if cfg.has("api"):
            step("item round-trip")
            name = create_item(cfg, stack)
            if name is not None:
                step("data survives down + up")
                stack.down(volumes=False)
                record["re-up"] = stack.up("re-up")
                check_health(cfg, stack)
                assert_listed(cfg, stack, name)

            step("api crash → restarted healthy")
            before = stack.crash("api")
            stack.wait_healthy("api", timeout=90, restarted_after=before)
            port, host = endpoint(cfg, stack, "api")
            assert lib.http(port, "/healthz", host=host, retry_for=20).status == 200

            step("api user and read-only root FS")
            check_api_hardening(stack, merged)
        step("done")
    finally:
        record["total"] = time.perf_counter() - started
