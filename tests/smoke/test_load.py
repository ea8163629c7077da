"""A short load run through the proxy of the default stack (load.py: locust, GET and POST /items
at a fixed concurrency, the api under its production memory limit): no request fails, the api is
neither restarted nor OOM-killed and stays under its limit. `nox -s bench` runs the 30 s version
and reports the figures; here they go into the smoke summary (the `measured` column).
"""

from __future__ import annotations

import time

import pytest

from dwsupport import load, smoke
from dwsupport.render import copy

pytestmark = pytest.mark.docker

SECONDS = 8


def test_load_holds(tmp_path, stacks, smoke_record):
    started = time.perf_counter()
    record = smoke_record
    record["config"] = "load: defaults"
    record["step"] = "render"
    project = copy(tmp_path / "project")
    smoke.tag_standins(project)
    stack = stacks(project)
    load.locust_binary()  # fail early, with the reason, when the tool is missing

    record["step"] = "build + up"
    stack.build()
    record["build"] = stack.timings["build"]
    record["up"] = stack.up()

    record["step"] = f"locust: {load.USERS} users, {SECONDS} s"
    result = load.run(stack, SECONDS)
    record.update(
        {
            "req/s": round(result.total.rps),
            "p95 ms": result.total.p95,
            "p99 ms": result.total.p99,
            "errors": result.total.failures,
            "api memory": result.memory,
        }
    )
    summary = f"{result.total}; {result.routes}; api memory {result.memory}; errors {result.errors}"
    assert result.total.failures == 0, summary
    assert set(result.routes) == {"GET /items", "POST /items"}, summary
    assert all(route.requests > 0 for route in result.routes.values()), summary
    assert result.restarts == 0 and result.same_container and not result.oom_killed, summary
    assert result.memory_peak is not None and result.memory_peak < result.memory_limit, summary
    record["step"] = "done"
    record["total"] = time.perf_counter() - started
