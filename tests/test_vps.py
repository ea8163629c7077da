"""Promise: the VPS target is a production compose layer that merges with every service set
(restart, limits, log rotation, pinned images, no builds or source mounts, only the proxy on
80/443 with HTTPS and ACME), plus shellcheck-clean bootstrap and deploy scripts whose deploy
rolls back to the previous tag when the new one does not come up healthy."""

from __future__ import annotations

import os
import pathlib
import re
import textwrap

import pytest
import yaml

from dwsupport import matrix
from dwsupport.compose import compose_binary, compose_config, compose_prod
from dwsupport.dotenv import compose_layers, read_env
from dwsupport.matrix import Combo
from dwsupport.render import Renders
from dwsupport.tools import fake_command, run, tool

ONE_SHOT = {"migrate", "acme-init"}
OWN_IMAGES = {"api", "migrate", "frontend"}
# The backup services log to the host's journal (journalctl -t <slug>-backup) as well as to
# `docker compose logs`; the backup service writes its dumps into ./backups (docs/backups.md).
JOURNALD = {"backup", "offsite"}
WRITABLE_BINDS = {("backup", "backups")}
TAG = "0123abc"


@pytest.mark.parametrize("combo", matrix.VPS, ids=str)
def test_production_stack_merges_and_is_hardened(renders, combo):
    project = renders.of(combo).root
    config = compose_prod(project, TAG)
    assert set(config["services"]) >= set(combo.services) - {"observability"}
    for name, service in config["services"].items():
        assert "build" not in service, f"{name} is built on the server"
        image = service["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
        if name in OWN_IMAGES:
            assert image.endswith(f":{TAG}"), image
        assert service["restart"] == ("no" if name in ONE_SHOT else "unless-stopped"), name
        logging = service.get("logging", {})
        if name in JOURNALD:
            tag = f"{renders.of(combo).answers['project_slug']}-backup"
            assert logging == {"driver": "journald", "options": {"tag": tag}}, name
        else:
            assert logging.get("driver") == "json-file" and logging["options"]["max-size"], name
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert {"cpus", "memory", "pids"} <= set(limits), f"{name}: {limits}"
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                relative = os.path.relpath(volume["source"], project)
                writable = (name, relative) in WRITABLE_BINDS
                assert volume.get("read_only") or writable, f"{name}: writable bind mount {volume['source']}"
                assert not relative.startswith(("api", "frontend", "..")), f"{name}: source mount {relative}"
        for port in service.get("ports", []):
            if name == "proxy":
                assert port.get("host_ip") in (None, "0.0.0.0"), port
            else:
                assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port}"
    if combo.has("proxy"):
        proxy = config["services"]["proxy"]
        assert {(int(p["published"]), p["target"]) for p in proxy["ports"]} == {(80, 8080), (443, 8443)}
        mounts = {v["target"]: v for v in proxy["volumes"]}
        assert mounts["/etc/traefik/traefik.yml"]["source"].endswith("/traefik/traefik.prod.yml")
        assert mounts["/acme"]["type"] == "volume"
        secret_targets = {f"/run/secrets/{s['source']}" for s in proxy["secrets"]}
        assert proxy["environment"]["CF_DNS_API_TOKEN_FILE"] in secret_targets
        assert config["services"]["acme-init"]["cap_add"] == ["CHOWN"]
        assert proxy["depends_on"]["acme-init"]["condition"] == "service_completed_successfully"
    else:
        assert "acme-init" not in config["services"]


def test_production_stack_needs_pinned_tags(renders):
    project = renders.of(Combo(("api", "db"))).root
    proc = run(
        [*compose_binary(), "--env-file", ".env.prod.example", "config", "-q"],
        cwd=project,
        env={"API_TAG": "", "FRONTEND_TAG": ""},
        check=False,
    )
    assert proc.returncode != 0 and "API_TAG" in proc.stderr


@pytest.mark.parametrize("combo", matrix.deploy(("vps",)), ids=str)
def test_env_prod_example(renders, combo):
    project = renders.of(combo).root
    env = read_env(project / ".env.prod.example")
    layers = compose_layers(project, ".env.prod.example")
    assert layers[-1] == "compose.prod.yml" and "compose-dev.yml" not in layers
    assert all((project / layer).exists() for layer in layers)
    assert env["APP_ENV"] == "production"
    assert ("API_TAG" in env) == combo.has("api") and ("FRONTEND_TAG" in env) == combo.has("frontend")
    assert not any(re.search("PASSWORD|TOKEN|SECRET", key) for key in env)


@pytest.mark.parametrize("combo", matrix.TRAEFIK_PROD, ids=str)
def test_traefik_production_config(renders, combo):
    project = renders.of(combo).root
    static = yaml.safe_load((project / "traefik" / "traefik.prod.yml").read_text())
    base = yaml.safe_load((project / "traefik" / "traefik.yml").read_text())
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    entry = static["entryPoints"]
    # same ports and providers as the base config, so compose and routes need no change
    for name in base["entryPoints"]:
        assert entry[name]["address"] == base["entryPoints"][name]["address"]
    assert static["providers"] == base["providers"] and static["ping"] == base["ping"]
    redirect = entry["web"]["http"]["redirections"]["entryPoint"]
    assert redirect == {"to": ":443", "scheme": "https", "permanent": True}
    assert entry["websecure"]["address"] == ":8443" and entry["websecure"]["asDefault"] is True
    assert not entry["web"].get("asDefault")
    resolver = entry["websecure"]["http"]["tls"]["certResolver"]
    resolvers = static["certificatesResolvers"]
    assert resolvers[resolver]["acme"]["dnsChallenge"]["provider"] == "cloudflare"
    assert resolvers["letsencrypt-http"]["acme"]["httpChallenge"]["entryPoint"] == "web"
    for acme in (r["acme"] for r in resolvers.values()):
        assert acme["storage"].startswith("/acme/") and acme["email"] == answers["acme_email"]
    assert "api" not in static, "no dashboard in production"
    # routers without entryPoints attach to the default (websecure): TLS applies to every route.
    # The one exception only redirects, on `web`, which production redirects to HTTPS first.
    routes = yaml.safe_load((project / "traefik" / "dynamic" / "routes.yml").read_text())
    for name, router in routes["http"]["routers"].items():
        if router["service"] == "noop@internal":
            assert router["entryPoints"] == ["web"] and router["rule"] == "Host(`127.0.0.1`)", name
            assert all("redirectRegex" in routes["http"]["middlewares"][m] for m in router["middlewares"])
            continue
        assert set(router.get("entryPoints", ["websecure"])) == {"websecure"}, name


@pytest.mark.parametrize("combo", matrix.VPS, ids=str)
def test_scripts_are_shellcheck_clean(renders, combo):
    project = renders.of(combo).root
    scripts = sorted((project / "deploy").rglob("*.sh")) + sorted((project / "cloudrun").glob("*.sh"))
    assert {p.name for p in scripts} >= {"bootstrap.sh", "deploy.sh"}
    for script in scripts:
        assert os.access(script, os.X_OK), script
        run(["bash", "-n", str(script)])
    run([tool("shellcheck"), *map(str, scripts)])


def test_no_vps_files_without_the_target(renders):
    project = renders.of(Combo(("api", "db", "proxy"), ("gke",))).root
    for path in ("compose.prod.yml", ".env.prod.example", "deploy/vps", "traefik/traefik.prod.yml"):
        assert not (project / path).exists(), path


# ------------------------------------------------------------------ deploy.sh behaviour
FAKE_DOCKER = textwrap.dedent("""\
    #!/usr/bin/env bash
    # records every call with the release it ran with; `up` fails for the tag in FAIL_TAG, the
    # migrations (`compose run --rm migrate`) for the tag in FAIL_MIGRATE
    printf '%s %s\\n' "${API_TAG:-}" "$*" >> "$DOCKER_LOG"
    printf '%s %s %s\\n' "${API_IMAGE:-}" "${API_TAG:-}" "${API_DIGEST:-}" >> "$DOCKER_LOG.release"
    if [[ "$1 $2" == "compose up" && "${API_TAG:-}" == "${FAIL_TAG:--}" ]]; then exit 1; fi
    if [[ "$1 $2 $4" == "compose run migrate" && "${API_TAG:-}" == "${FAIL_MIGRATE:--}" ]]; then exit 1; fi
    exit 0
    """)
DIGEST = "sha256:" + "ab" * 32


def fake_docker_env(tmp_path: pathlib.Path) -> tuple[dict[str, str], pathlib.Path]:
    log = tmp_path / "docker.log"
    return {"PATH": fake_command(tmp_path / "bin", "docker", FAKE_DOCKER), "DOCKER_LOG": str(log)}, log


def server_copy(renders: Renders, combo: Combo, tmp_path: pathlib.Path) -> pathlib.Path:
    """The project as on the server: .env from .env.prod.example, the DNS token file there."""
    project = renders.of(combo).copy_to(tmp_path / "p")
    (project / ".env").write_text((project / ".env.prod.example").read_text())
    (project / "secrets" / "cloudflare_dns_api_token.txt").write_text("")
    return project


@pytest.fixture
def vps_project(
    renders: Renders, tmp_path: pathlib.Path
) -> tuple[pathlib.Path, dict[str, str], pathlib.Path]:
    project = server_copy(renders, Combo(("api", "db", "frontend", "proxy")), tmp_path)
    env, log = fake_docker_env(tmp_path)
    return project, env, log


def test_deploy_records_releases_and_rolls_back(vps_project):
    project, env, log = vps_project
    deploy = ["bash", str(project / "deploy" / "vps" / "deploy.sh")]
    run([*deploy, "v1"], env=env)
    assert read_env(project / ".env")["API_TAG"] == "v1" == read_env(project / ".env")["FRONTEND_TAG"]
    run([*deploy, "v2"], env=env)
    assert read_env(project / ".env")["API_TAG"] == "v2"
    previous = read_env(project / "deploy" / "vps" / ".previous-release")
    assert previous["API_TAG"] == "v1" == previous["FRONTEND_TAG"]
    calls = log.read_text().splitlines()
    assert "v2 compose pull --quiet" in calls
    assert any(c.startswith("v2 compose up -d --wait") for c in calls)

    log.write_text("")
    proc = run([*deploy, "v3"], env={**env, "FAIL_TAG": "v3"}, check=False)
    assert proc.returncode != 0 and "rolled back to the previous release" in proc.stderr
    ups = [c.split()[0] for c in log.read_text().splitlines() if " compose up " in c]
    assert ups == ["v3", "v2"]
    assert read_env(project / ".env")["API_TAG"] == "v2", ".env keeps the release that runs"

    run([*deploy, "--rollback"], env=env)
    assert read_env(project / ".env")["API_TAG"] == "v1"


def test_deploy_pulls_the_verified_digest_and_records_it(vps_project):
    """The deploy workflow passes API_IMAGE/API_DIGEST (what it verified); deploy.sh runs that
    digest and writes it into .env, so plain `docker compose` commands on the server run it too."""
    project, env, log = vps_project
    deploy = ["bash", str(project / "deploy" / "vps" / "deploy.sh")]
    release = {"API_IMAGE": "ghcr.io/acme/shop/api", "API_DIGEST": DIGEST, "FRONTEND_DIGEST": DIGEST}
    run([*deploy, "1.2.3"], env={**env, **release})
    assert f"ghcr.io/acme/shop/api 1.2.3 {DIGEST}" in (log.parent / "docker.log.release").read_text()
    recorded = read_env(project / ".env")
    assert {k: recorded[k] for k in release} == release and recorded["API_TAG"] == "1.2.3"
    config = compose_config(project)  # the server's .env, as `docker compose up` reads it
    assert config["services"]["api"]["image"] == f"ghcr.io/acme/shop/api:1.2.3@{DIGEST}"
    assert config["services"]["migrate"]["image"] == f"ghcr.io/acme/shop/api:1.2.3@{DIGEST}"
    frontend = read_env(project / ".env.prod.example")["FRONTEND_IMAGE"]
    assert config["services"]["frontend"]["image"] == f"{frontend}:1.2.3@{DIGEST}"
    # a deploy by hand (no digest passed) keeps the repository .env names, by tag
    run([*deploy, "1.2.4"], env=env)
    config = compose_config(project)
    assert config["services"]["api"]["image"] == "ghcr.io/acme/shop/api:1.2.4"


@pytest.mark.parametrize(
    "bad",
    [
        {"API_DIGEST": "sha256:abc"},
        {"API_DIGEST": "latest"},
        {"API_IMAGE": "ghcr.io/Acme/api"},
        {"API_IMAGE": "ghcr.io/acme/api;rm -rf /"},
    ],
)
def test_deploy_refuses_a_malformed_image_or_digest(vps_project, bad):
    project, env, log = vps_project
    proc = run(["bash", str(project / "deploy" / "vps" / "deploy.sh"), "v1"], env={**env, **bad}, check=False)
    assert proc.returncode != 0 and "error:" in proc.stderr and not log.exists()


def test_migrations_run_before_the_api_is_replaced(vps_project):
    """compose would stop the running api before a failing migrate: deploy.sh migrates first
    (`docker compose run --rm migrate`), and a failure replaces nothing."""
    project, env, log = vps_project
    deploy = ["bash", str(project / "deploy" / "vps" / "deploy.sh")]
    run([*deploy, "v1"], env=env)
    calls = [c.split(" ", 1)[1] for c in log.read_text().splitlines()]
    assert calls.index("compose run --rm migrate") < next(
        i for i, c in enumerate(calls) if c.startswith("compose up")
    )
    log.write_text("")
    proc = run([*deploy, "v2"], env={**env, "FAIL_MIGRATE": "v2"}, check=False)
    assert proc.returncode != 0 and "nothing was replaced" in proc.stderr
    assert not [c for c in log.read_text().splitlines() if " compose up " in c], "the running api stays"
    assert read_env(project / ".env")["API_TAG"] == "v1"


@pytest.mark.parametrize("tag", ["latest", "a b", "-rf", ""])
def test_deploy_refuses_unpinned_tags(vps_project, tag):
    project, env, log = vps_project
    proc = run(["bash", str(project / "deploy" / "vps" / "deploy.sh"), tag], env=env, check=False)
    assert proc.returncode != 0 and not log.exists()


def test_usage_from_another_directory(vps_project, tmp_path):
    """`--help` and a usage error read the usage text from the script itself, wherever it is
    called from (it cds to the project first)."""
    project, env, log = vps_project
    elsewhere = tmp_path / "some" / "other" / "directory"
    elsewhere.mkdir(parents=True)
    script = os.path.relpath(project / "deploy" / "vps" / "deploy.sh", elsewhere)
    helped = run(["bash", script, "--help"], cwd=elsewhere, env=env)
    assert helped.stdout.startswith("Deploy a release of") and "deploy/vps/deploy.sh TAG" in helped.stdout
    wrong = run(["bash", script], cwd=elsewhere, env=env, check=False)
    assert wrong.returncode == 2 and "deploy/vps/deploy.sh TAG" in wrong.stderr
    assert "can't read" not in wrong.stderr + helped.stderr and not log.exists()


def test_nginx_alone_deploys_no_image_of_its_own(renders, tmp_path):
    project = server_copy(renders, Combo(("nginx",)), tmp_path)
    script = (project / "deploy" / "vps" / "deploy.sh").read_text()
    assert not re.search(r"\bapi\b|API_|FRONTEND_|frontend", script), "no api or frontend image here"
    env, log = fake_docker_env(tmp_path)
    run(["bash", str(project / "deploy" / "vps" / "deploy.sh"), "0123abc"], env=env)
    calls = log.read_text().splitlines()
    assert any(" compose up -d --wait" in c for c in calls)
    proc = run(["bash", str(project / "deploy" / "vps" / "deploy.sh"), "--rollback"], env=env, check=False)
    assert proc.returncode != 0


@pytest.mark.parametrize("combo", matrix.deploy(("vps", "private")), ids=str)
def test_private_network_build_layer_passes_the_corporate_ca(renders, combo):
    """compose.private.yml (private target) adds the optional `corporate_ca` build secret."""
    project = renders.of(combo).root
    config = compose_config(
        project,
        layers=[*compose_layers(project, ".env.example"), "compose.private.yml"],
        env={"CORPORATE_CA_FILE": "/etc/ssl/certs/ca-certificates.crt"},
    )
    for name, service in config["services"].items():
        if "build" in service:
            assert service["build"]["secrets"] == [{"source": "corporate_ca"}] or [
                s["source"] for s in service["build"]["secrets"]
            ] == ["corporate_ca"], name
    if combo.has("api") or combo.has("frontend"):
        assert config["secrets"]["corporate_ca"]["file"] == "/etc/ssl/certs/ca-certificates.crt"
