"""A bounded load run through the proxy of a running stack, by locust (headless), for the smoke
test (tests/smoke/test_load.py, a few seconds) and `nox -s bench` (bench_docker.py, 30 s).

- What: locustfile.py beside this file: GET and POST /items (4:1) at a fixed concurrency (closed
  loop, no think time), to the proxy's port on 127.0.0.1 only, with the api's Host header.
- The tool: locust, pinned in pyproject.toml's `load` group; nox installs it in a venv of its own
  and names it in DOCKWRIGHT_LOCUST.
- The api runs under its production memory limit for the run (compose.prod.yml's, applied with
  `docker update`): going over it is an OOM kill and a restart, which the result reports.
- Figures: requests/s, p50/p95/p99 (ms, locust's histogram) and failures per route and in all,
  from locust's final JSON report; the api's peak memory (cgroup: `max_usage` on v1, memory.peak
  on v2), restarts and whether it is still the same container.

Nothing here imports pytest, so bench_docker.py can use it too.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import pathlib
import shutil
import subprocess
import tempfile
from typing import Any

from dwsupport import smoke
from dwsupport.compose import compose_binary
from dwsupport.dotenv import read_env

LOCUSTFILE = pathlib.Path(__file__).with_name("locustfile.py")
MAX_SECONDS = 30  # the bound for one run
USERS = 16  # concurrency: below the api's 40 worker threads and its 10 database connections
API_HOST = "api.localhost"  # the defaults' domain; Traefik routes api.<domain> to the api


def locust_binary() -> str:
    found = os.environ.get("DOCKWRIGHT_LOCUST") or shutil.which("locust")
    if not found or not pathlib.Path(found).exists():
        raise smoke.StackError(
            "locust is not installed: run through nox (`nox -s smoke` or `nox -s bench` install the "
            "pyproject `load` group in .nox/_load and set DOCKWRIGHT_LOCUST)"
        )
    return found


@dataclasses.dataclass
class Route:
    requests: int
    failures: int
    rps: float
    p50: int
    p95: int
    p99: int

    def __str__(self) -> str:
        return (
            f"{self.rps:.0f} req/s, p50/p95/p99 {self.p50}/{self.p95}/{self.p99} ms, "
            f"{self.failures} errors of {self.requests}"
        )


@dataclasses.dataclass
class LoadResult:
    seconds: int
    users: int
    total: Route
    routes: dict[str, Route]
    errors: list[dict]  # locust's failures.csv rows (what failed, how often)
    memory_peak: int | None  # bytes; None when the cgroup does not say
    memory_limit: int  # bytes
    restarts: int  # the api's RestartCount during the run
    oom_killed: bool
    same_container: bool  # same container id and StartedAt as before the run

    @property
    def memory(self) -> str:
        if self.memory_peak is None:
            return f"peak unknown / limit {self.memory_limit / 2**20:.0f} MiB"
        share = 100 * self.memory_peak / self.memory_limit
        return f"{self.memory_peak / 2**20:.0f} MiB / {self.memory_limit / 2**20:.0f} MiB ({share:.0f}%)"


def _percentile(times: dict[int, int], share: float) -> int:
    """The smallest response time (ms) within which `share` of the requests finished."""
    rank = math.ceil(sum(times.values()) * share)
    seen = 0
    for time_ms in sorted(times):
        seen += times[time_ms]
        if seen >= rank:
            return time_ms
    return 0


def _route(entries: list[dict]) -> Route:
    times: dict[int, int] = {}
    for entry in entries:
        for time_ms, count in entry["response_times"].items():
            times[int(float(time_ms))] = times.get(int(float(time_ms)), 0) + count
    requests = sum(entry["num_requests"] for entry in entries)
    start = min(entry["start_time"] for entry in entries)
    end = max(entry["last_request_timestamp"] or start for entry in entries)
    return Route(
        requests=requests,
        failures=sum(entry["num_failures"] for entry in entries),
        rps=requests / (end - start) if end > start else 0.0,
        p50=_percentile(times, 0.50),
        p95=_percentile(times, 0.95),
        p99=_percentile(times, 0.99),
    )


def production_memory_limit(project: pathlib.Path) -> int:
    """The api's memory limit in the production stack (the layers .env.prod.example lists), in bytes."""
    prod = read_env(project / ".env.prod.example")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env.update(COMPOSE_FILE=prod["COMPOSE_FILE"], COMPOSE_PATH_SEPARATOR=":", API_TAG="x", FRONTEND_TAG="x")
    proc = subprocess.run(
        [*compose_binary(), "config", "--format", "json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise smoke.StackError(f"compose config of the production layers failed:\n{proc.stderr}")
    limit = json.loads(proc.stdout)["services"]["api"]["deploy"]["resources"]["limits"]["memory"]
    return int(limit)


def memory_peak(stack: smoke.Stack) -> int | None:
    """The api container's peak memory since it started, in bytes."""
    stats: dict[str, Any] = stack.container("api").stats(stream=False)["memory_stats"]  # type: ignore[index]
    if "max_usage" in stats:  # cgroup v1
        return int(stats["max_usage"])
    # cgroup v2 (private cgroup namespace): the container's own memory.peak, kernel 5.19+
    read = "import pathlib; print(pathlib.Path('/sys/fs/cgroup/memory.peak').read_text())"
    out = stack.exec("api", "python", "-c", read, check=False)
    return int(out.stdout) if out.returncode == 0 and out.stdout.strip().isdigit() else None


def run(stack: smoke.Stack, seconds: int, users: int = USERS) -> LoadResult:
    """Run the load for `seconds` (at most MAX_SECONDS) against the stack's proxy; the stack must
    be up with the proxy in front of the api."""
    if not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"a load run lasts 1-{MAX_SECONDS} s, not {seconds}")
    api = stack.container("api")
    api.reload()
    limit = production_memory_limit(stack.dir)
    api.update(mem_limit=limit, memswap_limit=limit)
    api.reload()
    before = (api.id, api.attrs["State"]["StartedAt"], api.attrs["RestartCount"])
    with tempfile.TemporaryDirectory(prefix="dwload-") as tmp:
        report = pathlib.Path(tmp) / "report"
        cmd = [
            locust_binary(),
            "--locustfile", str(LOCUSTFILE),
            "--headless",
            "--host", f"http://127.0.0.1:{stack.ports['PROXY_PORT']}",
            "--users", str(users),
            "--spawn-rate", str(users),  # all users within the first second
            "--run-time", f"{seconds}s",
            "--stop-timeout", "5",  # requests in flight at the end finish and are counted
            "--json-file", str(report),  # the final figures (the CSV lags by up to a second)
            "--csv", str(report),  # only for the failure messages
            "--exit-code-on-error", "0",  # failures are judged by the caller, from the report
            "--loglevel", "WARNING",
        ]  # fmt: skip
        env = {**os.environ, "LOAD_API_HOST": API_HOST}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
        json_report = report.with_name("report.json")
        if proc.returncode != 0 or not json_report.exists():
            raise smoke.StackError(
                f"locust exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        entries = json.loads(json_report.read_text())
        failures_csv = report.with_name("report_failures.csv")
        errors = list(csv.DictReader(failures_csv.open())) if failures_csv.exists() else []
    if not entries:
        raise smoke.StackError(f"locust sent no request\n{proc.stderr[-3000:]}")
    routes = {f"{e['method']} {e['name']}": _route([e]) for e in entries}
    api.reload()
    state = api.attrs["State"]
    return LoadResult(
        seconds=seconds,
        users=users,
        total=_route(entries),
        routes=routes,
        errors=errors,
        memory_peak=memory_peak(stack),
        memory_limit=limit,
        restarts=api.attrs["RestartCount"] - before[2],
        oom_killed=bool(state.get("OOMKilled")),
        same_container=(api.id, state["StartedAt"]) == before[:2],
    )
