"""The health assertion every smoke test relies on (dwsupport/smoke.py assert_healthy), proven red
against real containers: a stack missing a service, a service whose healthcheck fails, and a
one-shot that exited 1 are each refused with exactly that problem (the healthy services and the
one-shot that exited 0 are not reported), and a healthy stack passes.

A tiny compose project of its own (python:3.13-slim, which offline-docker's `setup tag-from` can
name): `good` and `sick` sleep with a healthcheck that passes or fails, `once-ok` and
`once-fails` exit 0 or 1. Each case runs under its own compose project name, `down -v` after.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable
from typing import Any

import pytest

from dwsupport import probes, smoke

pytestmark = pytest.mark.docker

SLEEP = "import signal, time; signal.signal(signal.SIGTERM, lambda *_: exit(0)); time.sleep(600)"
COMPOSE = f"""\
x-sleeper: &sleeper
  image: python:3.13-slim
  command: ["python", "-c", "{SLEEP}"]
services:
  good:
    <<: *sleeper
    healthcheck: {{test: ["CMD", "python", "-c", "pass"], interval: 1s, retries: 3}}
  sick:
    <<: *sleeper
    healthcheck: {{test: ["CMD", "python", "-c", "raise SystemExit(1)"], interval: 1s, retries: 2}}
  once-ok: {{image: python:3.13-slim, command: ["python", "-c", "pass"]}}
  once-fails: {{image: python:3.13-slim, command: ["python", "-c", "raise SystemExit(1)"]}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("health")
    (folder / "compose.yml").write_text(COMPOSE)
    (folder / ".env").write_text("COMPOSE_FILE=compose.yml\n")
    smoke.tag_standins(folder)
    return folder


def settled(stack: smoke.Stack, services: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Wait until each service's `ps` row is in the state asked ("healthy", "unhealthy", "exited")."""

    def reached() -> dict[str, dict[str, Any]] | None:
        rows = {r["Service"]: r for r in stack.ps()}
        for name, want in services.items():
            row = rows.get(name, {})
            if (row.get("State") if want == "exited" else row.get("Health")) != want:
                return None
        return rows

    return probes.wait_for(reached, 60, f"{services}", interval=0.5)


# case → (the services started and the state each settles in, the services the assertion is told
# to expect: (long-running, one-shots), the one problem it must report)
CASES = {
    "a-missing-service": (
        {"good": "healthy", "once-ok": "exited"},
        ({"good", "sick"}, {"once-ok"}),
        r"^services present: .*\(missing \['sick'\], extra \[\]\)$",
    ),
    "an-unhealthy-service": (
        {"good": "healthy", "sick": "unhealthy"},
        ({"good", "sick"}, set()),
        r"^sick: state=running health='unhealthy'",
    ),
    "a-one-shot-that-exited-1": (
        {"good": "healthy", "once-ok": "exited", "once-fails": "exited"},
        ({"good"}, {"once-ok", "once-fails"}),
        r"^once-fails \(one-shot\): state=exited exit=1$",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_assert_healthy_refuses(project, stacks: Callable[..., smoke.Stack], case):
    states, (long_running, one_shots), problem = CASES[case]
    stack = stacks(project)
    stack.start(*states)
    settled(stack, states)
    with pytest.raises(smoke.StackError) as refused:
        smoke.assert_healthy(stack, long_running, one_shots)
    # exactly that problem: the healthy services and the one-shot that exited 0 are not reported
    problems = str(refused.value).split("--- ps -a")[0].strip().splitlines()
    assert len(problems) == 1 and re.search(problem, problems[0]), problems


def test_assert_healthy_passes_a_healthy_stack(project, stacks: Callable[..., smoke.Stack]):
    stack = stacks(project)
    stack.start("good", "once-ok")
    settled(stack, {"good": "healthy", "once-ok": "exited"})
    rows = smoke.assert_healthy(stack, {"good"}, {"once-ok"})
    assert rows["good"]["Health"] == "healthy" and rows["once-ok"]["ExitCode"] == 0
