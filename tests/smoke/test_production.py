"""The production layer of the default project (compose.prod.yml, the `vps` target), run for real.

Like deploy/vps/deploy.sh on a server, minus the registry: the default images are built with the
base layers (the suite's content-addressed tags, so a cache hit after test_stacks' `defaults`),
then tagged with a fake 40-hex git SHA, the tag CI would push; the stack runs with
.env.prod.example's COMPOSE_FILE (compose.prod.yml last: `build: !reset null`, images pinned by
API_TAG/FRONTEND_TAG) plus one test-only file that re-publishes the proxy on 127.0.0.1 only (and
leaves the backup service's logs with the engine's driver: test machines have no journald).

Checks: every service healthy (the backup service after its first dump into backups/, one-shots
`migrate` and `acme-init` exited 0, the acme volume
handed to Traefik's UID 65532), HTTP answers a redirect to https://<host>/, HTTPS serves the api
and the frontend with HSTS, but not the api's /metrics and API docs (Traefik's 404), the memory
limits and json-file log rotation of compose.prod.yml are what the engine applied. Let's Encrypt
cannot be reached from here (and the Cloudflare token is a dummy), so Traefik serves its default
self-signed certificate: the stack must stay healthy anyway.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import time
import uuid

import pytest

from dwsupport import matrix, probes, smoke
from dwsupport.compose import load_yaml_all
from dwsupport.dotenv import read_env
from dwsupport.render import copy

pytestmark = pytest.mark.docker

DOMAIN = "localhost"  # the questionnaire's default domain
# the default services, and compose.prod.yml's scheduled dumps of the database
LONG_RUNNING = {*matrix.DEFAULT_SERVICES, "backup"}
# it logs to journald in production (tests/test_vps.py checks that); test machines have none
JOURNALD = {"backup"}
ONE_SHOTS = {"migrate", "acme-init"}
OWN_IMAGES = {"api": "API_TAG", "frontend": "FRONTEND_TAG"}
TRAEFIK_UID = "65532"

_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def to_bytes(size) -> int:
    """A compose memory size ("512m", "1g", or a number of bytes) in bytes (compose's units are
    binary)."""
    match = re.fullmatch(r"(\d+)\s*([bkmg]?)b?", str(size).strip().lower())
    assert match, f"not a memory size: {size!r}"
    return int(match[1]) * _UNITS[match[2] or "b"]


def fake_git_sha() -> str:
    """40 hex digits, like the `github.sha` tag CI pushes; unique per run, so parallel runs and
    other configurations never share it."""
    return (uuid.uuid4().hex + uuid.uuid4().hex)[:40]


def check_health(stack: smoke.Stack) -> dict[str, dict]:
    return smoke.assert_healthy(stack, LONG_RUNNING, ONE_SHOTS)


def check_prod_model(merged: dict, sha: str, images: dict[str, str]) -> None:
    """The merged model really is the production one: pinned images, nothing built, and only
    the test's own 127.0.0.1 ports published."""
    services = merged["services"]
    for service in ("api", "migrate", "frontend"):
        repo = images["frontend" if service == "frontend" else "api"]
        assert services[service]["image"] == f"{repo}:{sha}", services[service]["image"]
        assert "build" not in services[service], f"{service} would be built on the server"
    published = {name: svc["ports"] for name, svc in services.items() if svc.get("ports")}
    assert set(published) == {"proxy"}, f"only the proxy may publish ports: {published}"
    hosts = {p.get("host_ip") for p in published["proxy"]}
    targets = sorted(p["target"] for p in published["proxy"])
    assert hosts == {"127.0.0.1"} and targets == [8080, 8443], published["proxy"]


def check_published_ports(stack: smoke.Stack) -> None:
    published = stack.published()
    expected = {
        ("proxy", 8080): [("127.0.0.1", str(stack.ports["PROXY_PORT"]))],
        ("proxy", 8443): [("127.0.0.1", str(stack.ports["HTTPS_PORT"]))],
    }
    assert published == expected, f"published {published}, expected {expected}"


def check_acme_volume(stack: smoke.Stack) -> None:
    """acme-init handed the fresh (root-owned) volume to Traefik's UID, mode 0700."""
    owner = stack.exec("proxy", "stat", "-c", "%u:%g %a", "/acme").stdout.split()
    assert owner == [f"{TRAEFIK_UID}:{TRAEFIK_UID}", "700"], f"/acme is {owner}, expected 65532:65532 700"
    # ... so that Traefik (as 65532, read-only root FS) can write its acme.json there
    stack.exec("proxy", "sh", "-c", "touch /acme/.smoke-probe && rm /acme/.smoke-probe")


def check_redirects(stack: smoke.Stack) -> None:
    """`web` only redirects: to the HTTPS URL a browser can follow (default port 443, because
    compose.prod.yml publishes 443 → 8443), path and query kept."""
    for host in (DOMAIN, f"api.{DOMAIN}"):
        for path in ("/", "/healthz?probe=1"):
            r = probes.http(stack.ports["PROXY_PORT"], path, host=host)
            assert r.status in (301, 302, 307, 308), f"http://{host}{path}: {r}"
            location = r.headers.get("location")
            assert location == f"https://{host}{path}", f"http://{host}{path} redirects to {location!r}"


def check_loopback_redirect(stack: smoke.Stack) -> None:
    """The local-only redirect of http://127.0.0.1:<port>/ by name (routes.yml, on `web`) never
    acts here: production's `web` sends every request to HTTPS first, the address included."""
    r = probes.http(stack.ports["PROXY_PORT"], "/", host="127.0.0.1")
    assert r.status in (301, 308) and r.headers.get("location") == "https://127.0.0.1/", str(r)


def check_unrouted_paths(stack: smoke.Stack) -> None:
    """https://api.<domain>/metrics and the API docs are not public: Traefik matches no route
    (its own plain-text 404, not the api's JSON one). Prometheus scrapes inside the network."""
    for path in ("/metrics", "/docs", "/openapi.json"):
        r = probes.http(stack.ports["HTTPS_PORT"], path, host=f"api.{DOMAIN}", tls=True)
        assert r.status == 404 and r.text == "404 page not found\n", f"https://api.{DOMAIN}{path}: {r}"


def check_https(stack: smoke.Stack, record: dict) -> None:
    port = stack.ports["HTTPS_PORT"]
    api = f"api.{DOMAIN}"
    r = probes.http(port, "/healthz", host=api, tls=True, retry_for=30)
    assert r.status == 200 and r.json() == {"status": "ok"}, str(r)
    hsts = r.headers.get("strict-transport-security", "")
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts, f"no HSTS over HTTPS: {r.headers}"
    assert r.headers.get("x-frame-options") == "DENY", r.headers
    # no Let's Encrypt here (offline, dummy token): Traefik falls back to its own certificate
    assert r.cert and b"TRAEFIK DEFAULT CERT" in r.cert, "expected Traefik's default certificate"
    record["cert"] = "traefik-default"

    r = probes.http(port, "/readyz", host=api, tls=True)
    assert r.status == 200, str(r)
    assert r.json()["checks"] == {"database": "ok", "cache": "ok"}, str(r)

    page = probes.http(port, "/", host=DOMAIN, tls=True)
    assert page.status == 200 and page.headers.get("content-type", "").startswith("text/html"), str(page)
    assert '<main id="app">' in page.text, page.text[:500]
    assert "max-age=31536000" in page.headers.get("strict-transport-security", ""), page.headers


def check_limits_and_logs(stack: smoke.Stack, prod_file: pathlib.Path) -> None:
    """What the engine applied is what compose.prod.yml asks for: memory limits (api and db
    above all, but every service that sets one) and json-file logs with rotation."""
    (prod,) = load_yaml_all(prod_file)
    wanted = {
        name: to_bytes(svc["deploy"]["resources"]["limits"]["memory"])
        for name, svc in prod["services"].items()
        if svc.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory")
    }
    assert {"api", "db"} <= set(wanted), f"compose.prod.yml should limit api and db memory: {wanted}"
    assert wanted["api"] == 512 * 1024**2 and wanted["db"] == 1024**3, wanted
    logging = prod["x-logging"]["logging"]
    containers = stack.containers()
    assert set(containers) == LONG_RUNNING | ONE_SHOTS, sorted(containers)
    problems = []
    for name, container in containers.items():
        container.reload()
        host = container.attrs["HostConfig"]
        if name in wanted and host["Memory"] != wanted[name]:
            problems.append(f"{name}: Memory={host['Memory']}, compose.prod.yml says {wanted[name]}")
        log = host["LogConfig"]
        if name in JOURNALD:
            continue
        if (
            log["Type"] != logging["driver"]
            or log["Config"].get("max-size") != logging["options"]["max-size"]
        ):
            problems.append(f"{name}: logging {log}, expected {logging}")
        if log["Config"].get("max-file") != str(logging["options"]["max-file"]):
            problems.append(f"{name}: logging {log}, expected max-file {logging['options']['max-file']}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def sha_tags():
    """tag_as(source_ref, repo, sha): the fake-SHA tags made, removed afterwards (untag only)."""
    client = smoke.docker_client()
    made: list[str] = []

    def tag_as(source: str, repo: str, sha: str) -> None:
        client.images.get(source).tag(repo, sha)
        made.append(f"{repo}:{sha}")

    yield tag_as
    for ref in made:
        # only the fake-SHA name goes; the image keeps its smoke-<hash> tag for the next run
        with contextlib.suppress(Exception):
            client.images.remove(ref, noprune=True)
    client.close()


def test_production(tmp_path, sha_tags, stacks, smoke_record, step):
    # sha_tags before stacks: fixtures end in reverse order, so `down -v` runs before the untag
    started = time.perf_counter()
    record = smoke_record
    record["config"] = "defaults+prod (vps)"
    try:
        step("render")
        project = copy(tmp_path / "project", **matrix.DEFAULTS.answers())
        smoke.tag_standins(project)

        step("build (base layers)")
        base = stacks(project)
        base.build()
        record["build"] = base.timings["build"]
        built = base.config()["services"]

        step("tag with a fake git SHA")
        sha = fake_git_sha()
        images = {}
        for service, var in OWN_IMAGES.items():
            ref = built[service]["image"]
            repo, _, tag = ref.rpartition(":")
            assert tag == base.env[var], f"{service} image {ref} is not the built tag {base.env[var]}"
            sha_tags(ref, repo, sha)
            images[service] = repo

        step("production settings")
        # Not generated (docs/deploy-vps.md: the operator writes the Cloudflare token).
        token = project / "secrets" / "cloudflare_dns_api_token.txt"
        token.write_text("smoke-dummy-cloudflare-token")
        token.chmod(0o644)
        # as bootstrap.sh makes it: the backup service writes there as BACKUP_UID (not root)
        backups = project / "backups"
        backups.mkdir(mode=0o700)
        owner = read_env(project / ".env.prod.example")
        os.chown(backups, int(owner["BACKUP_UID"]), int(owner["BACKUP_GID"]))
        stack = stacks(project)
        layer = tmp_path / "compose.smoke-ports.yml"
        prod_env = smoke.as_production(stack, layer, {"API_TAG": sha, "FRONTEND_TAG": sha})
        assert prod_env["COMPOSE_FILE"].endswith(":compose.prod.yml"), prod_env["COMPOSE_FILE"]
        check_prod_model(stack.config(), sha, images)

        step("up --wait")
        record["up"] = stack.up(wait_timeout=240)

        step("every service healthy")
        check_health(stack)
        step("acme volume owned by 65532")
        check_acme_volume(stack)
        step("published ports")
        check_published_ports(stack)
        step("HTTP → HTTPS redirect")
        check_redirects(stack)
        step("HTTPS: api, frontend, HSTS")
        check_https(stack, record)
        step("/metrics and the API docs not routed")
        check_unrouted_paths(stack)
        step("127.0.0.1 redirected to HTTPS like any request")
        check_loopback_redirect(stack)
        step("memory limits and log rotation")
        check_limits_and_logs(stack, project / "compose.prod.yml")

        step("still healthy (ACME failing in the background)")
        check_health(stack)
        proxy = stack.container("proxy")
        proxy.reload()
        assert proxy.attrs["RestartCount"] == 0, f"the proxy restarted:\n{stack.diagnostics()}"
        step("done")
    finally:
        record["total"] = time.perf_counter() - started
