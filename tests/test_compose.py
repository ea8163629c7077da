"""Compose layers merge (`docker compose config`) and the merged model keeps our promises:
healthchecks, healthy-conditioned depends_on, hardening, 127.0.0.1-only ports, internal backend."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from dwsupport.compose import compose_config, load_yaml_all
from dwsupport.dotenv import compose_layers
from dwsupport.tools import run, tool

ONE_SHOT = {"migrate"}
# db's entrypoint starts as root to own its data directory, then drops to the postgres user.
ROOT_THEN_DROPS = {"db"}


# The services a person browses: without a proxy each publishes its own port on 127.0.0.1.
BROWSED = {"api", "frontend", "nginx", "grafana"}


@pytest.fixture(scope="module")
def configs(sweep_project: pathlib.Path) -> dict[str, dict[str, Any]]:
    base = compose_layers(sweep_project)
    return {
        "base": compose_config(sweep_project, layers=base),
        "dev": compose_config(sweep_project, layers=[*base, "compose-dev.yml"]),
    }


def test_layers_are_the_chosen_services(sweep, sweep_project):
    # compose.yml, then one layer per chosen service in merge order (data, api, web, proxy, o11y)
    expected = sweep.context["compose_layers"]
    assert compose_layers(sweep_project) == expected
    for name in [*expected, "compose-dev.yml"]:
        assert (sweep_project / name).is_file()
    on_disk = {p.name for p in sweep_project.glob("compose*.yml")} - {
        "compose-dev.yml",
        "compose.prod.yml",
        "compose.private.yml",
    }
    assert on_disk == set(expected), "a compose file for a service that was not chosen"


def test_no_version_key(sweep_project):
    for path in sweep_project.glob("compose*.yml"):
        for doc in load_yaml_all(path):
            assert "version" not in doc, path.name


def test_compose_schema(sweep_project, tmp_path):
    # compose's own YAML tags (!reset, !override) are not plain YAML: validate the parsed documents.
    files = []
    for path in sorted(sweep_project.glob("compose*.yml")):
        target = tmp_path / f"{path.stem}.json"
        target.write_text(json.dumps(load_yaml_all(path)[0]))
        files.append(str(target))
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", *files])


def test_dev_layer_merges_with_admin_profile(sweep_project):
    config = compose_config(
        sweep_project, "--profile", "admin", layers=[*compose_layers(sweep_project), "compose-dev.yml"]
    )
    assert ("pgadmin" in config["services"]) == ("db" in config["services"])


@pytest.mark.parametrize("which", ["base", "dev"])
def test_every_long_running_service_is_healthchecked_and_hardened(configs, which):
    services = configs[which]["services"]
    for name, svc in services.items():
        if name in ONE_SHOT:
            assert svc.get("restart") in (None, "no"), name
            continue
        check = svc.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
        assert svc.get("cap_drop") == ["ALL"], name
        assert svc.get("restart") == "unless-stopped", name
        if which == "base":
            assert svc.get("read_only") is True, f"{name}: root file system is writable"
        if name not in ROOT_THEN_DROPS:
            user = str(svc.get("user", ""))
            assert user and user.split(":")[0].isdigit() and user.split(":")[0] != "0", (
                f"{name}: must run as a numeric non-root user, has {user!r}"
            )
        assert not svc.get("privileged"), name
        for volume in svc.get("volumes", []):
            assert "docker.sock" not in str(volume.get("source", "")), f"{name} mounts the Docker socket"


@pytest.mark.parametrize("which", ["base", "dev"])
def test_depends_on_waits_for_health(configs, which):
    services = configs[which]["services"]
    for name, svc in services.items():
        for dep, spec in svc.get("depends_on", {}).items():
            wanted = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert spec["condition"] == wanted, f"{name} -> {dep}: {spec['condition']}"


@pytest.mark.parametrize("which", ["base", "dev"])
def test_ports_bind_loopback_only(configs, which):
    for name, svc in configs[which]["services"].items():
        for port in svc.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond loopback"


def test_only_the_entry_services_publish(configs):
    """With the proxy, only the proxy publishes a port; without it, each service a person
    browses publishes its own (and nothing else does)."""
    services = configs["base"]["services"]
    publishing = {n for n, s in services.items() if s.get("ports")}
    assert publishing == ({"proxy"} if "proxy" in services else BROWSED & set(services))


def test_backend_is_internal_and_holds_the_data_services(configs):
    config = configs["base"]
    # compose drops networks no service joins (a sweep_project with neither api nor data services)
    if "backend" in config["networks"]:
        assert config["networks"]["backend"].get("internal") is True
    for name in ("db", "cache"):
        if name in config["services"]:
            assert set(config["services"][name]["networks"]) == {"backend"}


def test_images_are_pinned_and_known(configs, sweep):
    known = set(sweep.context["images"].values())
    # the project's own images, and their dev-stage images (compose-dev.yml)
    own = {
        f"{sweep.context[key]}{suffix}" for key in ("api_image", "frontend_image") for suffix in ("", "-dev")
    }
    for name, svc in configs["dev"]["services"].items():
        image = svc["image"]
        if image.rsplit(":", 1)[0] in own:
            continue
        assert image in known, f"{name}: {image} is not pinned in extensions/images.yml"


def test_secret_files_exist_for_every_declared_secret(configs, sweep_project):
    for which in ("base", "dev"):
        for name, secret in configs[which].get("secrets", {}).items():
            path = pathlib.Path(secret["file"])
            assert path.is_file(), f"secret {name}: {path} was not generated"


def test_api_reads_passwords_from_files(configs):
    api = configs["base"]["services"].get("api")
    if not api:
        pytest.skip("no api in this combination")
    env = api.get("environment", {})
    assert not [k for k in env if k.endswith("PASSWORD")], "passwords must come from *_FILE secrets"
    for key, value in env.items():
        if key.endswith("_PASSWORD_FILE"):
            assert value.startswith("/run/secrets/")
