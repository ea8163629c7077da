"""Promise: every project with a database can dump and restore it (`make backup`, `make restore`),
the VPS dumps it every day with a retention rule, optionally to restic, and the in-cluster
database has a CronJob that meets Pod Security "restricted" — all of it checked here without
Docker (tests/smoke/test_backups.py runs the restore drill for real).

- the retention of scripts/backup.sh (POSIX sh: the host, busybox in the images) against an
  independent model of the rule, on fake file names, in every shell at hand;
- scripts/restore.py through `make restore`, with a fake docker: refuses a damaged dump, a dump
  of another database and a missing confirmation (no TTY; and "no" typed at a TTY) before it
  changes anything; stops the writers, restores, starts them again;
- the backup and offsite services of compose.prod.yml (hardening, journald, mounts, secrets);
- the Kubernetes CronJob, its claim, script and network policies; none with Cloud SQL;
- the make targets, README rows and docs per combination.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import yaml

from dwsupport import matrix
from dwsupport.compose import compose_binary, compose_prod
from dwsupport.dotenv import read_env
from dwsupport.k8s import by_kind, kustomize, overlays
from dwsupport.matrix import Combo
from dwsupport.render import Render, Renders
from dwsupport.tools import fake_command, run, tool

# The shells scripts/backup.sh runs in: dash (Debian's sh, the host and the stand-in images),
# busybox sh (the alpine postgres and restic images, where installed here), bash (macOS hosts).
SHELLS = [["dash"], ["busybox", "sh"], ["bash"]]
AVAILABLE_SHELLS = [s for s in SHELLS if shutil.which(s[0])]


def test_every_shell_is_there_in_ci():
    """.ci/run installs busybox: in CI the alpine images' shell is never silently left out."""
    if not os.environ.get("CI"):
        pytest.skip("outside CI, the shells at hand are enough (busybox: apt-get install busybox)")
    assert AVAILABLE_SHELLS == SHELLS, f"missing: {[s for s in SHELLS if s not in AVAILABLE_SHELLS]}"


DB = "my_app"  # the default slug's database


@pytest.fixture(scope="module")
def default_project(renders: Renders) -> Render:
    return renders.of(matrix.DEFAULTS)


@pytest.fixture(scope="module")
def backup_sh(default_project: Render) -> pathlib.Path:
    return default_project.root / "scripts" / "backup.sh"


def shell_id(shell: list[str]) -> str:
    return shell[0]


# ------------------------------------------------------------------ the retention rule, modelled
def stamp(t: datetime.datetime) -> str:
    return t.strftime("%Y%m%dT%H%M%SZ")


def model_keep(times: list[datetime.datetime], daily: int, weekly: int) -> set[datetime.datetime]:
    """The rule docs/backups.md states, written from the text (not from the script): newest first,
    keep the newest of each of the last `daily` days that have a dump and of each of the last
    `weekly` ISO weeks (Monday..Sunday) that have one; while a rule has room left, the oldest too."""
    ordered = sorted(times, reverse=True)
    kept: set[datetime.datetime] = set()
    for rule_count, bucket in ((daily, lambda t: t.date()), (weekly, lambda t: t.isocalendar()[:2])):
        seen: list[Any] = []
        for i, t in enumerate(ordered):
            if len(seen) >= rule_count:
                break
            if not seen or bucket(t) != seen[-1] or i == len(ordered) - 1:
                seen.append(bucket(t))
                kept.add(t)
    return kept


def run_prune(shell: list[str], script: pathlib.Path, folder: pathlib.Path, daily: int, weekly: int) -> str:
    env = {**os.environ, "PGDATABASE": DB, "BACKUP_KEEP_DAILY": str(daily), "BACKUP_KEEP_WEEKLY": str(weekly)}
    proc = subprocess.run(
        [*shell, str(script), "prune", str(folder)], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def make_dumps(folder: pathlib.Path, times: list[datetime.datetime]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t in times:
        (folder / f"{DB}-{stamp(t)}.dump").write_text(stamp(t))
        (folder / f"{DB}-{stamp(t)}.dump.sha256").write_text("0" * 64)


def remaining(folder: pathlib.Path) -> set[datetime.datetime]:
    """The times of the complete dumps (with their .sha256) left in folder; no checksum alone."""
    out = set()
    for sums in folder.glob(f"{DB}-*.dump.sha256"):
        dump = sums.with_suffix("")
        assert dump.exists(), f"{sums.name} outlived its dump"
        out.add(datetime.datetime.strptime(dump.name[len(DB) + 1 : -len(".dump")], "%Y%m%dT%H%M%SZ"))
    return out


def at(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M")


@pytest.mark.parametrize("shell", AVAILABLE_SHELLS, ids=shell_id)
def test_retention_keeps_the_newest_per_day_and_per_week(shell, backup_sh, tmp_path):
    # 2026-11-30 is a Monday: a new week starts that day
    times = [
        at("2026-11-30 12:00"),  # newest: today's second dump
        at("2026-11-30 03:15"),  # today's first: superseded by the one above
        at("2026-11-29 03:15"),  # yesterday (Sunday): the newest of the week before
        at("2026-11-28 03:15"),
        at("2026-11-22 03:15"),  # the newest of the week of 16-22 November
        at("2026-11-16 03:15"),
        at("2026-10-01 03:15"),
    ]
    make_dumps(tmp_path, times)
    out = run_prune(shell, backup_sh, tmp_path, daily=2, weekly=3)
    assert remaining(tmp_path) == {at("2026-11-30 12:00"), at("2026-11-29 03:15"), at("2026-11-22 03:15")}
    assert "3 dumps kept (2 daily, 3 weekly), 4 pruned" in out, out
    assert model_keep(times, 2, 3) == remaining(tmp_path)


@pytest.mark.parametrize("shell", AVAILABLE_SHELLS, ids=shell_id)
def test_retention_keeps_the_oldest_while_the_history_is_short(shell, backup_sh, tmp_path):
    times = [at("2026-11-30 03:15"), at("2026-11-30 02:00"), at("2026-11-30 01:00")]
    make_dumps(tmp_path, times)
    run_prune(shell, backup_sh, tmp_path, daily=7, weekly=4)
    # one day has dumps, seven are asked for: the newest and the oldest stay
    assert remaining(tmp_path) == {at("2026-11-30 03:15"), at("2026-11-30 01:00")}


@pytest.mark.parametrize("shell", AVAILABLE_SHELLS, ids=shell_id)
def test_retention_matches_the_model_on_random_histories(shell, backup_sh, tmp_path):
    rng = random.Random(13)
    start = datetime.datetime(2025, 12, 20)  # across a year's end and ISO week 53/1
    for case in range(40):
        times = sorted(
            {
                start + datetime.timedelta(minutes=rng.randrange(0, 60 * 24 * 120))
                for _ in range(rng.randrange(1, 30))
            }
        )
        daily, weekly = rng.randrange(1, 9), rng.randrange(0, 6)
        folder = tmp_path / str(case)
        make_dumps(folder, times)
        run_prune(shell, backup_sh, folder, daily, weekly)
        assert remaining(folder) == model_keep(times, daily, weekly), (case, daily, weekly, times)


@pytest.mark.parametrize("shell", AVAILABLE_SHELLS, ids=shell_id)
def test_retention_touches_only_complete_dumps_of_this_database(shell, backup_sh, tmp_path):
    old, new = at("2026-01-01 03:15"), at("2026-11-30 03:15")
    make_dumps(tmp_path, [old, new])
    keep = [
        f"{DB}-{stamp(old)}.dump.partial",  # a dump being written
        f"other_app-{stamp(old)}.dump",  # another database's
        f"{DB}-pg17-20260101-031500.dump",  # the dump make db-upgrade keeps
        f"{DB}-{stamp(at('2025-01-01 03:15'))}.dump",  # no .sha256: incomplete, never counted
        "notes.txt",
    ]
    for name in keep:
        (tmp_path / name).write_text("x")
    run_prune(shell, backup_sh, tmp_path, daily=1, weekly=0)
    assert remaining(tmp_path) == {new}
    assert all((tmp_path / name).exists() for name in keep)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"BACKUP_KEEP_DAILY": "0"}, "BACKUP_KEEP_DAILY must be a whole number of at least 1"),
        ({"BACKUP_KEEP_DAILY": "seven"}, "BACKUP_KEEP_DAILY must be a whole number"),
        ({"BACKUP_KEEP_WEEKLY": "-1"}, "BACKUP_KEEP_WEEKLY must be a whole number"),
    ],
)
def test_retention_refuses_bad_settings_and_deletes_nothing(backup_sh, tmp_path, settings, message):
    make_dumps(tmp_path, [at("2026-11-30 03:15"), at("2026-11-29 03:15")])
    env = {**os.environ, "PGDATABASE": DB, **settings}
    proc = subprocess.run(
        ["sh", str(backup_sh), "prune", str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    assert len(remaining(tmp_path)) == 2


@pytest.mark.parametrize("shell", AVAILABLE_SHELLS, ids=shell_id)
def test_time_arithmetic_matches_python(shell, backup_sh):
    """name_epoch (dump names → epoch) and seconds_until (the schedule) against datetime."""
    rng = random.Random(7)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    lines = []
    expected = []
    for _ in range(60):
        t = epoch + datetime.timedelta(seconds=rng.randrange(0, 4_000_000_000))
        lines.append(f"name_epoch x-{t.strftime('%Y%m%dT%H%M%SZ')}.dump")
        expected.append(int(t.timestamp()))
        hh, mm = rng.randrange(24), rng.randrange(60)
        lines.append(f"seconds_until {hh:02d}:{mm:02d} {int(t.timestamp())}")
        target = t.replace(hour=hh, minute=mm, second=0)
        if target <= t:
            target += datetime.timedelta(days=1)
        expected.append(int((target - t).total_seconds()))
    script = f'BACKUP_SH_LIBRARY=1; . "{backup_sh}"\n' + "\n".join(lines)
    proc = subprocess.run([*shell, "-c", script], capture_output=True, text=True, check=True)
    assert [int(x) for x in proc.stdout.split()] == expected


# ------------------------------------------------------------------ the scripts as users call them
@pytest.mark.parametrize("combo", matrix.BACKUPS, ids=str)
def test_scripts_exist_with_the_database_and_are_clean(renders, combo):
    project = renders.of(combo).root
    scripts = project / "scripts"
    assert (scripts / "backup.sh").exists() == (scripts / "restore.py").exists() == combo.has("db")
    if not combo.has("db"):
        return
    assert os.access(scripts / "backup.sh", os.X_OK)
    run([tool("shellcheck"), "--shell=sh", str(scripts / "backup.sh")])
    for cmd in (["sh", "scripts/backup.sh", "--help"], [sys.executable, "scripts/restore.py", "--help"]):
        proc = run(cmd, cwd=project)
        assert "usage:" in proc.stdout and "restore" in proc.stdout, proc.stdout


def make_targets(project: pathlib.Path) -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (project / "Makefile").read_text(), re.M))


NO_DB = (Combo(("api", "cache")), Combo(("frontend",)))


@pytest.mark.parametrize("combo", (*matrix.BACKUPS, *NO_DB), ids=str)
def test_make_targets_and_readme_rows_come_with_the_database(renders, combo):
    project = renders.of(combo).root
    has = {"backup", "restore"} <= make_targets(project)
    assert has == combo.has("db")
    readme = (project / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `make ")]
    for target in ("backup", "restore"):
        assert any(row.startswith(f"| `make {target}") for row in rows) == combo.has("db"), target
    assert (project / "docs" / "backups.md").exists() == combo.has("db")
    if not combo.has("db"):
        proc = run(["make", "-C", str(project), "-n", "backup"], check=False)
        assert proc.returncode != 0 and "No rule to make target" in proc.stderr


# ------------------------------------------------------------------ make restore, with a fake docker
FAKE_DOCKER = textwrap.dedent("""\
    #!/usr/bin/env bash
    # docker compose as restore.py calls it: logs each call, answers the read-only ones
    printf '%s\\n' "$*" >> "$DOCKER_LOG"
    case "$*" in
      "compose config --format json") cat "$FAKE_CONFIG" ;;
      "compose ps --status running --services") printf 'db\\napi\\nbackup\\ncache\\nproxy\\n' ;;
      "compose exec -T db pg_restore --list")
        cat >/dev/null
        printf ';\\n;     dbname: %s\\n' "$FAKE_DBNAME" ;;
      "compose exec -T -u postgres db sh -c "*pg_restore*) cat > "$RESTORED" ;;
      "compose exec -T -u postgres db sh -c "*count*) echo 2 ;;
    esac
    exit 0
    """)
FAKE_CONFIG = {
    "name": "my-app",
    "services": {
        "db": {},
        "migrate": {"depends_on": {"db": {"condition": "service_healthy"}}},
        "api": {"depends_on": {"db": {}, "migrate": {}, "cache": {}}},
        "backup": {"depends_on": {"db": {}}},
        "cache": {},
        "proxy": {"depends_on": {"api": {}}},
    },
}


@pytest.fixture
def restore_project(default_project: Render, tmp_path: pathlib.Path) -> dict[str, Any]:
    project = default_project.copy_to(tmp_path / "p")
    path = fake_command(tmp_path / "bin", "docker", FAKE_DOCKER)
    (tmp_path / "config.json").write_text(json.dumps(FAKE_CONFIG))
    dump = project / "backups" / f"{DB}-20261130T031500Z.dump"
    dump.parent.mkdir()
    dump.write_bytes(b"PGDMP fake archive \x00\x01")
    digest = run(["sha256sum", dump.name], cwd=dump.parent).stdout
    (dump.parent / f"{dump.name}.sha256").write_text(digest)
    env = {
        "PATH": path,
        "DOCKER_LOG": str(tmp_path / "docker.log"),
        "FAKE_CONFIG": str(tmp_path / "config.json"),
        "FAKE_DBNAME": DB,
        "RESTORED": str(tmp_path / "restored.bin"),
    }
    return {"project": project, "env": env, "log": tmp_path / "docker.log", "dump": dump, "tmp": tmp_path}


def calls(log: pathlib.Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def changing(log: pathlib.Path) -> list[str]:
    """The calls that change something (everything but config, ps and the read-only listing)."""
    read_only = ("compose config", "compose ps", "compose exec -T db pg_restore --list")
    return [c for c in calls(log) if not c.startswith(read_only)]


def make_restore(
    rp: dict[str, Any], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "restore", f"FILE=backups/{rp['dump'].name}", *args],
        cwd=rp["project"],
        env={**os.environ, **rp["env"]},
        input=stdin,
        capture_output=True,
        text=True,
    )


def test_restore_stops_the_writers_restores_and_starts_them_again(restore_project):
    rp = restore_project
    proc = make_restore(rp, "CONFIRM=yes")
    assert proc.returncode == 0, proc.stderr
    assert pathlib.Path(rp["env"]["RESTORED"]).read_bytes() == rp["dump"].read_bytes(), "the dump, as is"
    steps = changing(rp["log"])
    assert steps[0] == "compose up -d --wait db"
    assert steps[1] == "compose stop api backup", "the running services that depend on db, no others"
    assert steps[2].startswith("compose exec -T -u postgres db sh -c ") and "--single-transaction" in steps[2]
    assert "--clean --if-exists" in steps[2] and "--exit-on-error" in steps[2]
    assert steps[-2].startswith("compose exec -T cache sh -c ") and "FLUSHALL" in steps[-2]
    assert steps[-1] == "compose up -d --wait api backup"
    assert f"restored into {DB} of project my-app" in proc.stdout


def test_restore_without_confirmation_changes_nothing(restore_project):
    rp = restore_project
    proc = make_restore(rp, stdin="")  # no CONFIRM, stdin not a terminal
    assert proc.returncode != 0
    assert "not confirmed" in proc.stderr and "CONFIRM=yes" in proc.stderr, proc.stderr
    assert changing(rp["log"]) == []
    proc = make_restore(rp, "CONFIRM=y")
    assert proc.returncode != 0 and "only CONFIRM=yes" in proc.stderr
    assert changing(rp["log"]) == []


def test_restore_refuses_a_damaged_dump(restore_project):
    rp = restore_project
    data = bytearray(rp["dump"].read_bytes())
    data[3] ^= 0x01  # one bit
    rp["dump"].write_bytes(bytes(data))
    proc = make_restore(rp, "CONFIRM=yes")
    assert proc.returncode != 0 and "checksum mismatch" in proc.stderr, proc.stderr
    assert calls(rp["log"]) == [], "refused before docker was asked anything"


def test_restore_refuses_a_missing_or_swapped_checksum(restore_project):
    rp = restore_project
    sums = rp["dump"].with_name(rp["dump"].name + ".sha256")
    text = sums.read_text()
    sums.write_text(text.replace(rp["dump"].name, f"{DB}-20261129T031500Z.dump"))
    proc = make_restore(rp, "CONFIRM=yes")
    assert proc.returncode != 0 and "is the checksum of" in proc.stderr, proc.stderr
    sums.unlink()
    proc = make_restore(rp, "CONFIRM=yes")
    assert proc.returncode != 0 and "no checksum beside the dump" in proc.stderr, proc.stderr
    assert calls(rp["log"]) == []


def test_restore_refuses_another_projects_dump(restore_project):
    rp = restore_project
    rp["env"]["FAKE_DBNAME"] = "shop"
    proc = make_restore(rp, "CONFIRM=yes")
    assert proc.returncode != 0 and "a dump of database 'shop', not of this project's 'my_app'" in proc.stderr
    assert changing(rp["log"]) == ["compose up -d --wait db"], "nothing stopped, nothing restored"


def test_restore_asks_at_a_terminal(restore_project):
    """Without CONFIRM, a person at a terminal is asked: "no" stops, "yes" goes on."""
    pty = pytest.importorskip("pty")
    rp = restore_project

    def answer(text: str) -> tuple[int, str]:
        primary, secondary = pty.openpty()
        proc = subprocess.Popen(
            ["make", "restore", f"FILE=backups/{rp['dump'].name}"],
            cwd=rp["project"],
            env={**os.environ, **rp["env"]},
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
        )
        os.close(secondary)
        output = b""
        while b"Type yes to go on:" not in output:
            output += os.read(primary, 4096)
        os.write(primary, text.encode() + b"\n")
        code = proc.wait(timeout=60)
        try:
            while chunk := os.read(primary, 4096):
                output += chunk
        except OSError:
            pass
        os.close(primary)
        return code, output.decode(errors="replace")

    code, output = answer("no")
    assert code != 0 and "not confirmed" in output, output
    assert f"into database {DB} of compose project my-app" in output, "the prompt names the target"
    assert changing(rp["log"]) == []
    code, output = answer("yes")
    assert code == 0, output
    assert "compose stop api backup" in calls(rp["log"])


# ------------------------------------------------------------------ the VPS: backup and offsite services
@pytest.mark.parametrize("combo", [c for c in matrix.BACKUPS if "vps" in c.targets], ids=str)
def test_backup_services_in_the_production_layer(renders, combo):
    render = renders.of(combo)
    project, ctx = render.root, render.context
    config = compose_prod(project)
    services = config["services"]
    assert ("backup" in services) == combo.has("db")
    assert ("offsite" in services) == (combo.has("db") and combo.more.get("backup_offsite") == "restic")
    if not combo.has("db"):
        return
    defaults = read_env(project / ".env.prod.example")
    for name in {"backup", "offsite"} & set(services):
        svc = services[name]
        assert svc["user"] == f"{defaults['BACKUP_UID']}:{defaults['BACKUP_GID']}" != "0:0"
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"] and not svc.get("cap_add")
        assert "no-new-privileges:true" in svc["security_opt"]
        assert svc["restart"] == "unless-stopped" and svc["healthcheck"]["test"][-1] == "health"
        assert svc["entrypoint"] == ["/bin/sh", "/usr/local/lib/backup.sh"]
        assert svc["logging"] == {"driver": "journald", "options": {"tag": ctx["backup"]["log_tag"]}}
        assert {"cpus", "memory", "pids"} <= set(svc["deploy"]["resources"]["limits"])
        mounts = {v["target"]: v for v in svc["volumes"]}
        assert mounts["/usr/local/lib/backup.sh"]["source"] == str(project / "scripts" / "backup.sh")
        assert mounts["/usr/local/lib/backup.sh"]["read_only"] is True
        assert mounts["/backups"]["source"] == str(project / "backups")
        assert mounts["/backups"].get("read_only", False) == (name == "offsite"), "only backup writes"
        env = svc["environment"]
        assert env["PGDATABASE"] == ctx["db_name"] and env["BACKUP_DIR"] == "/backups"
        for key in ("BACKUP_KEEP_DAILY", "BACKUP_KEEP_WEEKLY"):
            assert env[key] == defaults[key]
    backup = services["backup"]
    assert backup["image"] == services["db"]["image"], "pg_dump of the server's own major"
    assert backup["command"] == ["schedule"] and backup["networks"] == {"backend": None}
    assert backup["depends_on"]["db"]["condition"] == "service_healthy"
    assert backup["environment"]["BACKUP_AT"] == defaults["BACKUP_AT"] == ctx["backup"]["at"]
    assert backup["environment"]["PGHOST"] == "db" and backup["environment"]["PGUSER"] == ctx["db_user"]
    assert [s["source"] for s in backup["secrets"]] == ["postgres_password"]
    if "offsite" in services:
        offsite = services["offsite"]
        assert offsite["image"] == ctx["images"]["restic"] and offsite["command"] == ["offsite"]
        assert set(offsite["networks"]) == {"public"}, "the repository is outside; not the backend"
        assert offsite["depends_on"]["backup"]["condition"] == "service_healthy"
        assert {s["source"] for s in offsite["secrets"]} == {"restic_password", "offsite_credentials"}
        env = offsite["environment"]
        assert env["RESTIC_PASSWORD_FILE"] == "/run/secrets/restic_password"
        assert env["AWS_SHARED_CREDENTIALS_FILE"] == env["GOOGLE_APPLICATION_CREDENTIALS"]
        assert env["AWS_SHARED_CREDENTIALS_FILE"] == "/run/secrets/offsite_credentials"
        assert not [k for k in env if re.search("KEY|SECRET|PASSWORD$", k)], "credentials come from files"
        assert (project / "secrets" / "restic_password.txt").is_file(), "generated with the others"
        assert config["secrets"]["offsite_credentials"]["file"] == str(
            project / "secrets" / "offsite_credentials.txt"
        )


def test_offsite_needs_its_repository(renders):
    project = renders.of(matrix.DEFAULTS_OFFSITE).root
    proc = run(
        [*compose_binary(), "--env-file", ".env.prod.example", "config", "-q"],
        cwd=project,
        env={"API_TAG": "a1", "FRONTEND_TAG": "a1"},
        check=False,
    )
    assert proc.returncode != 0 and "set RESTIC_REPOSITORY in .env" in proc.stderr, proc.stderr
    assert "RESTIC_REPOSITORY" in read_env(project / ".env.prod.example")


def test_bootstrap_creates_the_backups_folder_for_the_deploy_user(renders):
    text = (renders.of(matrix.DEFAULTS).root / "deploy" / "vps" / "bootstrap.sh").read_text()
    assert 'install -d -o "${DEPLOY_USER}" -g "${DEPLOY_USER}" -m 0700 "${APP_DIR}/backups"' in text
    assert 'BACKUP_UID=$(id -u "${DEPLOY_USER}")' in text
    no_db = (renders.of(Combo(("api",))).root / "deploy" / "vps" / "bootstrap.sh").read_text()
    assert "backups" not in no_db


# ------------------------------------------------------------------ Kubernetes
@pytest.mark.parametrize("combo", [c for c in matrix.BACKUPS if {"gke", "private"} & set(c.targets)], ids=str)
def test_cronjob_dumps_the_in_cluster_database(renders, combo):
    render = renders.of(combo)
    project, ctx = render.root, render.context
    script = (project / "scripts" / "backup.sh").read_text()
    assert (project / "kubernetes" / "base" / "db-backup.sh").read_text() == script, "the ConfigMap's copy"
    for overlay in overlays(combo.targets):
        docs = kustomize(project, overlay)
        jobs = by_kind(docs, "CronJob")
        if overlay == "gke-managed":
            assert not jobs, "Cloud SQL backs itself up"
            assert not [d for d in docs if "db-backup" in d["metadata"]["name"]], overlay
            continue
        cron = jobs["db-backup"]["spec"]
        assert cron["schedule"] == ctx["backup"]["cron"] == "15 3 * * *" and cron["timeZone"] == "Etc/UTC"
        assert cron["concurrencyPolicy"] == "Forbid"
        assert cron["successfulJobsHistoryLimit"] == 3 and cron["failedJobsHistoryLimit"] == 3
        job = cron["jobTemplate"]["spec"]
        assert job["activeDeadlineSeconds"] == 3600 and job["backoffLimit"] == 2
        pod = job["template"]["spec"]
        (container,) = pod["containers"]
        db = by_kind(docs, "StatefulSet")["db"]["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == db["image"], "pg_dump of the server's own major"
        assert container["command"] == ["/bin/sh", "/opt/backup/backup.sh"] and container["args"] == ["run"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["PGHOST"] == "db" and env["PGDATABASE"] == ctx["db_name"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["backups"]["persistentVolumeClaim"]["claimName"] == "db-backups"
        assert by_kind(docs, "PersistentVolumeClaim")["db-backups"]["spec"]["accessModes"] == [
            "ReadWriteOnce"
        ]
        config_maps = by_kind(docs, "ConfigMap")
        config_map = config_maps[volumes["script"]["configMap"]["name"]]
        assert config_map["data"]["backup.sh"] == script
        # network: out to the database only (DNS from the namespace-wide policy), the db lets it in
        policies = by_kind(docs, "NetworkPolicy")
        egress = policies["db-backup-to-db"]["spec"]
        assert egress["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "db-backup"}
        assert egress["egress"] == [
            {
                "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "db"}}}],
                "ports": [{"protocol": "TCP", "port": 5432}],
            }
        ]
        ingress = policies["db-from-backup"]["spec"]
        assert ingress["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "db"}
        assert ingress["ingress"][0]["from"] == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "db-backup"}}}
        ]
        others = [
            name
            for name, p in policies.items()
            if p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == "db-backup"
        ]
        assert others == ["db-backup-to-db"], "no other flow opened for the backup pods"


def test_documented_kubernetes_restore_patches_the_job(renders, tmp_path):
    """docs/backups.md turns the CronJob's Job into a restore Job with `kubectl patch --local`:
    run that patch offline on the Job `kubectl create job --from=cronjob/db-backup` would make."""
    project = renders.of(Combo(matrix.DEFAULT_SERVICES, ("private",))).root
    docs_text = (project / "docs" / "backups.md").read_text()
    patch = re.search(r"-p '(\[.*?\])'", docs_text)
    assert patch, "the restore block's JSON patch"
    cron = by_kind(kustomize(project, "private"), "CronJob")["db-backup"]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "db-restore"},
        "spec": cron["spec"]["jobTemplate"]["spec"],
    }
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    patch_local = ["kubectl", "patch", "--local", "-f", str(tmp_path / "job.yaml"), "--type", "json"]
    out = run([*patch_local, "-o", "yaml", "-p", patch[1]]).stdout
    patched = yaml.safe_load(out)["spec"]["template"]["spec"]["containers"][0]
    assert patched["args"] == ["restore", f"{DB}-20261201T031500Z.dump"]
    assert patched["command"] == ["/bin/sh", "/opt/backup/backup.sh"]
