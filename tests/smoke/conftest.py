"""Smoke-suite fixtures: skip without an engine, stacks that always come down, a summary table.

Every test here is marked `docker` (nox -s smoke runs `pytest -m docker`; the default
`tests` session deselects them). Run alone: `pytest -m docker tests/smoke` (add `-n 2` to run
two configurations at a time: ports, project names and image tags never collide).
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest

from dwsupport import smoke

_SESSION_START = time.perf_counter()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[docker.DockerClient]:
    problem = smoke.engine_problem()
    if problem:
        pytest.skip(
            f"no Docker engine answers ({problem}); start one with "
            "`bash ../shared/offline-docker/setup up` (CI does) or set DOCKER_HOST"
        )
    client = smoke.docker_client()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _engine_required(docker_engine: docker.DockerClient) -> None:
    """Applies to every test in tests/smoke: skipped, with the reason, when no engine answers."""


@pytest.fixture
def stacks() -> Iterator[Callable[..., smoke.Stack]]:
    """stacks(project_dir, dev=False) -> smoke.Stack; every stack made is `down -v`'d afterwards."""
    made: list[smoke.Stack] = []

    def make(directory: pathlib.Path, *, dev: bool = False) -> smoke.Stack:
        stack = smoke.Stack(directory, dev=dev)
        made.append(stack)
        return stack

    yield make
    errors = []
    for stack in made:
        try:
            stack.down(volumes=True)
        except AssertionError as exc:
            errors.append(str(exc))
        stack.remove_own_images()
    if errors:
        pytest.fail("down -v failed:\n" + "\n".join(errors))


@pytest.fixture
def smoke_record(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A dict a test fills (build/up seconds, step reached); the session summary prints it.
    Stored in user_properties so that it also travels back from pytest-xdist workers."""
    record: dict[str, Any] = {"step": "setup"}
    request.node.user_properties.append(("smoke", record))
    return record


_COLUMNS = {"config", "step", "build", "up", "re-up", "total"}


@pytest.fixture
def step(smoke_record: dict[str, Any]) -> Callable[[str], None]:
    """step("name"): the step being run, so the summary says where a failure happened."""

    def enter(name: str) -> None:
        smoke_record["step"] = name

    return enter


def _fmt(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else "-"


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    rows: dict[str, dict[str, Any]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for rep in terminalreporter.stats.get(outcome, []):
            props = dict(getattr(rep, "user_properties", []) or [])
            record = props.get("smoke")
            if record is None:
                continue
            row = rows.setdefault(rep.nodeid, {"record": record, "result": "passed"})
            row["record"] = record
            if rep.failed:
                row["result"] = f"FAILED ({rep.when}) at {record.get('step')}"
            elif rep.skipped and row["result"] == "passed":
                row["result"] = "skipped"
    if not rows:
        return
    tr = terminalreporter
    tr.section("docker smoke: per configuration")
    header = (
        f"{'configuration':<34} {'build s':>8} {'up s':>6} {'re-up s':>8} {'total s':>8}  result  measured"
    )
    tr.write_line(header)
    tr.write_line("-" * len(header))
    for nodeid, row in rows.items():
        r = row["record"]
        name = r.get("config") or nodeid.split("::")[-1]
        # any other figure a test recorded (recovery times, load results), by name
        measured = ", ".join(
            f"{key} {_fmt(value) if isinstance(value, float) else value}"
            for key, value in r.items()
            if key not in _COLUMNS and isinstance(value, float | int | str)
        )
        tr.write_line(
            f"{name:<34} {_fmt(r.get('build')):>8} {_fmt(r.get('up')):>6} {_fmt(r.get('re-up')):>8} "
            f"{_fmt(r.get('total')):>8}  {row['result']}  {measured}"
        )
    tr.write_line(f"smoke session wall time: {time.perf_counter() - _SESSION_START:.0f} s")
