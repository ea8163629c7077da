"""scripts/sync_env.py of a generated project: `copier update` runs it to merge .env.example's
changes into the user's .env (three-way, user's values kept), and `make env-check`/`env-sync`
run it by hand. Unit by unit on dotenv lines, then through the generated Makefile."""

from __future__ import annotations

import subprocess

import pytest

from dwsupport import REPO, load_module
from dwsupport.dotenv import read_env

SYNC_ENV = load_module(REPO / "template" / "scripts" / "sync_env.py")


BASE_ENV = ["# layers", "COMPOSE_FILE=compose.yml:compose.db.yml:compose.api.yml", "API_PORT=8000", "OLD=1"]
NEW_ENV = [
    "# layers",
    "COMPOSE_FILE=compose.yml:compose.db.yml:compose.cache.yml:compose.api.yml",
    "API_PORT=8000",
    "# the cache's port",
    "CACHE_PORT=6379",
]


@pytest.mark.parametrize(
    ("ours", "base", "want"),
    [
        pytest.param(BASE_ENV, BASE_ENV, NEW_ENV, id="untouched-takes-the-new-example"),
        pytest.param(
            [
                "COMPOSE_FILE=compose.yml:compose.db.yml:compose.api.yml:compose-dev.yml",
                "API_PORT=18000",
                "OLD=1",
                "MINE=x",
            ],
            BASE_ENV,
            [
                "COMPOSE_FILE=compose.yml:compose.db.yml:compose.cache.yml:compose.api.yml:compose-dev.yml",
                "API_PORT=18000",
                "# the cache's port",
                "CACHE_PORT=6379",
                "MINE=x",
            ],
            id="edited-keeps-values-and-own-layers",
        ),
        pytest.param(
            ["COMPOSE_FILE=compose.yml:compose.api.yml", "OLD=2"],
            BASE_ENV,
            [
                "COMPOSE_FILE=compose.yml:compose.cache.yml:compose.api.yml",
                "# the cache's port",
                "CACHE_PORT=6379",
                "OLD=2",
            ],
            id="user-removals-stay-removed-changed-dropped-key-stays",
        ),
        pytest.param(
            ["COMPOSE_FILE=compose.yml:compose.gone.yml:compose.api.yml", "API_PORT=1"],
            None,
            [
                "COMPOSE_FILE=compose.yml:compose.db.yml:compose.cache.yml:compose.api.yml",
                "API_PORT=1",
                "# the cache's port",
                "CACHE_PORT=6379",
            ],
            id="no-base-adds-missing-and-drops-vanished-layers",
        ),
    ],
)
def test_sync_env_merges_three_ways(ours, base, want):
    exists = {
        "compose.yml",
        "compose.db.yml",
        "compose.api.yml",
        "compose.cache.yml",
        "compose-dev.yml",
    }.__contains__
    got, notes = SYNC_ENV.sync(ours, NEW_ENV, base, exists)
    assert got == want
    assert notes, "every change is reported"


def test_sync_env_leaves_an_up_to_date_env_alone():
    got, notes = SYNC_ENV.sync(NEW_ENV, NEW_ENV, BASE_ENV, lambda _: True)
    assert (got, notes) == (NEW_ENV, [])


def test_make_env_check_reports_a_stale_env_and_env_sync_fixes_it(default_render, tmp_path):
    project = default_render.copy_to(tmp_path / "p")
    env = project / ".env"
    tag = read_env(env)["API_TAG"]
    env.write_text(env.read_text().replace(":compose.cache.yml", ""))
    check = subprocess.run(["make", "env-check"], cwd=project, capture_output=True, text=True)
    assert check.returncode == 0 and "compose.cache.yml" in check.stdout and "make env-sync" in check.stdout
    subprocess.run(["make", "env-sync"], cwd=project, capture_output=True, text=True, check=True)
    # the example's settings, with the local image tag copier gave the project (after_copier.py)
    assert env.read_text() == (project / ".env.example").read_text().replace("_TAG=dev\n", f"_TAG={tag}\n")
    again = subprocess.run(["make", "env-check"], cwd=project, capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout == ""


def test_sync_env_drops_a_removed_services_settings_with_their_comments():
    base = ["A=1", "", "# the frontend's url", "URL=x", "", "# ports", "P1=1", "P2=2"]
    new = ["A=1", "", "# ports", "P2=2"]
    ours = ["A=1", "", "# the frontend's url", "URL=x", "", "# ports", "P1=1", "P2=20"]
    got, notes = SYNC_ENV.sync(ours, new, base, lambda _: True)
    assert got == ["A=1", "", "# ports", "P2=20"]
    assert notes == ["removed URL (the template dropped it)", "removed P1 (the template dropped it)"]


def test_sync_env_brings_new_comments_when_only_values_changed():
    """A .env that differs from the old .env.example only in values (yours, the checkout's image
    tags) or a migration's rename takes the new .env.example whole: a new comment-only block (a
    setting shown commented out) arrives too, which the key-by-key merge cannot carry."""
    base = ["# tags", "API_TAG=dev", "", "# ports", "HTTP_PORT=8080"]
    new = [
        "# tags",
        "API_TAG=dev",
        "",
        "# set only for other hosts:",
        "# URL=http://x",
        "",
        "# ports",
        "PROXY_PORT=8080",
    ]
    ours = ["# tags", "API_TAG=dev-1a2b3c4d", "", "# ports", "PROXY_PORT=18080"]
    got, notes = SYNC_ENV.sync(ours, new, base, lambda _: True)
    assert got == [
        "# tags",
        "API_TAG=dev-1a2b3c4d",
        "",
        "# set only for other hosts:",
        "# URL=http://x",
        "",
        "# ports",
        "PROXY_PORT=18080",
    ]
    assert notes == []
    # a setting of yours the template no longer has: the key-by-key merge keeps it
    got, _ = SYNC_ENV.sync([*ours[:-1], "MINE=1"], new, base, lambda _: True)
    assert "MINE=1" in got
