"""The smoke suite's health assertion (dwsupport/smoke.py) on fake `docker compose ps -a` rows:
it refuses a missing or extra service, a service that is not running and healthy, and a one-shot
that did not exit 0. tests/smoke/test_assert_healthy.py proves the same against real containers.
"""

from __future__ import annotations

from typing import Any

import pytest

from dwsupport.smoke import StackError, assert_healthy, health_problems, running


def row(service: str, state: str = "running", health: str = "healthy", exit_code: int = 0) -> dict[str, Any]:
    """A row as `docker compose ps -a --format json` prints it (the fields the assertion reads)."""
    status = f"Up 5 seconds ({health})" if state == "running" else f"Exited ({exit_code}) 2 seconds ago"
    return {"Service": service, "State": state, "Health": health, "ExitCode": exit_code, "Status": status}


HEALTHY = [row("api"), row("db"), row("migrate", "exited", "", 0)]
LONG_RUNNING, ONE_SHOTS = {"api", "db"}, {"migrate"}


class FakeStack:
    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows
        self.downs: list[bool] = []

    def ps(self) -> list[dict[str, Any]]:
        return self.rows

    def diagnostics(self) -> str:
        return "--- ps -a (the diagnostics)"

    def down(self, volumes: bool = True) -> None:
        self.downs.append(volumes)


def test_a_healthy_stack_passes_and_its_rows_come_back():
    assert health_problems(HEALTHY, LONG_RUNNING, ONE_SHOTS) == []
    assert set(assert_healthy(FakeStack(HEALTHY), LONG_RUNNING, ONE_SHOTS)) == {"api", "db", "migrate"}


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        pytest.param(HEALTHY[1:], "missing ['api']", id="a-service-missing"),
        pytest.param([*HEALTHY, row("adminer")], "extra ['adminer']", id="an-extra-service"),
        pytest.param(
            [row("api", health="unhealthy"), *HEALTHY[1:]],
            "api: state=running health='unhealthy'",
            id="unhealthy",
        ),
        pytest.param([row("api", health="starting"), *HEALTHY[1:]], "health='starting'", id="still-starting"),
        pytest.param(
            [row("api", state="restarting"), *HEALTHY[1:]], "api: state=restarting", id="restarting"
        ),
        pytest.param([row("api", health=""), *HEALTHY[1:]], "health=''", id="no-healthcheck"),
        pytest.param(
            [*HEALTHY[:2], row("migrate", "exited", "", 1)],
            "migrate (one-shot): state=exited exit=1",
            id="one-shot-exit-1",
        ),
        pytest.param(
            [*HEALTHY[:2], row("migrate")], "migrate (one-shot): state=running", id="one-shot-still-running"
        ),
    ],
)
def test_each_kind_of_unhealthy_stack_is_refused(rows, problem):
    problems = health_problems(rows, LONG_RUNNING, ONE_SHOTS)
    assert len(problems) == 1 and problem in problems[0], problems
    with pytest.raises(StackError, match="the diagnostics") as refused:
        assert_healthy(FakeStack(rows), LONG_RUNNING, ONE_SHOTS)
    assert problem in str(refused.value)


def test_every_problem_is_reported_at_once():
    rows = [row("api", health="unhealthy"), row("migrate", "exited", "", 3)]
    problems = health_problems(rows, LONG_RUNNING, ONE_SHOTS)
    assert [p.split(":")[0] for p in problems] == ["services present", "api", "migrate (one-shot)"]


def test_running_takes_the_stack_down_even_when_the_body_fails():
    stack = FakeStack(HEALTHY)
    with running(stack) as entered:
        assert entered is stack
    assert stack.downs == [True]
    with pytest.raises(RuntimeError), running(stack):
        raise RuntimeError("a check failed")
    assert stack.downs == [True, True]
