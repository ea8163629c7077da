"""Helpers shared by the smoke tests and bench_docker.py: stacks, ports, HTTP, image tags.

Nothing here imports pytest, so tools/bench.py can use it too. Failures raise `StackError`
(an AssertionError) carrying the compose output and, for a failed `up`, `ps` and the logs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client as httpclient
import json
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid

REPO = pathlib.Path(__file__).resolve().parents[2]
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
PLUGIN = pathlib.Path("/usr/local/lib/docker/cli-plugins/docker-compose")


class StackError(AssertionError):
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


def docker_client():
    import docker

    return docker.from_env(timeout=120)


def compose_binary() -> list[str]:
    """The compose v2 binary (the CLI plugin offline-docker links), else `docker compose`."""
    if PLUGIN.exists():
        return [str(PLUGIN)]
    return [shutil.which("docker") or "docker", "compose"]


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def read_env(path: pathlib.Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blanks skipped)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip().strip("\"'")
    return out


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


def image_tags(project: pathlib.Path, dotenv: dict[str, str]) -> dict[str, str]:
    """API_TAG / FRONTEND_TAG named after the content of their build inputs: configurations
    whose api (or frontend, with the same VITE_API_URL build arg) inputs are identical share
    the image; any difference gives a different tag, so no run ever uses another's image."""
    tags = {}
    if (project / "Dockerfile").exists():
        tags["API_TAG"] = "smoke-" + tree_hash(project, ["Dockerfile", ".dockerignore", "api"])
    if (project / "frontend").is_dir():
        vite = dotenv.get("VITE_API_URL", "")
        tags["FRONTEND_TAG"] = "smoke-" + tree_hash(project, ["frontend"], extra=f"VITE_API_URL={vite}")
    return tags


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


# ------------------------------------------------------------------ HTTP on 127.0.0.1
@dataclasses.dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    cert: bytes | None = None  # the server's certificate (DER), for tls=True requests

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.headers.get('content-type', '')}: {self.text[:300]!r}"


class _SNIConnection(httpclient.HTTPSConnection):
    """HTTPS to 127.0.0.1 that sends `sni` as the TLS server name (http.client would send none
    for an IP address) and verifies nothing: the smoke stacks serve self-signed certificates."""

    def __init__(self, port: int, sni: str):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        super().__init__("127.0.0.1", port, timeout=10, context=context)
        self.sni = sni

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.sni)


def http(
    port: int,
    path: str,
    *,
    host: str = "localhost",
    method: str = "GET",
    payload=None,
    retry_for: float = 10.0,
    tls: bool = False,
) -> Response:
    """One request to 127.0.0.1:port with a Host header. Retries (up to retry_for seconds) only
    while the connection is refused/reset or a proxy answers 502 (upstream not reachable yet).
    tls=True: HTTPS with `host` as the SNI too, certificate not verified (Response.cert has it)."""
    deadline = time.monotonic() + retry_for
    body = json.dumps(payload).encode() if payload is not None else None
    headers = {"Host": host, "Connection": "close"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    scheme = "https" if tls else "http"
    while True:
        conn = _SNIConnection(port, host) if tls else httpclient.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers)
            # before getresponse(): with `Connection: close` it hands the socket to the response
            cert = conn.sock.getpeercert(binary_form=True) if tls else None
            raw = conn.getresponse()
            resp = Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, raw.read(), cert)
        except (ConnectionError, httpclient.HTTPException, TimeoutError, OSError) as exc:
            if time.monotonic() > deadline:
                raise StackError(
                    f"{method} {scheme}://127.0.0.1:{port}{path} (Host: {host}): {exc!r}"
                ) from exc
        else:
            if resp.status != 502 or time.monotonic() > deadline:
                return resp
        finally:
            conn.close()
        time.sleep(0.5)


def tcp_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes to 127.0.0.1:port, return what the server answers first."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return s.recv(256)


def wait_for(predicate, timeout: float, what: str, interval: float = 1.0):
    """Poll predicate() until it returns a truthy value; StackError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except StackError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise StackError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


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
            **image_tags(self.dir, self.dotenv),
            "COMPOSE_FILE": files,
            "COMPOSE_PATH_SEPARATOR": ":",
            # never the `admin` profile (pgAdmin has no stand-in), whatever the caller's shell says
            "COMPOSE_PROFILES": "",
        }
        self.dev = dev
        self.timings: dict[str, float] = {}
        self._up = False
        self._client = None

    # -- running compose
    def compose(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
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

    def build(self, *services: str, progress: str | None = None) -> subprocess.CompletedProcess:
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

    def down(self, volumes: bool = True) -> None:
        if not self._up:
            return
        args = ["down", "-t", "5", "--remove-orphans"] + (["-v"] if volumes else [])
        self.compose(*args, timeout=180)
        if volumes:
            self._up = False

    def diagnostics(self) -> str:
        ps = self.compose("ps", "-a", check=False, timeout=60).stdout
        logs = self.compose("logs", "--no-color", "--tail", "25", check=False, timeout=60).stdout
        return f"--- ps -a\n{ps}\n--- logs (last 25 lines per service)\n{logs[-8000:]}"

    def config(self) -> dict:
        return json.loads(self.compose("config", "--format", "json", timeout=60).stdout)

    def ps(self) -> list[dict]:
        out = self.compose("ps", "-a", "--format", "json", timeout=60).stdout.strip()
        if not out:
            return []
        if out.startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    # -- containers (Docker SDK)
    @property
    def client(self):
        if self._client is None:
            self._client = docker_client()
        return self._client

    def containers(self) -> dict[str, object]:
        found = self.client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.project}"}
        )
        return {c.labels["com.docker.compose.service"]: c for c in found}

    def container(self, service: str):
        try:
            return self.containers()[service]
        except KeyError:
            raise StackError(f"no container for service {service!r} in {self.project}") from None

    def exec(self, service: str, *cmd: str, user: str | None = None, check: bool = True):
        args = ["exec", "-T"] + (["-u", user] if user else []) + [service, *cmd]
        return self.compose(*args, check=check, timeout=120)

    def crash(self, service: str) -> int:
        """SIGKILL the service's main process from the host, like an OOM kill or a crash.
        (`docker kill` would not do: the engine records it as a manual stop, and the
        `unless-stopped` policy then leaves the container down.) Returns the restart count."""
        container = self.container(service)
        container.reload()
        pid = container.attrs["State"]["Pid"]
        before = container.attrs["RestartCount"]
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError) as exc:
            raise StackError(
                f"cannot SIGKILL pid {pid} of {container.name} from here ({exc!r}): the crash check "
                "needs the engine on this host and root (as in CI)"
            ) from None
        return before

    def wait_healthy(self, service: str, timeout: float = 90, restarted_after: int | None = None) -> None:
        def ready():
            c = self.container(service)
            c.reload()
            state = c.attrs["State"]
            if restarted_after is not None and c.attrs["RestartCount"] <= restarted_after:
                return False
            return state.get("Status") == "running" and state.get("Health", {}).get("Status") == "healthy"

        try:
            wait_for(ready, timeout, f"{service} to be healthy again")
        except StackError as exc:
            raise StackError(f"{exc}\n{self.diagnostics()}") from None


@contextlib.contextmanager
def assert_healthy(stack: Stack, long_running: set[str], one_shots: set[str]) -> dict[str, dict]:
    """Exactly these services exist; the long-running ones are running and healthy, the one-shots
    exited 0. Returns `docker compose ps` rows by service."""
    ps = {row["Service"]: row for row in stack.ps()}
    expected = long_running | one_shots
    assert set(ps) == expected, f"services present: {sorted(ps)}, expected {sorted(expected)}"
    problems = []
    for name in sorted(long_running):
        row = ps[name]
        if row["State"] != "running" or row.get("Health") != "healthy":
            health = row.get("Health")
            problems.append(f"{name}: state={row['State']} health={health!r} ({row.get('Status')})")
    for name in sorted(one_shots):
        row = ps[name]
        if row["State"] != "exited" or row.get("ExitCode") != 0:
            problems.append(f"{name} (one-shot): state={row['State']} exit={row.get('ExitCode')}")
    assert not problems, "\n".join(problems) + "\n" + stack.diagnostics()
    return ps


@contextlib.contextmanager
def running(stack: Stack):
    """`with running(stack):` … always `down -v` afterwards."""
    try:
        yield stack
    finally:
        stack.down(volumes=True)
