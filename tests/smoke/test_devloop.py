"""The default project's development loop, as its README and Makefile tell a person to run it.

In one project (the default answers), in order:
1. the README's explicit form of `make up` (`docker compose -f … up --build -d --wait`), verbatim:
   every service healthy;
2. `make dev` (up, then Compose Watch in the foreground, here in the background): an edit of an
   api route is answered through the proxy and an edit of a frontend module is served by Vite,
   with no container restarted (same ids, same start times, no restarts); a file created and then
   deleted in each synced folder appears and disappears in the container (deleting needs the
   synced folders to belong to the container user); Ctrl-C, then `make down`;
3. the README's explicit form of `make dev` (its two commands, verbatim), then `make down`:
   the second dev cycle finds the first one's named volumes, and neither leaves an anonymous
   volume behind (`docker volume ls -f dangling=true`, filtered to this project's volumes);
4. `make test`: the api's and the frontend's suites in the dev images.
The project runs under its own compose project name, ports and image tags (dwsupport.smoke).
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from dwsupport import devloop, matrix, probes, smoke
from dwsupport.render import Render, copy

pytestmark = pytest.mark.docker

ONE_SHOTS = {"migrate"}
LONG_RUNNING = set(matrix.DEFAULT_SERVICES)
WATCHED = ("api", "frontend")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[smoke.Stack]:
    """The default project, and the dev Stack that names its project, ports and dev image tags
    (for inspecting what make and the README's commands start); `down -v` at the end."""
    project = copy(tmp_path_factory.mktemp("devloop") / "project", **matrix.DEFAULTS.answers())
    smoke.tag_standins(project)
    dev = smoke.Stack(project, dev=True)
    dev.started_elsewhere()  # whatever the steps leave running comes down with its volumes
    try:
        yield dev
    finally:
        dev.down(volumes=True)
        dev.remove_own_images()


@pytest.fixture(scope="module")
def cycles() -> dict[str, Any]:
    """The engine's dangling volumes before the first dev cycle, and the volumes each cycle's
    containers mounted."""
    return {"dangling before": dangling(), "mounted": []}


def mounted_volumes(stack: smoke.Stack) -> set[str]:
    """Names of the volumes (named or anonymous) the project's containers mount."""
    return {
        mount["Name"]
        for container in stack.containers().values()
        for mount in container.attrs["Mounts"]
        if mount["Type"] == "volume"
    }


def dangling() -> set[str]:
    client = smoke.docker_client()
    try:
        return {v.name for v in client.volumes.list(filters={"dangling": True})}
    finally:
        client.close()


def started(stack: smoke.Stack) -> dict[str, tuple[str | None, str, int]]:
    out = {}
    for name, container in stack.containers().items():
        container.reload()
        out[name] = (container.id, container.attrs["State"]["StartedAt"], container.attrs["RestartCount"])
    return out


@contextlib.contextmanager
def restored(project: pathlib.Path) -> Iterator[None]:
    """The files the edits change get their content back (while Watch still runs)."""
    files = [project / "api" / "app" / "main.py", project / "frontend" / "src" / "app.ts"]
    saved = {f: f.read_bytes() for f in files}
    try:
        yield
    finally:
        for f, content in saved.items():
            f.write_bytes(content)


def file_in(stack: smoke.Stack, service: str, path: str) -> bool:
    return stack.exec(service, "test", "-e", path, check=False).returncode == 0


def file_gone(stack: smoke.Stack, service: str, path: str) -> bool:
    return not file_in(stack, service, path)


def test_readme_up_form(stack, smoke_record, step):
    """The README's `docker compose -f … up --build -d --wait`, as printed."""
    smoke_record["config"] = "devloop: README -f up"
    base = smoke.Stack(stack.dir, name=stack.project)  # its ports and its own frontend tag
    try:
        (command,) = devloop.readme_block(stack.dir, "docker", ["up", "--build", "-d", "--wait"])
        assert "compose-dev.yml" not in command
        step("README's up, verbatim")
        devloop.run_user(base, command)
        step("every service healthy")
        smoke.assert_healthy(base, LONG_RUNNING, ONE_SHOTS)
    finally:
        base.remove_own_images()


def test_make_dev_syncs_edits_without_restarts(stack, tmp_path, cycles, smoke_record, step):
    smoke_record["config"] = "devloop: make dev + Watch"
    with devloop.in_background(stack, ["make", "dev"], tmp_path / "make-dev.log"), restored(stack.dir):
        step("dev stack healthy")
        smoke.assert_healthy(stack, LONG_RUNNING, ONE_SHOTS)
        before = started(stack)

        step("api route edited → new answer through the proxy")
        smoke_record["api edit s"] = devloop.save_to_visible(stack, "api")
        step("frontend module edited → served by Vite")
        smoke_record["frontend edit s"] = devloop.save_to_visible(stack, "frontend")

        step("files created and deleted in the synced folders")
        for service, folder, target, name in (
            ("api", "api/app", "/app/app", "watch_probe.py"),
            ("frontend", "frontend/src", "/app/src", "watch-probe.ts"),
        ):
            local, inside = stack.dir / folder / name, f"{target}/{name}"
            local.write_text("export {};\n" if name.endswith(".ts") else "PROBE = 1\n")
            probes.wait_for(partial(file_in, stack, service, inside), 30, f"{name} synced")
            local.unlink()
            probes.wait_for(
                partial(file_gone, stack, service, inside),
                30,
                f"{name} deleted in the {service} container (the synced folder must belong to its user)",
            )

        step("no container restarted")
        after = started(stack)
        assert after == before, f"containers changed: before {before}, after {after}"
        assert all(count == 0 for _, _, count in after.values()), after
        smoke.assert_healthy(stack, LONG_RUNNING, ONE_SHOTS)
        cycles["mounted"].append(mounted_volumes(stack))
    step("make down")
    devloop.run_user(stack, ["make", "down"])


def test_readme_dev_forms_find_the_volumes_again(stack, tmp_path, cycles, smoke_record, step):
    smoke_record["config"] = "devloop: README -f dev + Watch"
    assert cycles["mounted"], "needs the first dev cycle (test_make_dev_syncs_edits_without_restarts)"
    up, watch = devloop.readme_block(
        stack.dir, "docker", ["compose-dev.yml", "up", "--build", "-d", "--wait"]
    )
    assert watch[-2:] == ["watch", "--no-up"], watch
    step("README's dev up, verbatim")
    devloop.run_user(stack, up)
    step("README's watch, verbatim")
    with devloop.in_background(stack, watch, tmp_path / "watch.log"), restored(stack.dir):
        smoke.assert_healthy(stack, LONG_RUNNING, ONE_SHOTS)
        devloop.save_to_visible(stack, "api")
        cycles["mounted"].append(mounted_volumes(stack))
    step("make down")
    devloop.run_user(stack, ["make", "down"])

    step("no anonymous volume left, the named ones found again")
    named = {f"{stack.project}_{Render(stack.dir).context['pg']['volume']}"}  # the database's
    first, second = cycles["mounted"]
    assert first == second == named, f"volumes mounted by the dev cycles: {first}, {second}"
    left = (dangling() - cycles["dangling before"]) & (first | second)
    assert left == named, f"left by two dev cycles: {sorted(left)}, expected only {sorted(named)}"


def test_make_test_runs_the_suites(stack, smoke_record, step):
    smoke_record["config"] = "devloop: make test"
    step("make test")
    proc = devloop.run_user(stack, ["make", "test"])
    out = proc.stdout + proc.stderr
    assert " passed" in out and "Tests" in out, out[-3000:]
