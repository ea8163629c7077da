"""Generated projects run as compose stacks in Docker: the smoke suite (tests/smoke) and the
Docker figures of `nox -s bench` (tools/bench_docker.py).

Failures raise `StackError` (an AssertionError) carrying the compose output and, for a failed
`up` or a failed health assertion, `ps` and the logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from dwsupport import REPO
from dwsupport.compose import compose_binary
from dwsupport.dotenv import read_env
from dwsupport.probes import ProbeError, free_ports, wait_for

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

# offline-docker's setup (CI and these VMs). On a machine without it (a GitHub-hosted runner
# pulling the real images) tagging is simply not needed.
SETUP = pathlib.Path(
    os.environ.get("OFFLINE_DOCKER_SETUP", REPO.parent / "shared" / "offline-docker" / "setup")
)

# Every host port a generated project can publish (.env names them; all bound to 127.0.0.1).
PORT_VARS = (
    "PROXY_PORT",
    "PROXY_DASHBOARD_PORT",
    "API_PORT",
    "FRONTEND_PORT",
    "NGINX_PORT",
    "DB_PORT",
    "PGADMIN_PORT",
    "CACHE_PORT",
    "PROMETHEUS_PORT",
    "GRAFANA_PORT",
)


class StackError(ProbeError):
    """A compose command or a check on a running stack failed (message has the evidence)."""


def engine_problem() -> str | None:
    """None when a Docker engine answers, else why not (the reason the suite is skipped)."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        client.close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def docker_client() -> docker.DockerClient:
    import docker

    return docker.from_env(timeout=120)


def tree_hash(root: pathlib.Path, parts: list[str], extra: str = "") -> str:
    """Hash of the build inputs (files under `parts`, relative to root) and `extra`: two renders
    share an image tag only when these are byte-identical."""
    digest = hashlib.sha256(extra.encode())
    for part in parts:
        base = root / part
        files = sorted(p for p in ([base] if base.is_file() else base.rglob("*")) if p.is_file())
        for f in files:
            rel = f.relative_to(root).as_posix()
            if "node_modules" in rel or "__pycache__" in rel:
                continue
            digest.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def image_tags(project: pathlib.Path, vite_api_url: str) -> dict[str, str]:
    """API_TAG / FRONTEND_TAG named after the content of their build inputs: configurations
    whose api (or frontend, with the same VITE_API_URL build arg) inputs are identical share
    the image; any difference gives a different tag, so no run ever uses another's image."""
    tags = {}
    if (project / "Dockerfile").exists():
        tags["API_TAG"] = "smoke-" + tree_hash(project, ["Dockerfile", ".dockerignore", "api"])
    if (project / "frontend").is_dir():
        extra = f"VITE_API_URL={vite_api_url}"
        tags["FRONTEND_TAG"] = "smoke-" + tree_hash(project, ["frontend"], extra=extra)
    return tags


# compose.prod.yml publishes the proxy on every interface (80/443) and logs the backup services
# to the host's journal: right on a server. A test machine publishes on 127.0.0.1 only, on free
# ports, and has no journald. This layer, written beside the project and never into the
# template, changes just that: `!override` replaces the ports list (a plain `ports:` would be
# merged with the 0.0.0.0:80/443 entries), `!reset` gives the logs to the engine's default driver.
PROD_TEST_LAYER = """\
services:
  proxy:
    ports: !override
      - "127.0.0.1:${PROXY_PORT:?}:8080"
      - "127.0.0.1:${HTTPS_PORT:?}:8443"
  backup:
    logging: !reset {}
"""


def as_production(
    stack: Stack, layer: pathlib.Path, tags: Mapping[str, str], extra: str = ""
) -> dict[str, str]:
    """Run `stack` as the VPS does: .env.prod.example's layers and runtime settings, the given
    image tags, plus PROD_TEST_LAYER (and `extra` services of it) written to `layer`; HTTPS on a
    free port. Returns .env.prod.example's settings."""
    prod_env = read_env(stack.dir / ".env.prod.example")
    layer.write_text(PROD_TEST_LAYER + extra)
    stack.ports["HTTPS_PORT"] = next(p for p in free_ports(12) if p not in stack.ports.values())
    stack.env.update(
        {
            # .env.prod.example's runtime settings (VITE_API_URL is build-time only)
            **{k: prod_env[k] for k in ("APP_ENV", "LOG_LEVEL", "CORS_ORIGINS")},
            "COMPOSE_FILE": f"{prod_env['COMPOSE_FILE']}:{layer}",
            "HTTPS_PORT": str(stack.ports["HTTPS_PORT"]),
            **tags,
        }
    )
    return prod_env


def tag_standins(project: pathlib.Path) -> str:
    """Give offline-docker's stand-ins the upstream names the project uses (idempotent)."""
    if not SETUP.exists():
        return f"{SETUP} not found: images are expected to be pullable"
    proc = subprocess.run(
        ["bash", str(SETUP), "tag-from", str(project)], capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise StackError(f"setup tag-from {project} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


# ------------------------------------------------------------------ a compose project
class Stack:
    """A rendered project run under a unique compose project name, on free host ports, with
    content-addressed image tags. `down()` is idempotent; call it in a finally/fixture."""

    def __init__(self, directory: pathlib.Path, *, dev: bool = False, name: str | None = None):
        self.dir = pathlib.Path(directory)
        self.project = name or f"dwsmoke-{uuid.uuid4().hex[:8]}"
        self.dotenv = read_env(self.dir / ".env")
        self.ports = dict(zip(PORT_VARS, free_ports(len(PORT_VARS)), strict=True))
        files = self.dotenv["COMPOSE_FILE"] + (":compose-dev.yml" if dev else "")
        self.env = {
            **{k: str(v) for k, v in self.ports.items()},
            "COMPOSE_FILE": files,
            "COMPOSE_PATH_SEPARATOR": ":",
            # never the `admin` profile (pgAdmin has no stand-in), whatever the caller's shell says
            "COMPOSE_PROFILES": "",
        }
        self.dev = dev
        self.timings: dict[str, float] = {}
        self._up = False
        self._client: docker.DockerClient | None = None
        # The api URL the frontend is built with, as compose resolves it: it follows this
        # stack's PROXY_PORT (or API_PORT), so the frontend image is this stack's own (the dev
        # server's image does not depend on it). remove_own_images() deletes it afterwards.
        self.vite_api_url = "" if dev else self.build_arg("frontend", "VITE_API_URL")
        self.env.update(image_tags(self.dir, self.vite_api_url))
        self.own_images = (
            [f"{self.config()['services']['frontend']['image']}"]
            if any(str(p) in self.vite_api_url for p in self.ports.values())
            else []
        )

    # -- running compose
    def compose(
        self, *args: str, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        cmd = [*compose_binary(), "-p", self.project, *args]
        env = {k: v for k, v in os.environ.items() if k != "COMPOSE_PROJECT_NAME"}
        env.update(self.env)
        try:
            proc = subprocess.run(cmd, cwd=self.dir, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"`{' '.join(cmd[1:])}` timed out after {timeout} s") from exc
        if check and proc.returncode != 0:
            raise StackError(
                f"`compose {' '.join(args)}` exited {proc.returncode} in {self.dir}\n"
                f"--- stdout (tail)\n{proc.stdout[-3000:]}\n--- stderr (tail)\n{proc.stderr[-3000:]}"
            )
        return proc

    def timed(self, label: str, *args: str, timeout: float = 900) -> float:
        start = time.perf_counter()
        self.compose(*args, timeout=timeout)
        self.timings[label] = time.perf_counter() - start
        return self.timings[label]

    def build(self, *services: str, progress: str | None = None) -> subprocess.CompletedProcess[str]:
        start = time.perf_counter()
        args = ["--progress", progress] if progress else []
        proc = self.compose(*args, "build", *services)
        self.timings.setdefault("build", time.perf_counter() - start)
        return proc

    def up(self, label: str = "up", wait_timeout: int = 180) -> float:
        self._up = True
        start = time.perf_counter()
        try:
            args = ("up", "-d", "--wait", "--wait-timeout", str(wait_timeout))
            self.compose(*args, timeout=wait_timeout + 120)
        except StackError as exc:
            raise StackError(f"{exc}\n{self.diagnostics()}") from None
        self.timings[label] = time.perf_counter() - start
        return self.timings[label]

    def started_elsewhere(self) -> None:
        """The stack is (or will be) started by other means (`make dev`, a README command) under
        this project name: down() brings it down all the same."""
        self._up = True

    def start(self, *services: str) -> None:
        """`up -d` without waiting for health (for stacks that are not meant to become healthy)."""
        self._up = True
        self.compose("up", "-d", *services, timeout=300)

    def down(self, volumes: bool = True) -> None:
        if not self._up:
            return
        args = ["down", "-t", "5", "--remove-orphans"] + (["-v"] if volumes else [])
        self.compose(*args, timeout=180)
        if volumes:
            self._up = False

    def remove_own_images(self) -> None:
        """Remove the images only this stack uses (see own_images; the `stacks` fixture does,
        after `down`); absent ones are fine."""
        for ref in self.own_images:
            with contextlib.suppress(Exception):
                self.client.images.remove(ref)
        self.own_images = []

    def build_arg(self, service: str, name: str) -> str:
        """A build argument of a service as compose resolves it in this stack ("" if none)."""
        build = self.config()["services"].get(service, {}).get("build") or {}
        return str((build.get("args") or {}).get(name) or "")

    def diagnostics(self) -> str:
        ps = self.compose("ps", "-a", check=False, timeout=60).stdout
        logs = self.compose("logs", "--no-color", "--tail", "25", check=False, timeout=60).stdout
        return f"--- ps -a\n{ps}\n--- logs (last 25 lines per service)\n{logs[-8000:]}"

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = json.loads(self.compose("config", "--format", "json", timeout=60).stdout)
        return config

    def ps(self) -> list[dict[str, Any]]:
        """`docker compose ps -a` rows (one per container, stopped ones included)."""
        out = self.compose("ps", "-a", "--format", "json", timeout=60).stdout.strip()
        if not out:
            return []
        if out.startswith("["):
            rows: list[dict[str, Any]] = json.loads(out)
            return rows
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    # -- containers (Docker SDK)
    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def containers(self) -> dict[str, Container]:
        found = self.client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.project}"}
        )
        return {c.labels["com.docker.compose.service"]: c for c in found}

    def published(self) -> dict[tuple[str, int], list[tuple[str, str]]]:
        """(service, container port) → sorted (host IP, host port) bindings, as the engine applied them."""
        out = {}
        for service, container in self.containers().items():
            container.reload()
            for spec, bindings in (container.attrs["NetworkSettings"]["Ports"] or {}).items():
                if bindings:
                    out[(service, int(spec.split("/")[0]))] = sorted(
                        {(b["HostIp"], b["HostPort"]) for b in bindings}
                    )
        return out

    def container(self, service: str) -> Container:
        try:
            return self.containers()[service]
        except KeyError:
            raise StackError(f"no container for service {service!r} in {self.project}") from None

    def exec(
        self, service: str, *cmd: str, user: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        args = ["exec", "-T"] + (["-u", user] if user else []) + [service, *cmd]
        return self.compose(*args, check=check, timeout=120)

    def crash(self, service: str) -> int:
        """SIGKILL the service's main process from the host, like an OOM kill or a crash.
        (`docker kill` would not do: the engine records it as a manual stop, and the
        `unless-stopped` policy then leaves the container down.) Returns the restart count."""
        container = self.container(service)
        container.reload()
        pid = container.attrs["State"]["Pid"]
        before = int(container.attrs["RestartCount"])
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError) as exc:
            raise StackError(
                f"cannot SIGKILL pid {pid} of {container.name} from here ({exc!r}): the crash check "
                "needs the engine on this host and root (as in CI)"
            ) from None
        return before

    def wait_healthy(self, service: str, timeout: float = 90, restarted_after: int | None = None) -> None:
        def ready() -> bool:
            c = self.container(service)
            c.reload()
            state = c.attrs["State"]
            if restarted_after is not None and c.attrs["RestartCount"] <= restarted_after:
                return False
            return bool(
                state.get("Status") == "running" and state.get("Health", {}).get("Status") == "healthy"
            )

        try:
            wait_for(ready, timeout, f"{service} to be healthy again")
        except ProbeError as exc:
            raise StackError(f"{exc}\n{self.diagnostics()}") from None


# ------------------------------------------------------------------ health
class StackLike(Protocol):
    """What assert_healthy and running use of a stack (a Stack, or a fake in unit tests)."""

    def ps(self) -> list[dict[str, Any]]: ...

    def diagnostics(self) -> str: ...

    def down(self, volumes: bool = True) -> None: ...


def health_problems(
    rows: Iterable[Mapping[str, Any]], long_running: set[str], one_shots: set[str]
) -> list[str]:
    """What is wrong with a stack, from its `docker compose ps -a` rows: a service missing or
    unexpected, a long-running one not running and healthy, a one-shot that did not exit 0."""
    ps = {row["Service"]: row for row in rows}
    expected = long_running | one_shots
    problems = []
    if set(ps) != expected:
        missing, extra = sorted(expected - set(ps)), sorted(set(ps) - expected)
        problems.append(
            f"services present: {sorted(ps)}, expected {sorted(expected)} (missing {missing}, extra {extra})"
        )
    for name, row in sorted(ps.items()):
        state, health, code = row["State"], row.get("Health"), row.get("ExitCode")
        if name in long_running and (state, health) != ("running", "healthy"):
            problems.append(f"{name}: state={state} health={health!r} ({row.get('Status')})")
        elif name in one_shots and (state, code) != ("exited", 0):
            problems.append(f"{name} (one-shot): state={state} exit={code}")
    return problems


def assert_healthy(
    stack: StackLike, long_running: set[str], one_shots: set[str]
) -> dict[str, dict[str, Any]]:
    """Exactly these services exist; the long-running ones are running and healthy, the one-shots
    exited 0. Raises StackError (with `ps` and the logs) otherwise; returns the `ps` rows by service."""
    rows = stack.ps()
    problems = health_problems(rows, long_running, one_shots)
    if problems:
        raise StackError("\n".join(problems) + "\n" + stack.diagnostics())
    return {row["Service"]: row for row in rows}


S = TypeVar("S", bound=StackLike)


@contextlib.contextmanager
def running(stack: S) -> Iterator[S]:
    """`with running(stack):` … always `down -v` afterwards."""
    try:
        yield stack
    finally:
        stack.down(volumes=True)
