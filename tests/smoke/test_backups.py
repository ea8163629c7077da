"""The restore drill, for real: the default project as a server runs it (compose.prod.yml with its
backup service, and the restic off-site copy), with the commands of its docs/backups.md typed as
written.

1. render the defaults with `backup_offsite: restic`; build (the suite's content-addressed tags: a
   cache hit after the other default stacks); `up --wait` with .env.prod.example's layers plus one
   test-only layer: the proxy on 127.0.0.1, the engine's log driver instead of journald (test
   machines have no journald; tests/test_backups.py checks the production setting), a local folder
   as the restic repository. backups/ belongs to the non-root BACKUP_UID, as bootstrap.sh makes it.
2. the backup service took a dump at start (there was none) and the offsite service copied it;
3. items through the api; `make backup`; `docker compose down -v` (the database volume is gone);
   `up`; no items; `make restore FILE=<newest> CONFIRM=yes`: the same items, byte for byte (id,
   name, created_at, through the api and in the table), and the next item takes the next id;
4. on the live stack, `make restore` refuses without CONFIRM and refuses a damaged dump: nothing
   changes;
5. the scheduled service: an item more, `docker compose kill -s USR1 backup`, a new dump and its
   off-site copy; the data changed (an item more, a name edited); `make restore` of that dump into
   the existing database: exactly the state of the dump;
6. off-site: the local dump deleted, the docs' `restic restore` line gets it back from the
   repository, `make restore` restores it (its checksum verified again).
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import time
from typing import Any

import pytest
import yaml

from dwsupport import REPO, matrix, probes, smoke
from dwsupport.dotenv import read_env
from dwsupport.render import copy

pytestmark = pytest.mark.docker

DB = "my_app"  # the default slug's database and user
API = "api.localhost"
LONG_RUNNING = {*matrix.DEFAULT_SERVICES, "backup", "offsite"}
ONE_SHOTS = {"migrate", "acme-init"}
REPOSITORY = "/offsite-repo"

# The offsite service beside the production test layer (dwsupport.smoke.as_production): its
# logs to the engine's default driver, its restic repository a local folder.
OFFSITE_TEST_LAYER = """\
  offsite:
    logging: !reset {}
    volumes:
      - ${OFFSITE_REPO:?}:/offsite-repo
"""

# offline-docker has no restic stand-in: build one from Debian's restic package (sid's is the pinned
# release, 0.19.1), under the pinned name. A machine that reaches the registry pulls the real image.
RESTIC_STANDIN = """\
FROM standin/debian:sid-slim
RUN apt-get update && apt-get install -y --no-install-recommends restic ca-certificates \\
 && rm -rf /var/lib/apt/lists/* && restic version
ENTRYPOINT ["/usr/bin/restic"]
"""


def restic_image(tmp: pathlib.Path) -> str:
    ref: str = yaml.safe_load((REPO / "extensions" / "images.yml").read_text())["restic"]["ref"]
    client = smoke.docker_client()
    try:
        client.images.get(ref)
    except Exception:
        if not smoke.SETUP.exists():
            return ref  # compose pulls it
        (tmp / "Dockerfile").write_text(RESTIC_STANDIN)
        proc = subprocess.run(["docker", "build", "-q", "-t", ref, str(tmp)], capture_output=True, text=True)
        assert proc.returncode == 0, f"restic stand-in: {proc.stderr[-2000:]}"
    finally:
        client.close()
    return ref


def documented(project: pathlib.Path) -> dict[str, str]:
    """The command lines of docs/backups.md's fenced blocks, by what they do."""
    text = (project / "docs" / "backups.md").read_text()
    lines = {
        line.strip()
        for block in re.findall(r"```bash\n(.*?)```", text, re.S)
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    }

    def one(prefix: str) -> str:
        (found,) = [line for line in lines if line.startswith(prefix)]
        return str(found)

    return {
        "backup": one("make backup"),
        "restore newest": one('make restore FILE="$(ls -1 backups/'),
        "dump now": one("docker compose kill -s USR1 backup"),
        "from restic": one("docker compose run --rm --no-deps -v"),
    }


class Drill:
    """The stack, and the commands a user types in the project (with the stack's environment)."""

    def __init__(self, stack: smoke.Stack):
        self.stack = stack
        self.dir = stack.dir

    def sh(self, line: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            **self.stack.env,
            "COMPOSE_PROJECT_NAME": self.stack.project,
            "PATH": os.pathsep.join([str(pathlib.Path(sys.executable).parent), os.environ["PATH"]]),
        }
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", line],
            cwd=self.dir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check:
            assert proc.returncode == 0, f"$ {line}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc

    def post(self, name: str) -> dict[str, Any]:
        r = probes.http(
            self.stack.ports["HTTPS_PORT"],
            "/items",
            host=API,
            tls=True,
            method="POST",
            payload={"name": name},
        )
        assert r.status == 201, str(r)
        item: dict[str, Any] = r.json()
        return item

    def items_api(self) -> list[dict[str, Any]]:
        r = probes.http(self.stack.ports["HTTPS_PORT"], "/items", host=API, tls=True, retry_for=30)
        assert r.status == 200, str(r)
        listed: list[dict[str, Any]] = r.json()
        return sorted(listed, key=lambda item: item["id"])

    def rows(self) -> list[str]:
        """The items table as PostgreSQL prints it: id|name|created_at, by id."""
        sql = "SELECT id, name, created_at FROM items ORDER BY id"
        out = self.stack.exec("db", "psql", "-U", DB, "-d", DB, "-tAc", sql).stdout
        return out.splitlines()

    def dumps(self) -> list[str]:
        """Complete dumps in backups/, oldest first."""
        return sorted(p.name[: -len(".sha256")] for p in (self.dir / "backups").glob(f"{DB}-*.dump.sha256"))

    def logs(self, service: str) -> str:
        return self.stack.compose("logs", "--no-color", service, timeout=60).stdout

    def wait_log(self, service: str, pattern: str, timeout: float = 60) -> re.Match[str]:
        def seen() -> re.Match[str] | None:
            return re.search(pattern, self.logs(service))

        return probes.wait_for(seen, timeout, f"{service} to log {pattern!r}")


def hand_to_deploy_user(path: pathlib.Path, uid: int, gid: int) -> None:
    """On a server the deploy user (BACKUP_UID) runs `make backup`, so the dumps are its own;
    here the suite runs as root: give them to that user, as they would be."""
    for p in [path, *path.glob("*")]:
        os.chown(p, uid, gid)


def test_restore_drill(tmp_path, stacks, smoke_record, step):
    started = time.perf_counter()
    record = smoke_record
    record["config"] = "defaults+prod+restic (drill)"
    try:
        step("render")
        project = copy(tmp_path / "project", **matrix.DEFAULTS_OFFSITE.answers())
        smoke.tag_standins(project)
        restic_image(tmp_path)
        commands = documented(project)

        step("build (base layers)")
        base = stacks(project)
        base.build()
        record["build"] = base.timings["build"]

        step("production settings")
        prod_env = read_env(project / ".env.prod.example")
        uid, gid = int(prod_env["BACKUP_UID"]), int(prod_env["BACKUP_GID"])
        assert uid != 0 and gid != 0
        (project / "secrets" / "cloudflare_dns_api_token.txt").write_text("smoke-dummy-token")
        (project / "secrets" / "offsite_credentials.txt").write_text("")  # a local repository
        for secret in (project / "secrets").glob("*.txt"):
            secret.chmod(0o644)
        backups, repository = project / "backups", tmp_path / "offsite-repo"
        for folder in (backups, repository):
            folder.mkdir(mode=0o700)
            os.chown(folder, uid, gid)  # as bootstrap.sh makes backups/
        stack = stacks(project)
        tags = {k: base.env[k] for k in ("API_TAG", "FRONTEND_TAG")}
        smoke.as_production(stack, tmp_path / "compose.smoke-test.yml", tags, OFFSITE_TEST_LAYER)
        stack.env.update(
            {
                "OFFSITE_REPO": str(repository),
                "RESTIC_REPOSITORY": REPOSITORY,
                "OFFSITE_POLL": "1",
            }
        )
        drill = Drill(stack)

        step("up (production layer)")
        record["up"] = stack.up(wait_timeout=240)
        smoke.assert_healthy(stack, LONG_RUNNING, ONE_SHOTS)

        step("the backup service's first dump, copied off-site")
        first = drill.wait_log("backup", r"backup ok: (\S+\.dump)")[1]
        assert drill.dumps() == [first]
        drill.wait_log("offsite", rf"offsite ok: {re.escape(first)} copied")
        for name in os.listdir(backups):
            stat = (backups / name).stat()
            assert (stat.st_uid, stat.st_mode & 0o777) == (uid, 0o600), f"{name}: owner, mode"

        step("make backup")
        created = [drill.post(f"drill-{n}") for n in ("alpha", "beta", "gamma")]
        before_api, before_rows = drill.items_api(), drill.rows()
        assert before_api == created and len(before_rows) == 3
        # the suite is root, not the deploy user: its dump is root's until handed over, and the
        # offsite service (BACKUP_UID) must not meet it before (it would fail, rightly)
        stack.compose("stop", "offsite")
        began = time.perf_counter()
        drill.sh(commands["backup"])
        record["make backup s"] = time.perf_counter() - began
        manual = drill.dumps()[-1]
        assert manual != first
        hand_to_deploy_user(backups, uid, gid)

        step("down -v: the database volume is gone")
        stack.down(volumes=True)
        assert drill.dumps()[-1] == manual, "backups/ is a folder of the project, not a volume"
        record["re-up"] = stack.up("re-up", wait_timeout=240)
        assert drill.items_api() == [] and drill.rows() == []

        step("make restore (into the new, empty database)")
        began = time.perf_counter()
        out = drill.sh(commands["restore newest"]).stdout
        record["make restore s"] = time.perf_counter() - began
        assert "stopping api, backup" in out and "starting api, backup again" in out, out
        assert drill.rows() == before_rows, "the table, byte for byte"
        assert drill.items_api() == before_api, "the api's answers, byte for byte"
        assert drill.post("drill-delta")["id"] == 4, "the id sequence came back too"
        smoke.assert_healthy(stack, LONG_RUNNING, ONE_SHOTS)

        step("refusals on the live stack")
        state = drill.rows()
        proc = drill.sh(f"make restore FILE=backups/{manual}", check=False)
        assert proc.returncode != 0 and "not confirmed" in proc.stderr, proc.stderr
        damaged = tmp_path / "damaged" / manual
        damaged.parent.mkdir()
        data = bytearray((backups / manual).read_bytes())
        data[len(data) // 2] ^= 0xFF
        damaged.write_bytes(bytes(data))
        (damaged.parent / f"{manual}.sha256").write_text((backups / f"{manual}.sha256").read_text())
        proc = drill.sh(f"make restore FILE={damaged} CONFIRM=yes", check=False)
        assert proc.returncode != 0 and "checksum mismatch" in proc.stderr, proc.stderr
        assert drill.rows() == state, "nothing changed"

        step("the scheduled service: SIGUSR1, a dump, its off-site copy")
        drill.post("drill-epsilon")
        at_dump = drill.rows()
        drill.sh(commands["dump now"])
        # (the container is new since `down -v`: its first "backup ok" is this one)
        scheduled = drill.wait_log("backup", r"backup ok: (\S+\.dump)")[1]
        assert scheduled not in (first, manual) and drill.dumps()[-1] == scheduled
        drill.wait_log("offsite", rf"offsite ok: {re.escape(scheduled)} copied")
        assert "retention:" in drill.logs("backup")

        step("make restore of the scheduled dump (into the existing database)")
        drill.post("drill-zeta")
        stack.exec("db", "psql", "-U", DB, "-d", DB, "-c", "UPDATE items SET name = 'changed' WHERE id = 1")
        assert drill.rows() != at_dump
        drill.sh(commands["restore newest"])
        assert drill.rows() == at_dump, "exactly the state of the dump: the later item gone, the name back"

        step("off-site: the dump back from restic")
        for suffix in ("", ".sha256"):
            (backups / f"{scheduled}{suffix}").unlink()
        drill.post("drill-eta")
        drill.sh(commands["from restic"])
        assert scheduled in drill.dumps(), "restic restored it into backups/"
        drill.sh(commands["restore newest"])
        assert drill.rows() == at_dump
        smoke.assert_healthy(stack, LONG_RUNNING, ONE_SHOTS)
        for service in ("backup", "offsite"):
            container = stack.container(service)
            container.reload()
            assert container.attrs["RestartCount"] == 0, f"{service} restarted:\n{drill.logs(service)}"
        step("done")
    finally:
        record["total"] = time.perf_counter() - started
