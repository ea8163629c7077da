"""Build and run generated projects for real, one compose stack per configuration.

For each configuration: render (copier) → stand-ins tagged → `docker compose build` →
`up -d --wait` → every service healthy (the one-shot `migrate` exited 0) → published ports
exactly as promised, all on 127.0.0.1 → HTTP checks (through Traefik by Host header when the
proxy is chosen, else on each service's own port) → an item round-trip that survives
`down` + `up` → the api crashes and its restart policy brings it back healthy → Prometheus
scrapes the api → the api runs as 10001:10001 on a read-only root filesystem.

Image sharing between configurations is content-addressed (smoke.image_tags): a configuration
reuses another's api/frontend image only when its Dockerfile and build inputs are byte-identical;
each configuration still runs `docker compose build` (a cache hit when they are).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable

import pytest

from dwsupport import matrix, probes, smoke
from dwsupport.matrix import Combo
from dwsupport.render import copy

pytestmark = pytest.mark.docker


def is_dev(cfg: Combo) -> bool:
    """The `~dev` configurations run with compose-dev.yml on top."""
    return cfg.variant == "dev"


def containers_expected(cfg: Combo) -> tuple[set[str], set[str]]:
    """(long-running services, one-shot services) the stack must contain."""
    services = set()
    for name in ("db", "cache", "api", "frontend", "proxy", "nginx"):
        if cfg.has(name):
            services.add(name)
    if cfg.has("observability"):
        services |= {"prometheus", "grafana"}
    one_shots = {"migrate"} if cfg.has("api") and cfg.has("db") else set()
    return services, one_shots


# (chosen service, container, container port, the .env variable of its host port)
PROXIED = (("proxy", "proxy", 8080, "PROXY_PORT"),)
# without a proxy, each service a person browses publishes its own port
DIRECT = (
    ("api", "api", 8000, "API_PORT"),
    ("frontend", "frontend", 8080, "FRONTEND_PORT"),
    ("nginx", "nginx", 8080, "NGINX_PORT"),
    ("observability", "grafana", 3000, "GRAFANA_PORT"),
)
# compose-dev.yml adds these
DEV = (
    ("api", "api", 8000, "API_PORT"),
    ("proxy", "proxy", 8088, "PROXY_DASHBOARD_PORT"),
    ("db", "db", 5432, "DB_PORT"),
    ("cache", "cache", 6379, "CACHE_PORT"),
    ("observability", "prometheus", 9090, "PROMETHEUS_PORT"),
    ("observability", "grafana", 3000, "GRAFANA_PORT"),
)


def ports_expected(cfg: Combo) -> dict[tuple[str, int], str]:
    """(container, container port) → the .env variable of its host port. Nothing else may publish."""
    published = (PROXIED if cfg.has("proxy") else DIRECT) + (DEV if is_dev(cfg) else ())
    return {(container, port): var for service, container, port, var in published if cfg.has(service)}


def endpoint(cfg: Combo, stack: smoke.Stack, service: str) -> tuple[int, str]:
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


# ------------------------------------------------------------------ checks
def check_health(cfg: Combo, stack: smoke.Stack) -> None:
    smoke.assert_healthy(stack, *containers_expected(cfg))


def check_published_ports(cfg: Combo, stack: smoke.Stack) -> None:
    published = stack.published()
    expected = ports_expected(cfg)
    assert set(published) == set(expected), f"published {sorted(published)}, expected {sorted(expected)}"
    for key, bindings in published.items():
        want = [("127.0.0.1", str(stack.ports[expected[key]]))]
        assert bindings == want, f"{key} is published on {bindings}, expected {want} ({expected[key]})"


def check_api(cfg: Combo, stack: smoke.Stack) -> None:
    port, host = endpoint(cfg, stack, "api")
    r = probes.http(port, "/healthz", host=host)
    assert r.status == 200 and r.json() == {"status": "ok"}, str(r)
    r = probes.http(port, "/readyz", host=host)
    assert r.status == 200, str(r)
    assert r.json()["checks"] == {
        "database": "ok" if cfg.has("db") else "disabled",
        "cache": "ok" if cfg.has("cache") else "disabled",
    }, str(r)
    if cfg.has("proxy"):
        # Traefik's security-headers middleware is on every route
        assert r.headers.get("x-frame-options") == "DENY", r.headers
        # the proxy never routes /metrics (Prometheus scrapes it inside the network: see
        # check_observability) nor the API docs: Traefik's own 404, not the api's
        for path in ("/metrics", "/docs", "/openapi.json"):
            assert_proxy_404(port, path, host)
    # the api itself: on its own port without a proxy, and in dev (compose-dev.yml publishes it)
    direct = stack.ports["API_PORT"] if is_dev(cfg) or not cfg.has("proxy") else None
    if direct is not None:
        r = probes.http(direct, "/metrics")
        if cfg.has("observability"):
            assert r.status == 200 and "http_requests_total" in r.text, str(r)
        else:
            assert r.status == 404, f"/metrics should be off without observability: {r}"
    if is_dev(cfg):
        assert probes.http(direct or 0, "/healthz").status == 200, "api on API_PORT (dev)"
        r = probes.http(direct or 0, "/docs")
        assert r.status == 200 and "swagger" in r.text.lower(), f"/docs on the api's port (dev): {r}"


def assert_proxy_404(port: int, path: str, host: str) -> None:
    """Traefik itself answers 404 (no router matches): its plain-text body, not the api's JSON."""
    r = probes.http(port, path, host=host)
    assert r.status == 404 and r.text == "404 page not found\n", (
        f"{path} via the proxy (Host {host}) must match no route: {r}"
    )


def check_loopback_redirect(cfg: Combo, stack: smoke.Stack) -> None:
    """http://127.0.0.1:<port>/ has no host name to route by: Traefik sends the browser to the
    same port by name (the frontend's, or the bare domain's service)."""
    port = stack.ports["PROXY_PORT"]
    r = probes.http(port, "/items?x=1", host=f"127.0.0.1:{port}")
    home = "localhost" if cfg.has("frontend") or cfg.has("nginx") else "api.localhost"
    assert r.status in (302, 307) and r.headers.get("location") == f"http://{home}:{port}/items?x=1", str(r)


def check_frontend(cfg: Combo, stack: smoke.Stack) -> None:
    port, host = endpoint(cfg, stack, "frontend")
    page = probes.http(port, "/", host=host)
    assert page.status == 200 and page.headers.get("content-type", "").startswith("text/html"), str(page)
    assert '<main id="app">' in page.text, page.text[:500]
    scripts = re.findall(r'<script[^>]+type="module"[^>]+src="([^"]+)"', page.text)
    assert scripts, f"no module script in the page: {page.text[:500]}"
    asset = probes.http(port, scripts[0], host=host)
    assert asset.status == 200 and "javascript" in asset.headers.get("content-type", ""), str(asset)
    if not is_dev(cfg):
        assert probes.http(port, "/healthz", host=host).status == 200
    if cfg.has("api"):
        check_frontend_calls_the_api(cfg, stack, page, asset)


def check_frontend_calls_the_api(
    cfg: Combo, stack: smoke.Stack, page: probes.Response, script: probes.Response
) -> None:
    """This stack runs on ports of its own, never .env's: the api URL built into the page (or
    given to the dev server) and the api's CORS origin followed them (compose interpolation of
    PROXY_PORT, or API_PORT and FRONTEND_PORT), and the browser's preflight passes."""
    api_port, api_host = endpoint(cfg, stack, "api")
    page_port, page_host = endpoint(cfg, stack, "frontend")
    api_url, origin = f"http://{api_host}:{api_port}", f"http://{page_host}:{page_port}"
    if is_dev(cfg):  # Vite serves the value in the module that reads import.meta.env
        main = probes.http(page_port, "/src/main.ts", host=page_host)
        assert f'"VITE_API_URL": "{api_url}"' in main.text, main.text[:800]
    else:
        assert api_url in script.text, f"{api_url} is not the api URL in the bundle"
        # the build arg also reached the CSP (frontend/scripts/csp.mjs): connect-src allows it
        csp = page.headers.get("content-security-policy", "")
        assert api_url in csp, f"{api_url!r} not in the CSP: {csp!r}"
    preflight = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    r = probes.http(api_port, "/items", host=api_host, method="OPTIONS", headers=preflight)
    assert r.status == 200 and r.headers.get("access-control-allow-origin") == origin, (
        f"CORS preflight from {origin}: {r} {r.headers}"
    )
    other = {**preflight, "Origin": "http://evil.localhost:1"}
    r = probes.http(api_port, "/items", host=api_host, method="OPTIONS", headers=other)
    assert "access-control-allow-origin" not in r.headers, f"another origin is allowed: {r.headers}"


def check_nginx(cfg: Combo, stack: smoke.Stack) -> None:
    port, host = endpoint(cfg, stack, "nginx")
    r = probes.http(port, "/robots.txt", host=host)
    assert r.status == 200 and "User-agent" in r.text, str(r)
    assert r.headers.get("x-content-type-options") == "nosniff", r.headers
    assert r.headers.get("cache-control") == "no-cache", r.headers
    css = probes.http(port, "/css/site.css", host=host)
    assert css.status == 200 and css.headers.get("content-type", "").startswith("text/css"), str(css)
    assert css.headers.get("cache-control") == "public, max-age=604800", css.headers
    assert probes.http(port, "/no-such-file.txt", host=host).status == 404


def check_dev_ports(cfg: Combo, stack: smoke.Stack) -> None:
    """compose-dev.yml: the dashboard, the database and the cache answer on their host ports."""
    if cfg.has("proxy"):
        r = probes.http(stack.ports["PROXY_DASHBOARD_PORT"], "/api/http/routers")
        assert r.status == 200, str(r)
        routers = {router["name"] for router in r.json()}
        assert {"api@file", "frontend@file"} <= routers, routers
    if cfg.has("db"):
        # PostgreSQL's SSLRequest: a postgres server answers a single 'S' or 'N'
        ssl_request = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")
        answer = probes.tcp_exchange(stack.ports["DB_PORT"], ssl_request)
        assert answer in (b"S", b"N"), answer
    if cfg.has("cache"):
        answer = probes.tcp_exchange(stack.ports["CACHE_PORT"], b"PING\r\n")
        assert answer.startswith(b"-NOAUTH"), f"redis must require its password: {answer!r}"
    if cfg.has("observability"):
        r = probes.http(stack.ports["PROMETHEUS_PORT"], "/-/ready")
        assert r.status == 200, str(r)


def create_item(cfg: Combo, stack: smoke.Stack) -> str | None:
    port, host = endpoint(cfg, stack, "api")
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    r = probes.http(port, "/items", host=host, method="POST", payload={"name": name})
    if not cfg.has("db"):
        assert r.status == 503, f"without a database POST /items must be 503: {r}"
        return None
    assert r.status == 201, str(r)
    created = r.json()
    assert created["name"] == name and isinstance(created["id"], int) and created["created_at"], created
    assert_listed(cfg, stack, name)
    return name


def assert_listed(cfg: Combo, stack: smoke.Stack, name: str) -> None:
    port, host = endpoint(cfg, stack, "api")
    r = probes.http(port, "/items", host=host)
    assert r.status == 200, str(r)
    names = [item["name"] for item in r.json()]
    assert names and names[0] == name, f"{name!r} should be listed first (newest): {names[:5]}"


def check_observability(cfg: Combo, stack: smoke.Stack) -> None:
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

    probes.wait_for(targets_up, 60, f"Prometheus targets {sorted(jobs)} to be up", interval=2)
    # Grafana here is offline-docker's FAKE stand-in (answers 200 to every GET): this only proves
    # the container, its healthcheck and its route/port are wired. Its provisioning files are
    # checked statically by the render tests.
    port, host = endpoint(cfg, stack, "grafana")
    r = probes.http(port, "/api/health", host=host)
    assert r.status == 200, f"grafana /api/health: {r}"


def check_api_hardening(cfg: Combo, stack: smoke.Stack, merged: dict) -> None:
    api = stack.container("api")
    api.reload()
    # dev: the UID alone, which the dev image's passwd resolves (Compose Watch needs that)
    assert api.attrs["Config"]["User"] == ("10001" if is_dev(cfg) else "10001:10001"), api.attrs["Config"][
        "User"
    ]
    ids = stack.exec("api", "python", "-c", "import os; print(os.getuid(), os.getgid())").stdout.split()
    assert ids == ["10001", "10001"], ids
    # every service the compose file marks read_only really runs with a read-only root FS
    for service, container in stack.containers().items():
        if merged["services"].get(service, {}).get("read_only"):
            assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True, f"{service} is not read-only"
    if is_dev(cfg):
        # Compose Watch writes the synced code into the dev container: not read-only, on purpose
        assert not merged["services"]["api"].get("read_only"), "the dev api must accept Watch's copies"
        return
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


# (step, whether it applies to a configuration, the check), in the order they run
SERVICE_CHECKS: tuple[tuple[str, Callable[[Combo], bool], Callable[[Combo, smoke.Stack], None]], ...] = (
    ("api over HTTP", lambda cfg: cfg.has("api"), check_api),
    ("frontend over HTTP", lambda cfg: cfg.has("frontend"), check_frontend),
    ("127.0.0.1 redirected by name", lambda cfg: cfg.has("proxy"), check_loopback_redirect),
    ("nginx over HTTP", lambda cfg: cfg.has("nginx"), check_nginx),
    ("dev ports", is_dev, check_dev_ports),
    ("observability", lambda cfg: cfg.has("observability"), check_observability),
)


# ------------------------------------------------------------------ the matrix
# The defaults first: they build the api and the proxied frontend that later ones reuse.
@pytest.mark.parametrize("cfg", matrix.SMOKE, ids=str)
def test_stack(cfg: Combo, tmp_path, stacks, smoke_record, step):
    started = time.perf_counter()
    record = smoke_record
    record["config"] = cfg.id
    try:
        step("render")
        project = copy(tmp_path / "project", **cfg.answers())
        smoke.tag_standins(project)
        stack = stacks(project, dev=is_dev(cfg))

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

        for label, applies, check in SERVICE_CHECKS:
            if applies(cfg):
                step(label)
                check(cfg, stack)

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
            assert probes.http(port, "/healthz", host=host, retry_for=20).status == 200

            step("api user and read-only root FS")
            check_api_hardening(cfg, stack, merged)
        step("done")
    finally:
        record["total"] = time.perf_counter() - started
