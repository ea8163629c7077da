"""Failure behaviour of the default stack (api, db, cache, frontend, proxy), for real.

One stack for the module (built with the suite's content-addressed tags, so a cache hit after
test_build_cache or test_stacks), every request through the proxy like a user's. In order:

- the database stops: /healthz stays 200 and the container's healthcheck keeps passing (it runs
  at least once during the outage; same container, no restart); /readyz is 503 naming the
  database; GET and POST /items are 503 with a JSON `detail` (no 500, no traceback). It starts
  again: /readyz is 200 within DB_RECOVERY_BOUND seconds (measured), nothing was restarted, and
  the item written before the outage is listed.
- the cache stops: /readyz is 200 "degraded" naming the cache, items are written and read from
  the database; it starts again: "ready", and the list is cached in Redis again.
- SIGTERM during requests in flight (`docker compose stop api`): DRAIN_REQUESTS item writes are
  held inside the api by a table lock, proven in flight from pg_stat_activity before the signal;
  the lock is released only once the api logged its shutdown. Every one of them gets its 201, the
  api exits by itself (no SIGKILL), and the items are there after it starts again.
- a release whose migration fails (a copy of the project with a broken migration 0002, deployed
  over the running stack like a new version): `up --wait` exits non-zero naming `migrate`, the
  api of that release is never started, the database stays at 0001 with its rows and without
  0002's column (PostgreSQL rolled the migration back); the previous release comes back up.

Recovery times go into the smoke summary (the `measured` column).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from dwsupport import probes, smoke
from dwsupport.compose import compose_binary
from dwsupport.render import copy

pytestmark = pytest.mark.docker

API_HOST = "api.localhost"  # the defaults' domain
# s from `compose start db` to /readyz 200: PostgreSQL's restart plus at most one connect_timeout
# (5 s, app/db.py) of an attempt made while it was coming up; pool_pre_ping replaces dead connections
DB_RECOVERY_BOUND = 15.0
CACHE_RECOVERY_BOUND = 10.0  # s from `compose start cache` to /readyz "ready"
DRAIN_REQUESTS = 8  # at most the api's pool (5 + 5 overflow), so each holds a db connection
HEALTHCHECK_WAIT = 40.0  # s: the api's healthcheck runs every 10 s
PSQL = 'exec psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"'
UNAVAILABLE = {"detail": "The database is unavailable; try again shortly."}

BROKEN_MIGRATION = '''\
"""Add a column, then fail (a function that does not exist): the kind of release that must stop."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("note", sa.Text()))
    op.execute("SELECT no_such_function()")


def downgrade() -> None:
    op.drop_column("items", "note")
'''


# ------------------------------------------------------------------ helpers
@pytest.fixture(scope="module")
def stack(docker_engine, tmp_path_factory):
    project = copy(tmp_path_factory.mktemp("failures") / "project")  # the defaults
    smoke.tag_standins(project)
    stack = smoke.Stack(project)
    try:
        stack.build()
        stack.up()
        yield stack
    finally:
        stack.down(volumes=True)


@pytest.fixture(autouse=True)
def _timed(stack, smoke_record):
    """Each scenario's wall time, and the module stack's build and up with the first one."""
    if not getattr(stack, "reported", False):
        smoke_record.update(build=stack.timings.get("build"), up=stack.timings.get("up"))
        stack.reported = True
    started = time.perf_counter()
    yield
    smoke_record["total"] = time.perf_counter() - started


def call(stack: smoke.Stack, path: str, method: str = "GET", payload=None) -> probes.Response:
    """One request through the proxy, no retry: the answer during a fault is what is checked."""
    return probes.http(
        stack.ports["PROXY_PORT"], path, host=API_HOST, method=method, payload=payload, retry_for=0
    )


def create(stack: smoke.Stack, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    r = call(stack, "/items", "POST", {"name": name})
    assert r.status == 201, str(r)
    return name


def listed(stack: smoke.Stack) -> list[str]:
    r = call(stack, "/items")
    assert r.status == 200, str(r)
    return [item["name"] for item in r.json()]


def identity(stack: smoke.Stack) -> tuple[str, str, int]:
    """(container id, StartedAt, RestartCount) of the api: any restart changes one of them."""
    api = stack.container("api")
    api.reload()
    return str(api.id), api.attrs["State"]["StartedAt"], api.attrs["RestartCount"]


def docker_time(value: str) -> datetime:
    """Docker's RFC 3339 time (nanoseconds) as a datetime (microseconds)."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00"))


def healthchecks_since(stack: smoke.Stack, since: datetime) -> list[dict]:
    api = stack.container("api")
    api.reload()
    log = api.attrs["State"]["Health"]["Log"]
    return [entry for entry in log if docker_time(entry["Start"]) > since]


def psql(stack: smoke.Stack, sql: str) -> str:
    return stack.exec("db", "sh", "-c", f"{PSQL} -c {json.dumps(sql)}").stdout.strip()


def api_logs_since(stack: smoke.Stack, since: datetime) -> list[dict]:
    raw = stack.container("api").logs(since=since, stdout=True, stderr=True).decode()
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


# ------------------------------------------------------------------ the database
def test_database_outage_answers_503_and_recovers_without_restart(stack, smoke_record):
    record = smoke_record
    record["config"] = "failures: db stopped"
    before = identity(stack)
    kept = create(stack, "before-db-outage")  # also empties the cached list: reads go to the db

    record["step"] = "db stopped"
    stopped_at = datetime.now(UTC)
    stack.compose("stop", "db")
    health = call(stack, "/healthz")
    assert health.status == 200 and health.json() == {"status": "ok"}, str(health)
    ready = call(stack, "/readyz")
    assert ready.status == 503, str(ready)
    assert ready.json()["status"] == "unavailable" and ready.json()["failing"] == ["database"], str(ready)
    for method, payload in (("GET", None), ("POST", {"name": "during-db-outage"})):
        r = call(stack, "/items", method, payload)
        assert r.status == 503, f"{method} /items: {r}"
        assert r.headers["content-type"] == "application/json", r.headers
        assert r.json() == UNAVAILABLE, str(r)
        assert r.headers.get("retry-after") == "5", r.headers

    record["step"] = "healthcheck during the outage"
    checks = probes.wait_for(
        lambda: healthchecks_since(stack, stopped_at),
        HEALTHCHECK_WAIT,
        "a healthcheck of the api during the outage",
    )
    assert all(entry["ExitCode"] == 0 for entry in checks), checks
    assert identity(stack) == before, "the api was restarted while the database was down"
    lines = api_logs_since(stack, stopped_at)
    warnings = [line for line in lines if line["message"] == "database unavailable"]
    assert {(line["method"], line["path"]) for line in warnings} == {("GET", "/items"), ("POST", "/items")}
    assert not [line for line in lines if line["level"] == "error" or "exception" in line], lines

    record["step"] = "db started again"
    started = time.perf_counter()
    stack.compose("start", "db")
    probes.wait_for(
        lambda: call(stack, "/readyz").status == 200, DB_RECOVERY_BOUND, "/readyz 200", interval=0.2
    )
    record["db recovery"] = time.perf_counter() - started
    assert identity(stack) == before, "the api was restarted"
    names = listed(stack)
    assert kept in names and "during-db-outage" not in names, names[:5]
    assert create(stack, "after-db-outage") in listed(stack)
    record["step"] = "done"


# ------------------------------------------------------------------ the cache
def test_cache_outage_is_degraded_and_recovers(stack, smoke_record):
    record = smoke_record
    record["config"] = "failures: cache stopped"
    before = identity(stack)

    record["step"] = "cache stopped"
    stack.compose("stop", "cache")
    ready = call(stack, "/readyz")
    assert ready.status == 200, str(ready)
    assert ready.json()["status"] == "degraded" and ready.json()["failing"] == ["cache"], str(ready)
    assert ready.json()["checks"]["database"] == "ok", str(ready)
    written = create(stack, "during-cache-outage")  # 201 although the list cannot be invalidated
    assert listed(stack)[0] == written, "reads must come from the database while the cache is down"

    record["step"] = "cache started again"
    started = time.perf_counter()
    stack.compose("start", "cache")
    probes.wait_for(
        lambda: call(stack, "/readyz").json()["status"] == "ready",
        CACHE_RECOVERY_BOUND,
        "/readyz ready",
        interval=0.2,
    )
    record["cache recovery"] = time.perf_counter() - started
    assert listed(stack)[0] == written
    cached = stack.exec(
        "cache",
        "sh",
        "-c",
        'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" redis-cli EXISTS api:items:list',
    ).stdout.strip()
    assert cached == "1", "the list is not cached again after the cache came back"
    assert identity(stack) == before, "the api was restarted"
    record["step"] = "done"


# ------------------------------------------------------------------ SIGTERM
def test_sigterm_completes_the_requests_in_flight(stack, smoke_record):
    record = smoke_record
    record["config"] = "failures: SIGTERM drain"
    project = [*compose_binary(), "-p", stack.project]
    env = {k: v for k, v in os.environ.items() if k != "COMPOSE_PROJECT_NAME"} | stack.env

    record["step"] = "table locked"
    # A second session holds an exclusive lock on `items`: every write through the api waits
    # inside the api, on its database connection, until the lock goes.
    locker = subprocess.Popen(
        [*project, "exec", "-T", "db", "sh", "-c", PSQL],
        cwd=stack.dir,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    answers: dict[str, int | str] = {}
    stopper = None
    assert locker.stdin is not None and locker.stdout is not None and locker.stderr is not None
    try:
        locker.stdin.write("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
        locker.stdin.flush()
        assert locker.stdout.readline().strip() == "locked", locker.stderr.read()

        def post(name: str) -> None:
            try:
                answers[name] = call(stack, "/items", "POST", {"name": name}).status
            except smoke.StackError as exc:
                answers[name] = repr(exc)

        names = [f"in-flight-{i}-{uuid.uuid4().hex[:6]}" for i in range(DRAIN_REQUESTS)]
        posts = [threading.Thread(target=post, args=(name,)) for name in names]
        for thread in posts:
            thread.start()

        record["step"] = "requests in flight"
        waiting = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'api' AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO items%'"
        )
        probes.wait_for(
            lambda: psql(stack, waiting) == str(DRAIN_REQUESTS),
            20,
            f"{DRAIN_REQUESTS} inserts waiting",
            interval=0.2,
        )
        assert not answers, f"answered before the lock was released: {answers}"

        record["step"] = "SIGTERM"
        signalled = datetime.now(UTC)
        started = time.perf_counter()
        stop: dict[str, subprocess.CompletedProcess[str]] = {}
        stopper = threading.Thread(target=lambda: stop.update(proc=stack.compose("stop", "api", check=False)))
        stopper.start()
        probes.wait_for(
            lambda: any(line["message"] == "Shutting down" for line in api_logs_since(stack, signalled)),
            10,
            "the api to log its shutdown",
            interval=0.1,
        )
        assert not answers, f"answered before the lock was released: {answers}"
        time.sleep(1)  # well inside the api's graceful window (8 s): the requests are still held

        record["step"] = "lock released"
        locker.stdin.write("COMMIT;\n")
        locker.stdin.close()
        locker.wait(timeout=30)
        for thread in posts:
            thread.join(timeout=30)
        stopper.join(timeout=60)
        record["drain"] = time.perf_counter() - started
    finally:
        if locker.poll() is None:
            locker.kill()
        if stopper is not None:
            stopper.join(timeout=60)

    assert answers == dict.fromkeys(names, 201), f"in flight at SIGTERM: {answers}"
    assert stop["proc"].returncode == 0, stop["proc"].stderr
    api = stack.container("api")
    api.reload()
    state = api.attrs["State"]
    # uvicorn exits by itself (0, or 143 when it re-raises SIGTERM); 137 would be docker's SIGKILL
    assert state["Status"] == "exited" and state["ExitCode"] in (0, 143), state
    assert any(line["message"] == "api stopped" for line in api_logs_since(stack, signalled))

    record["step"] = "api started again"
    stack.compose("start", "api")
    stack.wait_healthy("api", timeout=60)
    assert set(names) <= set(listed(stack)), "an item answered 201 is missing"
    record["step"] = "done"


# ------------------------------------------------------------------ a failing migration
def test_failing_migration_stops_the_release(stack, tmp_path, smoke_record):
    record = smoke_record
    record["config"] = "failures: migration fails"
    kept = create(stack, "before-broken-release")

    record["step"] = "broken release built"
    release = tmp_path / "release"
    shutil.copytree(stack.dir, release, symlinks=True)
    (release / "api" / "app" / "migrations" / "versions" / "0002_broken.py").write_text(BROKEN_MIGRATION)
    broken = smoke.Stack(release, name=stack.project)  # the same compose project: a deploy over it
    broken.ports, broken.env = stack.ports, {**stack.env, **smoke.image_tags(release, stack.vite_api_url)}
    assert broken.env["API_TAG"] != stack.env["API_TAG"]
    broken.build("api")

    record["step"] = "broken release deployed"
    with pytest.raises(smoke.StackError) as failed:
        broken.up(wait_timeout=120)
    assert 'service "migrate" didn\'t complete successfully: exit 1' in str(failed.value), str(failed.value)[
        -3000:
    ]
    ps = {row["Service"]: row for row in broken.ps()}
    assert ps["migrate"]["State"] == "exited" and ps["migrate"]["ExitCode"] == 1, ps["migrate"]
    assert ps["migrate"]["Image"].endswith(broken.env["API_TAG"]), ps["migrate"]
    assert ps["api"]["State"] == "created", f"the broken release's api must never start: {ps['api']}"
    assert ps["api"]["Image"].endswith(broken.env["API_TAG"]), ps["api"]
    logs = broken.compose("logs", "--no-color", "--no-log-prefix", "migrate").stdout
    failure = [json.loads(line) for line in logs.splitlines() if '"migration failed"' in line]
    assert len(failure) == 1 and failure[0]["level"] == "error", logs[-3000:]
    assert "UndefinedFunction" in failure[0]["exception"], failure[0]["exception"][-1000:]

    record["step"] = "database untouched"
    assert psql(stack, "SELECT version_num FROM alembic_version") == "0001"
    columns = psql(stack, "SELECT column_name FROM information_schema.columns WHERE table_name = 'items'")
    assert "note" not in columns.split(), "0002's column survived its failed migration"
    assert kept in psql(stack, "SELECT name FROM items").split()

    record["step"] = "previous release back"
    started = time.perf_counter()
    stack.up("rollback")
    record["rollback"] = time.perf_counter() - started
    assert kept in listed(stack)
    record["step"] = "done"
