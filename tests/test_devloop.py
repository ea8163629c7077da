"""Promise: the generated project's local loop keeps what its README, Makefile and .env say.

- Every make target that runs compose stops, saying "run `make env-sync`", exit code != 0 and
  docker never called, when .env lacks its layers; with them, `make dev` passes the layers plus
  compose-dev.yml (also on a fresh clone, before .env exists).
- Every command the generated README prints is run: its `docker compose -f …` forms through
  `config`, its `make` targets exist. The README's table of which layer needs which is true:
  compose refuses each layer without what the table says it needs.
- Every .env setting is read by a compose file, and every variable a compose file reads is in
  .env.example; the frontend's api URL and the api's CORS origin follow the host ports.
- compose-dev.yml syncs the code with Compose Watch into directories the container user owns
  (the dev stages' `COPY --chown`), mounts no source and declares no anonymous volume.
- pgAdmin's servers.json passes pgAdmin's own import rules and names the database compose runs.
The same things run for real in tests/smoke/test_devloop.py (Docker).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import subprocess
import textwrap
from typing import Any

import pytest

from dwsupport import REPO, load_module, matrix
from dwsupport.compose import compose_binary, compose_config, load_yaml_all
from dwsupport.dotenv import compose_layers, read_env
from dwsupport.render import Renders
from dwsupport.tools import fake_command, run

# the make targets that run docker compose (all of them need the layers)
COMPOSE_TARGETS = ("up", "dev", "down", "logs", "ps", "build", "config", "test", "lint", "clean")
HINT = "make env-sync"

FAKE_DOCKER = textwrap.dedent("""\
    #!/usr/bin/env bash
    # records each call: COMPOSE_FILE as the call saw it, then the arguments
    printf '%s|%s\\n' "${COMPOSE_FILE-<unset>}" "$*" >> "$DOCKER_LOG"
    """)


@pytest.fixture
def fake_docker(tmp_path: pathlib.Path) -> tuple[dict[str, str], pathlib.Path]:
    """(environment with a recording `docker` first on PATH, its log)."""
    log = tmp_path / "docker.log"
    env = {"PATH": fake_command(tmp_path / "bin", "docker", FAKE_DOCKER), "DOCKER_LOG": str(log)}
    return env, log


def make(project: pathlib.Path, target: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # COMPOSE_FILE from the caller's shell would hide what .env says
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    return subprocess.run(
        ["make", target], cwd=project, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def calls(log: pathlib.Path) -> list[tuple[str, str]]:
    return [tuple(line.split("|", 1)) for line in log.read_text().splitlines()] if log.exists() else []  # type: ignore[misc]


# ------------------------------------------------------------------ a broken .env
BROKEN = {
    "no COMPOSE_FILE line": lambda text: re.sub(r"(?m)^COMPOSE_FILE=.*\n", "", text),
    "empty COMPOSE_FILE": lambda text: re.sub(r"(?m)^COMPOSE_FILE=.*$", "COMPOSE_FILE=", text),
    "a layer that is not here": lambda text: re.sub(r"(?m)^(COMPOSE_FILE=.*)$", r"\1:compose.gone.yml", text),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_compose_targets_stop_when_env_lacks_the_layers(default_render, tmp_path, fake_docker, broken):
    project = default_render.copy_to(tmp_path / "p")
    env_file = project / ".env"
    env_file.write_text(BROKEN[broken](env_file.read_text()))
    env, log = fake_docker
    targets = (*COMPOSE_TARGETS, "admin")
    for target in targets:
        proc = make(project, target, env)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, f"make {target} went on with {broken}:\n{out}"
        assert HINT in out, f"make {target} does not say what to do ({broken}):\n{out}"
        assert calls(log) == [], f"make {target} ran docker with {broken}: {calls(log)}"


def test_make_dev_passes_the_layers_and_the_dev_layer(default_render, tmp_path, fake_docker):
    project = default_render.copy_to(tmp_path / "p")
    env, log = fake_docker
    layers = default_render.context["compose_file"]
    (project / ".env").unlink()  # a fresh clone: make creates .env first, then reads it
    proc = make(project, "dev", env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # .env.example's, with this checkout's own tag for local builds (scripts/after_copier.py)
    tag = load_module(REPO / "template" / "scripts" / "after_copier.py").checkout_tag(project)
    expected = (project / ".env.example").read_text().replace("_TAG=dev\n", f"_TAG={tag}\n")
    assert (project / ".env").read_text() == expected
    assert calls(log) == [
        (f"{layers}:compose-dev.yml", "compose up --build -d --wait"),
        (f"{layers}:compose-dev.yml", "compose watch --no-up"),
    ]
    log.unlink()
    assert make(project, "up", env).returncode == 0
    # plain `docker compose` takes COMPOSE_FILE from .env itself
    assert calls(log) == [("<unset>", "compose up --build -d --wait")]


# ------------------------------------------------------------------ what the README prints
FENCE = re.compile(r"```bash\n(.*?)```", re.DOTALL)
INLINE = re.compile(r"`((?:docker compose|make) [^`]+)`")


def readme_commands(project: pathlib.Path) -> list[list[str]]:
    """Every `docker compose …` and `make …` command the README prints: the lines of its bash
    blocks (comments dropped) and its inline code, as argument lists."""
    text = (project / "README.md").read_text()
    lines = [line.split(" #", 1)[0].strip() for block in FENCE.findall(text) for line in block.splitlines()]
    commands = [*lines, *INLINE.findall(text)]
    return [shlex.split(c) for c in commands if c.startswith(("docker compose ", "make "))]


def compose_globals(argv: list[str]) -> tuple[list[str], str]:
    """(the global options of a `docker compose …` command, its subcommand)."""
    rest, options = argv[2:], []
    while rest and rest[0].startswith("-"):
        options += rest[:2] if rest[0] in ("-f", "--file", "-p", "--profile", "--env-file") else rest[:1]
        rest = rest[2:] if rest[0] in ("-f", "--file", "-p", "--profile", "--env-file") else rest[1:]
    return options, rest[0]


@pytest.mark.parametrize("combo", matrix.DEVLOOP, ids=str)
def test_readme_commands_run(renders: Renders, combo):
    project = renders.of(combo).root
    commands = readme_commands(project)
    assert any(c[:2] == ["docker", "compose"] for c in commands), "the README prints no compose command"
    targets = set(re.findall(r"(?m)^([a-z][a-z-]*):", (project / "Makefile").read_text()))
    for argv in commands:
        if argv[0] == "make":
            assert argv[1] in targets, f"README: `{shlex.join(argv)}`, but the Makefile has no {argv[1]!r}"
            continue
        options, subcommand = compose_globals(argv)
        assert subcommand in ("up", "watch", "config", "down", "ps", "logs"), shlex.join(argv)
        files = [options[i + 1] for i, o in enumerate(options) if o in ("-f", "--file")]
        if files:  # the explicit forms list every layer they need (the dev layer: all of them)
            assert files[0] == "compose.yml", shlex.join(argv)
        proc = run([*compose_binary(), *options, "config", "-q"], cwd=project, check=False)
        assert proc.returncode == 0, f"README's `{shlex.join(argv)}`: {proc.stderr[-2000:]}"


def closure(layer: str, needs: dict[str, list[str]]) -> list[str]:
    found, todo = [layer], [layer]
    while todo:
        for need in needs[todo.pop()]:
            if need not in found:
                found.append(need)
                todo.append(need)
    return found


@pytest.mark.parametrize("combo", matrix.DEVLOOP, ids=str)
def test_readme_layer_table_is_what_compose_needs(renders: Renders, combo):
    """Each layer with what the table names (and what those name) merges; without any one of
    its needs compose refuses it; compose-dev.yml needs every service layer."""
    render = renders.of(combo)
    project, context = render.root, render.context
    table = {row["file"]: row["needs"] for row in context["layer_needs"]}
    readme = (project / "README.md").read_text()
    for layer, needed in table.items():
        row = f"| `{layer}` | " + (", ".join(f"`{n}`" for n in needed) or "nothing else") + " |"
        assert row in readme, f"README's layer table lacks {row!r}"
        wanted = {"compose.yml", *closure(layer, table)}
        ordered = [f for f in context["compose_layers"] if f in wanted]
        compose_config(project, layers=ordered)
        for need in needed:
            without = [f for f in ordered if f != need]
            proc = run(
                [*compose_binary(), "config", "-q"],
                cwd=project,
                check=False,
                env={"COMPOSE_FILE": ":".join(without), "COMPOSE_PATH_SEPARATOR": ":"},
            )
            assert proc.returncode != 0 and "undefined service" in proc.stderr, (
                f"{layer} merges without {need}, yet the README says it needs it"
            )
    # compose-dev.yml changes the services of every layer: without one, compose refuses, or the
    # services that layer defines are not what `make dev` runs (the dev layer alone is not enough)
    full = compose_config(project, layers=[*context["compose_layers"], "compose-dev.yml"])["services"]
    for missing in context["compose_layers"][1:]:
        files = [f for f in context["compose_layers"] if f != missing] + ["compose-dev.yml"]
        proc = run(
            [*compose_binary(), "config", "--format", "json"],
            cwd=project,
            check=False,
            env={"COMPOSE_FILE": ":".join(files), "COMPOSE_PATH_SEPARATOR": ":"},
        )
        if proc.returncode != 0:
            continue
        (layer_file,) = load_yaml_all(project / missing)
        defined = set(layer_file["services"])
        partial = json.loads(proc.stdout)["services"]
        same = [name for name in defined if partial.get(name) == full[name]]
        assert not same, f"compose-dev.yml alone defines {same} as `make dev` runs them: {missing} unneeded?"


# ------------------------------------------------------------------ settings
ALWAYS = {"COMPOSE_FILE", "COMPOSE_PATH_SEPARATOR"}  # read by compose itself


def variables(project: pathlib.Path, layers: list[str], *options: str) -> dict[str, Any]:
    proc = run(
        [*compose_binary(), *options, "config", "--variables", "--format", "json"],
        cwd=project,
        env={"COMPOSE_FILE": ":".join(layers), "COMPOSE_PATH_SEPARATOR": ":"},
    )
    found: dict[str, Any] = json.loads(proc.stdout)
    return found


@pytest.mark.parametrize("combo", matrix.DEVLOOP, ids=str)
def test_every_env_setting_is_read_and_every_read_setting_is_listed(renders: Renders, combo):
    project = renders.of(combo).root
    layers = compose_layers(project, ".env.example")
    read = set(variables(project, layers)) | set(
        variables(project, [*layers, "compose-dev.yml"], "--profile", "admin")
    )
    listed = set(read_env(project / ".env.example"))
    # documented in comments, derived while unset (the "# KEY=" lines)
    documented = set(re.findall(r"(?m)^# ([A-Z_]+)=", (project / ".env.example").read_text()))
    assert listed - ALWAYS <= read, f".env.example settings nothing reads: {sorted(listed - ALWAYS - read)}"
    assert read <= listed | documented, f"read but not in .env.example: {sorted(read - listed - documented)}"
    assert not documented & listed, "a derived setting is set in .env.example: it would stop following"


@pytest.mark.parametrize("combo", [c for c in matrix.DEVLOOP if c.has("api") and c.has("frontend")], ids=str)
def test_frontend_api_url_and_cors_follow_the_ports(renders: Renders, combo):
    render = renders.of(combo)
    project, context = render.root, render.context
    ports = {"PROXY_PORT": "9080", "API_PORT": "9000", "FRONTEND_PORT": "9090"}
    services = compose_config(project, env=ports)["services"]
    api = f"http://{context['hosts']['api']}:9080" if combo.has("proxy") else "http://localhost:9000"
    page = f"http://{context['hosts']['frontend']}:9080" if combo.has("proxy") else "http://localhost:9090"
    assert services["frontend"]["build"]["args"]["VITE_API_URL"] == api
    assert services["api"]["environment"]["CORS_ORIGINS"] == page
    dev = compose_config(project, layers=[*compose_layers(project), "compose-dev.yml"], env=ports)
    assert dev["services"]["frontend"]["environment"]["VITE_API_URL"] == api
    # an explicit setting still wins
    services = compose_config(project, env={**ports, "VITE_API_URL": "https://api.example.org"})["services"]
    assert services["frontend"]["build"]["args"]["VITE_API_URL"] == "https://api.example.org"


@pytest.mark.parametrize("combo", matrix.DEVLOOP, ids=str)
def test_make_help_prints_no_placeholder(renders: Renders, combo):
    proc = run(["make", "help"], cwd=renders.of(combo).root)
    assert "$" not in proc.stdout and "{{" not in proc.stdout, proc.stdout


# ------------------------------------------------------------------ the dev layer
def stage_instructions(dockerfile: pathlib.Path, stage: str) -> list[tuple[str, list[str]]]:
    """(instruction, arguments) of one stage of a Dockerfile (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    stages: dict[str, list[tuple[str, list[str]]]] = {}
    current: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, *args = line.split()
        if word.upper() == "FROM":
            # a stage built on an earlier one starts with its instructions (WORKDIR among them)
            current = list(stages.get(args[0], []))
            stages[args[-1] if len(args) == 3 and args[1].upper() == "AS" else ""] = current
        else:
            current.append((word.upper(), args))
    return stages[stage]


def owner_of(instructions: list[tuple[str, list[str]]], target: str) -> str | None:
    """The --chown user of the last COPY (from the build context) that puts `target` in place:
    None when no COPY does, or does it without --chown (then root owns it)."""
    workdir, owner = pathlib.PurePosixPath("/"), None
    for word, args in instructions:
        if word == "WORKDIR":
            workdir = workdir / args[0]
        if word != "COPY" or any(a.startswith("--from") for a in args):
            continue
        flags = {a.split("=", 1)[0]: a.split("=", 1)[-1] for a in args if a.startswith("--")}
        *sources, dest = [a for a in args if not a.startswith("--")]
        base = workdir / dest
        for source in sources:
            placed = (
                base
                if source in (".", "./") or not dest.endswith("/")
                else base / pathlib.PurePosixPath(source).name
            )
            if target == str(placed) or target.startswith(f"{placed}/"):
                owner = flags.get("--chown")
    return owner


@pytest.mark.parametrize("combo", matrix.DEVLOOP, ids=str)
def test_dev_layer_watches_into_directories_the_user_owns(renders: Renders, combo):
    project = renders.of(combo).root
    dev = compose_config(project, layers=[*compose_layers(project), "compose-dev.yml"])["services"]
    wanted = {
        "api": (project / "Dockerfile", {"api/app": "/app/app"}, {"api/pyproject.toml", "api/uv.lock"}),
        "frontend": (
            project / "frontend" / "Dockerfile",
            {"frontend/src": "/app/src", "frontend/index.html": "/app/index.html"},
            {"frontend/package.json", "frontend/package-lock.json"},
        ),
    }
    for name, (dockerfile, syncs, rebuilds) in wanted.items():
        if name not in dev:
            continue
        service = dev[name]
        assert service["build"]["target"] == "dev", name
        rules = service["develop"]["watch"]
        relative = {os.path.relpath(r["path"], project): r for r in rules}
        assert {p: r["target"] for p, r in relative.items() if r["action"] == "sync"} == syncs, name
        assert {p for p, r in relative.items() if r["action"] == "rebuild"} == rebuilds, name
        # the container user (a bare UID: see compose-dev.yml) owns every synced target
        uid = str(service["user"])
        assert uid.isdigit() and uid != "0", f"{name}: user {uid!r}"
        stage = stage_instructions(dockerfile, "dev")
        for target in syncs.values():
            chown = owner_of(stage, target)
            assert chown and chown.split(":")[0] == uid, (
                f"{name}: {target} is not copied with --chown={uid} in the dev stage ({chown!r}): "
                "Watch deletes files there as that user"
            )
        # Watch writes into the container: no read-only root file system, no source mounts
        assert not service.get("read_only"), name
        for volume in service.get("volumes", []):
            assert volume["type"] != "bind" or not os.path.relpath(volume["source"], project).startswith(
                (name, "api", "frontend")
            ), f"{name} mounts source: {volume}"


@pytest.mark.parametrize("combo", matrix.DEVLOOP, ids=str)
def test_no_anonymous_volumes(renders: Renders, combo):
    """Every volume a service mounts has a name (or is a bind mount or tmpfs): `down` leaves
    nothing behind that the next `up` cannot find. Images' own VOLUMEs are covered too, by a
    mount at the same path (redis /data: a tmpfs; pgAdmin /var/lib/pgadmin: a named volume)."""
    project = renders.of(combo).root
    layers = [*compose_layers(project), "compose-dev.yml"]
    config = compose_config(project, "--profile", "admin", layers=layers)
    image_volumes = {"cache": "/data", "pgadmin": "/var/lib/pgadmin"}
    for name, service in config["services"].items():
        mounts = {v["target"]: v for v in service.get("volumes", [])}
        for volume in mounts.values():
            assert volume["type"] != "volume" or volume.get("source"), f"{name}: anonymous volume {volume}"
        if name in image_volumes:
            target = image_volumes[name]
            assert target in mounts or target in service.get("tmpfs", []), f"{name}: nothing at {target}"


# ------------------------------------------------------------------ pgAdmin
@pytest.mark.parametrize("combo", [c for c in matrix.DEVLOOP if c.has("db")], ids=str)
def test_pgadmin_registers_the_database(renders: Renders, combo):
    """pgadmin/servers.json passes the checks of pgAdmin's own import (`setup.py load-servers`:
    web/pgadmin/utils/__init__.py validate_json_data, pgAdmin 9.8) and names what compose runs.
    pgAdmin itself has no stand-in image offline, so this is static; the password comes from the
    db's secret through PasswordExecCommand, which pgAdmin runs in desktop mode only."""
    render = renders.of(combo)
    project = render.root
    data = json.loads((project / "pgadmin" / "servers.json").read_text())
    servers = data["Servers"]
    assert len(servers) == 1
    (server,) = servers.values()
    for key in ("Group", "Name", "Port", "Username", "MaintenanceDB", "Host"):
        assert key in server, f"pgAdmin refuses a server without {key!r}"
    assert isinstance(server["Port"], int)
    config = compose_config(
        project, "--profile", "admin", layers=[*compose_layers(project), "compose-dev.yml"]
    )
    services = config["services"]
    db, pgadmin = services["db"], services["pgadmin"]
    assert server["Host"] == "db" and server["Port"] == 5432
    assert (server["Username"], server["MaintenanceDB"]) == (
        db["environment"]["POSTGRES_USER"],
        db["environment"]["POSTGRES_DB"],
    )
    # the password: read from the db's own secret, mounted in pgAdmin too
    command = shlex.split(server["PasswordExecCommand"])
    assert command[:-1] == ["cat"] and command[-1] == db["environment"]["POSTGRES_PASSWORD_FILE"]
    assert command[-1] in {f"/run/secrets/{s['source']}" for s in pgadmin["secrets"]}
    environment = pgadmin["environment"]
    assert environment["PGADMIN_CONFIG_SERVER_MODE"] == "False"  # desktop mode: PasswordExec allowed
    assert environment["PGADMIN_REPLACE_SERVERS_ON_STARTUP"] == "True"
    mounts = {v["target"]: v for v in pgadmin["volumes"]}
    servers_json = mounts[environment["PGADMIN_SERVER_JSON_FILE"]]
    assert servers_json["read_only"] and servers_json["source"] == str(project / "pgadmin" / "servers.json")
    assert mounts["/var/lib/pgadmin"]["type"] == "volume"
    # the README tells the truth about login
    readme = (project / "README.md").read_text()
    assert "no login" in readme and "never asked for" in readme
