"""Docker figures for tools/bench.py (`nox -s bench`): `run(runs)` returns (label, value) rows.

- api image build, cold: `docker compose build --no-cache api` (no layer cache; BuildKit's uv
  download cache mount is kept, so wheels are not fetched again: this measures the build, not
  the network), and warm: after a code-only change in api/app (layer cache on). Medians + ratio.
- api and frontend image sizes next to their runtime base images (offline, the bases are
  offline-docker's stand-ins carrying the upstream names: their size is not upstream's), and the
  api image on every offered Python version with what it adds to its base.
- `docker compose up -d --wait` to every service healthy, default configuration (images built).
- load (load.py): locust, GET and POST /items at a fixed concurrency through the proxy on
  127.0.0.1 for 30 s, the api under its production memory limit: requests/s, p50/p95/p99, errors,
  the api's peak memory against that limit, restarts.
- the dev loop (`make dev`: Compose Watch): seconds from saving an edit to the running stack
  serving it, through the proxy: an api route (uvicorn reloads the synced code) and a frontend
  module (the Vite dev server serves the synced file). Median of 5 each.
Every build uses its own throw-away tag, removed afterwards; every stack is `down -v`'d.
"""

from __future__ import annotations

import contextlib
import pathlib
import re
import statistics
import sys
import tempfile
import time
import uuid
from typing import TYPE_CHECKING

from dwsupport import devloop, load, matrix, smoke
from dwsupport.render import COPIER_YML, copy

if TYPE_CHECKING:
    import docker


def _api_sizes(client: docker.DockerClient, tmp: pathlib.Path) -> list[tuple[str, str]]:
    """The api image on every offered Python version (api + db answers): size and what it adds.
    Their tags are the smoke suite's content-addressed ones (kept: the suite reuses them)."""
    rows = []
    for version in COPIER_YML["python_version"]["choices"].values():
        project = copy(tmp / f"py{version}", services=["api", "db"], python_version=version)
        smoke.tag_standins(project)
        stack = smoke.Stack(project)
        stack.build("api")
        ref = stack.config()["services"]["api"]["image"]
        base = _runtime_base(project / "Dockerfile")
        size, base_size = _mb(client, ref), _mb(client, base)
        rows.append((f"api image, Python {version} / base {base}", f"{size:.1f} MB / {base_size:.1f} MB"))
        rows.append((f"  added over the base, Python {version}", f"+{size - base_size:.0f} MB"))
    return rows


def _runtime_base(dockerfile: pathlib.Path) -> str:
    froms: list[str] = re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), flags=re.MULTILINE)
    return froms[-1]


def _mb(client: docker.DockerClient, ref: str) -> float:
    size: int = client.images.get(ref).attrs["Size"]
    return size / 1e6


def _median(values: list[float], digits: int = 1) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f} s  (min {low:.{digits}f} / max {high:.{digits}f})"


def _load(project: pathlib.Path) -> list[tuple[str, str]]:
    """One load run of load.MAX_SECONDS on a fresh default stack (images already built)."""
    stack = smoke.Stack(project)
    with smoke.running(stack):
        stack.up()
        result = load.run(stack, load.MAX_SECONDS)
    head = f"load: {result.users} users, {result.seconds} s, GET:POST /items 4:1 via the proxy"
    rows = [(head, str(result.total))]
    rows += [(f"  {route}", str(figures)) for route, figures in sorted(result.routes.items())]
    rows.append(("  api peak memory / production limit", result.memory))
    restarted = result.restarts or not result.same_container
    rows.append(
        (
            "  api restarted / OOM-killed",
            f"{'yes' if restarted else 'no'} / {'yes' if result.oom_killed else 'no'}",
        )
    )
    rows += [
        (f"  error: {e['Method']} {e['Name']}", f"{e['Error']} x{e['Occurrences']}") for e in result.errors
    ]
    return rows


def _build_api(project: pathlib.Path, repo: str, throwaway: list[str], *options: str) -> float:
    """Seconds to `compose build [options] api` under a throw-away tag (listed for removal)."""
    stack = smoke.Stack(project)
    stack.env["API_TAG"] = f"bench-{uuid.uuid4().hex[:8]}"
    throwaway.append(f"{repo}:{stack.env['API_TAG']}")
    start = time.perf_counter()
    stack.compose("build", *options, "api")
    return time.perf_counter() - start


def bench_watch(project: pathlib.Path, tmp: pathlib.Path, edits: int) -> list[tuple[str, str]]:
    """`make dev` in the background; `edits` timed edits of the api and of the frontend."""
    stack = smoke.Stack(project, dev=True)
    times: dict[str, list[float]] = {"api": [], "frontend": []}
    stack.started_elsewhere()  # by `make dev`; running() brings it down with its volumes
    with smoke.running(stack), devloop.in_background(stack, ["make", "dev"], tmp / "make-dev.log"):
        for _ in range(edits):
            for which in times:
                times[which].append(devloop.save_to_visible(stack, which))
    label = "dev loop, save → served through the proxy, median of"
    return [
        (f"{label} {edits}: api route (uvicorn reload)", _median(times["api"], 2)),
        (f"{label} {edits}: frontend module (Vite)", _median(times["frontend"], 2)),
    ]


def run(runs: int = 3) -> list[tuple[str, str]]:
    runs = max(3, runs)
    problem = smoke.engine_problem()
    if problem:
        return [("docker figures", f"skipped: no Docker engine answers ({problem})")]
    client = smoke.docker_client()
    rows: list[tuple[str, str]] = []
    throwaway: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        project = copy(pathlib.Path(tmp) / "project", **matrix.DEFAULTS.answers())
        smoke.tag_standins(project)
        registry_api = smoke.Stack(project).config()["services"]["api"]["image"].rsplit(":", 1)[0]
        registry_front = smoke.Stack(project).config()["services"]["frontend"]["image"].rsplit(":", 1)[0]
        try:
            # ---- api build: cold (no layer cache) and warm (code-only change)
            cold = [_build_api(project, registry_api, throwaway, "--no-cache") for _ in range(runs)]
            warm = []
            for _ in range(runs):
                with (project / "api" / "app" / "main.py").open("a") as f:
                    f.write(f"# bench probe {uuid.uuid4().hex}\n")
                warm.append(_build_api(project, registry_api, throwaway))
            rows += [
                (f"api build, cold: --no-cache (median of {runs})", _median(cold)),
                (f"api build, warm: code-only change (median of {runs})", _median(warm)),
                ("  cold / warm", f"{statistics.median(cold) / statistics.median(warm):.1f}x"),
            ]

            # ---- sizes (the last warm build is the api image; build the frontend normally)
            stack = smoke.Stack(project)
            stack.build("frontend")
            throwaway += stack.own_images  # its tag follows this stack's port (VITE_API_URL)
            api_ref = throwaway[-1]
            front_ref = f"{registry_front}:{stack.env['FRONTEND_TAG']}"
            for label, ref, dockerfile in (
                ("api image", api_ref, project / "Dockerfile"),
                ("frontend image", front_ref, project / "frontend" / "Dockerfile"),
            ):
                base = _runtime_base(dockerfile)
                size, base_size = _mb(client, ref), _mb(client, base)
                added = size - base_size
                added_text = f"+{added:.0f} MB" if added >= 10 else f"+{added * 1000:.0f} kB"
                rows.append((f"{label} / base {base}", f"{size:.1f} MB / {base_size:.1f} MB ({added_text})"))
            rows += _api_sizes(client, pathlib.Path(tmp))
            if smoke.SETUP.exists():
                rows.append(("  (bases here are offline stand-ins)", "sizes differ from upstream's"))

            # ---- up --wait to healthy, default configuration, images already built (one stack,
            # so one set of ports and tags)
            stack = smoke.Stack(project)
            stack.build()
            throwaway += stack.own_images
            ups = []
            for _ in range(runs):
                with smoke.running(stack):
                    ups.append(stack.up())
            rows.append((f"up --wait to healthy, defaults (median of {runs})", _median(ups)))
            rows += _load(project)

            # ---- the dev loop: save → visible, Compose Watch (make dev)
            rows += bench_watch(project, pathlib.Path(tmp), edits=5)
        finally:
            for ref in throwaway:
                with contextlib.suppress(Exception):  # already gone: fine
                    client.images.remove(ref)
    client.close()
    return rows


if __name__ == "__main__":
    for name, value in run(int(sys.argv[1]) if len(sys.argv) > 1 else 3):
        print(f"{name:<60} {value}")
