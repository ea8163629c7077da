"""A project made with 0.2.0 keeps its PostgreSQL 17 data through `copier update`, then moves to
PostgreSQL 18 with the upgrade its docs/database.md describes, run verbatim. Nothing is lost.

1. render the released 0.2.0 (the throw-away template repository of dwsupport/template_repo.py), api +
   db; build, `up --wait` on PostgreSQL 17 (its stand-in), create items through the api;
2. `copier update` to the work tree (the release being prepared): the terminal says that the
   database stays on 17 and that 18 is available; up again: the same items, `SHOW server_version`
   17, the same volume;
3. the fenced procedure of docs/database.md, line by line as a user types it (`copier update
   --data postgres_version=18`, commit, `make db-upgrade`, `make up`): the same items on
   PostgreSQL 18, the PostgreSQL 17 volume and the dump still there;
4. PostgreSQL 18 on the old volume at the old place refuses to start (upstream's 18+ check): the
   reason the template never moves the major under an existing project.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import uuid
from typing import Any

import pytest
import yaml

from dwsupport import REPO, probes, smoke
from dwsupport.template_repo import GIT_ENV, build_template_repo, git, update

pytestmark = pytest.mark.docker

DB = "my_app"  # the default slug's database and user
SERVICES = ["api", "db"]


def answers_of(project: pathlib.Path) -> dict[str, Any]:
    recorded: dict[str, Any] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return recorded


def tag_postgres_pins() -> None:
    """Stand-ins for the pinned PostgreSQL images: the upgrade switches to a ref that the project
    does not hold yet when `setup tag-from` reads it (a real machine pulls it)."""
    if not smoke.SETUP.exists():
        return
    pins = yaml.safe_load((REPO / "extensions" / "images.yml").read_text())
    refs = [entry["ref"] for key, entry in pins.items() if key.startswith("postgres_")]
    subprocess.run(["bash", str(smoke.SETUP), "tag", *refs], check=True, capture_output=True, timeout=300)


def items(stack: smoke.Stack) -> list[str]:
    r = probes.http(stack.ports["API_PORT"], "/items", retry_for=30)
    assert r.status == 200, str(r)
    return sorted(item["name"] for item in r.json())


def server_version(stack: smoke.Stack) -> str:
    return stack.exec("db", "psql", "-U", DB, "-d", DB, "-tAc", "SHOW server_version").stdout.strip()


def volume_exists(name: str) -> bool:
    return subprocess.run(["docker", "volume", "inspect", name], capture_output=True).returncode == 0


def documented_procedure(project: pathlib.Path) -> list[str]:
    """The command lines of docs/database.md's upgrade block (comments dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", (project / "docs" / "database.md").read_text(), re.S)
    (block,) = [b for b in blocks if "make db-upgrade" in b]
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_update_from_0_2_0_keeps_postgres_17_then_the_documented_upgrade_moves_it_to_18(
    tmp_path, smoke_record
):
    record = smoke_record
    record["config"] = "pg17 (0.2.0) -> update -> pg18"
    name = f"dwpg-{uuid.uuid4().hex[:8]}"
    old_volume, new_volume = f"{name}_db_data", f"{name}_db_data_pg18"
    history = build_template_repo(tmp_path / "template-repo")
    project = history.project(tmp_path / "project", "v0.2.0", services=SERVICES)
    stacks: list[smoke.Stack] = []

    def stack_for_project() -> smoke.Stack:
        stack = smoke.Stack(project, name=name)
        if stacks:  # the same host ports for the whole story
            stack.ports = stacks[0].ports
            stack.env.update({k: str(v) for k, v in stack.ports.items()})
        stacks.append(stack)
        return stack

    try:
        # ---- 1. a 0.2.0 project with data on PostgreSQL 17
        record["step"] = "0.2.0 up on PostgreSQL 17"
        smoke.tag_standins(project)
        first = stack_for_project()
        first.build()
        record["build"] = first.timings["build"]
        record["up"] = first.up()
        names = []
        for _ in range(3):
            names.append(f"kept-{uuid.uuid4().hex[:8]}")
            r = probes.http(first.ports["API_PORT"], "/items", method="POST", payload={"name": names[-1]})
            assert r.status == 201, str(r)
        assert server_version(first).startswith("17"), server_version(first)
        first.down(volumes=False)

        # ---- 2. copier update to this release: still PostgreSQL 17, same volume, same items
        record["step"] = "copier update from 0.2.0"
        out = update(project, history.head)
        assert "postgres_version recorded as 17" in out and "PostgreSQL 18 is available" in out, out
        assert answers_of(project)["postgres_version"] == "17"
        git(project, "add", "-A")
        git(project, "commit", "-qm", "Update from the dockwright template")
        smoke.tag_standins(project)
        tag_postgres_pins()
        updated = stack_for_project()
        updated.build()
        record["re-up"] = updated.up("re-up")
        assert items(updated) == sorted(names)
        assert server_version(updated).startswith("17"), server_version(updated)
        assert volume_exists(old_volume) and not volume_exists(new_volume)

        # ---- 3. the upgrade, as docs/database.md writes it
        record["step"] = "docs/database.md upgrade"
        env = {
            **os.environ,
            **GIT_ENV,
            **updated.env,
            "COMPOSE_PROJECT_NAME": name,
            "PATH": os.pathsep.join([str(pathlib.Path(sys.executable).parent), os.environ["PATH"]]),
        }
        for line in documented_procedure(project):
            proc = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", line],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert proc.returncode == 0, f"$ {line}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            if line.strip() == "make db-upgrade":
                done = re.search(
                    r"done: PostgreSQL (.+?), (\d+) relations restored from PostgreSQL 17", proc.stdout
                )
                assert done and done[1].startswith("18") and int(done[2]) > 0, proc.stdout
                assert f"docker volume rm {old_volume}" in proc.stdout, "it says how to remove the old volume"
        upgraded = stack_for_project()
        upgraded._up = True  # `make up` started it: down -v in the finally
        assert answers_of(project)["postgres_version"] == "18"
        assert items(upgraded) == sorted(names), "the data came along"
        assert server_version(upgraded).startswith("18"), server_version(upgraded)
        db = upgraded.container("db")
        db.reload()
        mounts = db.attrs["Mounts"]
        assert [(m["Name"], m["Destination"]) for m in mounts if m["Type"] == "volume"] == [
            (new_volume, "/var/lib/postgresql")
        ]
        assert volume_exists(old_volume), "the PostgreSQL 17 volume is kept"
        assert list((project / "backups").glob(f"{DB}-pg17-*.dump")), "the dump is kept"
        assert git(project, "status", "--porcelain") == "", "the dump is git-ignored"

        # ---- 4. why the major is never moved under a project: 18 refuses 17's old layout
        record["step"] = "PostgreSQL 18 on the old volume refuses"
        image_18 = yaml.safe_load((REPO / "extensions" / "images.yml").read_text())["postgres_18"]["ref"]
        old_mount = f"{old_volume}:/var/lib/postgresql/data"
        refused = subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                old_mount,
                "-e",
                "POSTGRES_PASSWORD=x",
                image_18,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode != 0 and "/var/lib/postgresql" in refused.stderr, refused.stderr
        record["step"] = "done"
    finally:
        if stacks:  # one compose project throughout: the last config knows its current volume
            stacks[-1]._up = True
            stacks[-1].down(volumes=True)
        subprocess.run(["docker", "rm", "-f", f"{name}-db-upgrade-pg17"], capture_output=True)
        subprocess.run(["docker", "volume", "rm", old_volume, new_volume], capture_output=True)
