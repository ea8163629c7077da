"""Answers a project keeps: the PostgreSQL major (the format of the data in its volume) and the
Python version (a removed choice is carried to the nearest offered one, never silently replaced).

- Each PostgreSQL major renders its own data layout, in compose and in Kubernetes: 18+ mounts its
  volume at /var/lib/postgresql (PGDATA /var/lib/postgresql/18/docker; the image refuses an old
  mount at /var/lib/postgresql/data), 17 keeps the volume as its data directory. The expectations
  are written out here, not taken from extensions/context.py.
- migrations.py 0.3.0, unit by unit and through a real `copier update` from the released 0.2.0:
  python_version 3.12 becomes 3.13 and postgres_version 17 is recorded, with a word on the terminal.
The update with real data (PostgreSQL 17 volume, then the documented upgrade to 18) runs in the
smoke suite: tests/smoke/test_pg_upgrade.py.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml
from packaging.version import Version

from dwsupport import REPO, load_module
from dwsupport.compose import compose_config
from dwsupport.k8s import kustomize
from dwsupport.matrix import Combo
from dwsupport.render import COPIER_YML, Renders
from dwsupport.template_repo import TemplateRepo, build_template_repo, git, releases, update

# What each PostgreSQL major must look like, from the upstream images' layout.
LAYOUT = {
    "18": {
        "image": "postgres:18.",
        "volume": "db_data_pg18",
        "mount": "/var/lib/postgresql",
        "pgdata": "/var/lib/postgresql/18/docker",
        "claim": "data-pg18",
    },
    "17": {
        "image": "postgres:17.",
        "volume": "db_data",
        "mount": "/var/lib/postgresql/data",
        "pgdata": "/var/lib/postgresql/data/pgdata",  # Kubernetes: below lost+found's volume root
        "claim": "data",
    },
}
OLD_MOUNT = "/var/lib/postgresql/data"


def answers_of(project: pathlib.Path) -> dict[str, Any]:
    recorded: dict[str, Any] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return recorded


def dev_config(project: pathlib.Path) -> dict[str, Any]:
    """The merged compose model of the layers in .env plus compose-dev.yml (every service)."""
    env = next(x for x in (project / ".env").read_text().splitlines() if x.startswith("COMPOSE_FILE="))
    return compose_config(project, layers=[*env.split("=", 1)[1].split(":"), "compose-dev.yml"])


@pytest.fixture(scope="module", params=["18", "17"], ids=["pg18", "pg17"])
def pg_project(request: pytest.FixtureRequest, renders: Renders) -> tuple[str, pathlib.Path]:
    major: str = request.param
    combo = Combo(("api", "db"), ("vps", "private"), variant=f"pg{major}", more={"postgres_version": major})
    return major, renders.of(combo).root


# ------------------------------------------------------------------ the questions
def test_postgres_version_is_asked_with_a_database_only():
    question = COPIER_YML["postgres_version"]
    assert set(question["choices"].values()) == set(LAYOUT)
    assert question["default"] == "18"
    assert question["when"] == "{{ 'db' in services }}"


def test_python_versions_offered():
    question = COPIER_YML["python_version"]
    assert list(question["choices"].values()) == ["3.15", "3.14", "3.13"]
    assert question["default"] == "3.14"
    images = yaml.safe_load((REPO / "extensions" / "images.yml").read_text())
    for version in question["choices"].values():
        assert images[f"python_{version.replace('.', '_')}"]["ref"].startswith(f"python:{version}.")
        assert images[f"python_{version.replace('.', '_')}"]["ref"].endswith("-slim-trixie")


def test_without_a_database_no_postgres_answer_is_recorded(renders):
    project = renders.of(Combo(("api",))).root
    assert "postgres_version" not in answers_of(project)
    assert not (project / "docs" / "database.md").exists()


# ------------------------------------------------------------------ the data layout
def test_compose_mounts_the_volume_where_the_major_keeps_its_data(pg_project):
    major, project = pg_project
    want = LAYOUT[major]
    config = dev_config(project)
    db = config["services"]["db"]
    assert db["image"].startswith(want["image"]), db["image"]
    mounts = [(v["source"], v["target"]) for v in db["volumes"] if v["type"] == "volume"]
    assert mounts == [(want["volume"], want["mount"])]
    assert set(config["volumes"]) == {want["volume"]}
    # nothing else in the stack mounts PostgreSQL's data (e.g. a backup sidecar at the old path)
    for name, service in config["services"].items():
        for volume in service.get("volumes", []):
            if name != "db":
                assert not volume["target"].startswith("/var/lib/postgresql"), (name, volume)
    if major != "17":
        assert all(target != OLD_MOUNT for _, target in mounts), "18+ refuses a mount at .../data"


def test_kubernetes_statefulset_mounts_the_claim_where_the_major_keeps_its_data(pg_project):
    major, project = pg_project
    want = LAYOUT[major]
    (db,) = [d for d in kustomize(project, "private") if d["kind"] == "StatefulSet"]
    (container,) = db["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = [c["metadata"]["name"] for c in db["spec"]["volumeClaimTemplates"]]
    assert container["image"].split("/")[-1].startswith(want["image"]), container["image"]
    assert claims == [want["claim"]]
    assert mounts[want["claim"]] == want["mount"]
    assert env["PGDATA"].startswith(want["mount"] + "/") and env["PGDATA"] == (
        want["pgdata"] if major == "17" else LAYOUT[major]["pgdata"]
    )
    if major != "17":
        assert OLD_MOUNT not in mounts.values()


def test_database_docs_and_upgrade_target(pg_project):
    major, project = pg_project
    docs = (project / "docs" / "database.md").read_text()
    makefile = (project / "Makefile").read_text()
    if major == "17":
        assert "copier update --trust --defaults --data postgres_version=18" in docs
        assert "db-upgrade:" not in makefile and not (project / "scripts" / "db_upgrade.py").exists()
    else:
        assert "db-upgrade:" in makefile and (project / "scripts" / "db_upgrade.py").is_file()
    assert "backups/" in (project / ".gitignore").read_text().splitlines()


# ------------------------------------------------------------------ migrations.py 0.3.0, unit by unit
ANSWERS = """\
# Changes here will be overwritten by Copier; NEVER EDIT MANUALLY
_commit: v0.2.0
_src_path: gh:acme/dockwright
author_email: platform@example.org
project_name: My App
python_version: '{python}'
registry: ghcr.io/my-app/my-app
services:
{services}
"""


def answers_text(python: str, services: list[str]) -> str:
    return ANSWERS.format(python=python, services="\n".join(f"- {s}" for s in services))


def migrations():
    return load_module(REPO / "migrations.py")


def test_migration_0_3_0_carries_python_3_12_and_keeps_postgres_17(tmp_path):
    path = tmp_path / ".copier-answers.yml"
    path.write_text(answers_text("3.12", ["api", "db"]))
    notes = migrations().v0_3_0(tmp_path)
    assert [n.split(":", 2)[1].split()[0] for n in notes] == ["python_version", "postgres_version"], notes
    assert "3.12 -> 3.13" in notes[0] and "docs/database.md" in notes[1]
    answers = yaml.safe_load(path.read_text())
    assert answers["python_version"] == "3.13" and answers["postgres_version"] == "17"
    # only those two lines changed; the new answer sits in copier's sorted order
    lines = path.read_text().splitlines()
    assert lines.index("postgres_version: '17'") + 1 == lines.index("project_name: My App")
    assert path.read_text().replace("postgres_version: '17'\n", "") == answers_text("3.13", ["api", "db"])
    assert migrations().v0_3_0(tmp_path) == [], "idempotent"


@pytest.mark.parametrize(
    ("python", "services", "want"),
    [
        ("3.13", ["api", "db"], {"python_version": "3.13", "postgres_version": "17"}),
        ("3.12", ["api"], {"python_version": "3.13"}),
        ("3.13", ["frontend"], {"python_version": "3.13"}),
    ],
    ids=["py3.13-with-db", "py3.12-without-db", "no-db"],
)
def test_migration_0_3_0_changes_only_what_it_must(tmp_path, python, services, want):
    path = tmp_path / ".copier-answers.yml"
    path.write_text(answers_text(python, services))
    migrations().v0_3_0(tmp_path)
    answers = yaml.safe_load(path.read_text())
    assert {k: answers.get(k) for k in ("python_version", "postgres_version") if k in answers} == want


def test_migration_0_3_0_keeps_a_recorded_postgres_answer(tmp_path):
    path = tmp_path / ".copier-answers.yml"
    path.write_text(answers_text("3.14", ["api", "db"]) + "postgres_version: '18'\n")
    assert migrations().v0_3_0(tmp_path) == []


# ------------------------------------------------------------------ a real update from 0.2.0
@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> TemplateRepo:
    return build_template_repo(tmp_path_factory.mktemp("history") / "template-repo")


@pytest.mark.skipif(
    not any(Version(r["version"]) == Version("0.2.0") for r in releases()), reason="no 0.2.0 release"
)
def test_update_from_0_2_0_keeps_postgres_17_and_moves_python_3_12_to_3_13(history, tmp_path):
    project = history.project(tmp_path / "project", "v0.2.0", python_version="3.12")
    assert answers_of(project)["python_version"] == "3.12"
    compose_before = dev_config(project)["services"]["db"]

    out = update(project, history.head)

    answers = answers_of(project)
    assert answers["_commit"] == history.head
    assert answers["python_version"] == "3.13", "a removed choice must not fall to the default"
    assert answers["postgres_version"] == "17", "the volume holds PostgreSQL 17 data"
    assert "dockwright migration 0.3.0: .copier-answers.yml: python_version 3.12 -> 3.13" in out, out
    assert "dockwright migration 0.3.0: .copier-answers.yml: postgres_version recorded as 17" in out, out
    # the after-update message says what to do about PostgreSQL 18
    assert "PostgreSQL 18 is available: docs/database.md" in out, out
    # the same volume at the same place, a newer PostgreSQL 17 image; the api on Python 3.13
    db = dev_config(project)["services"]["db"]
    assert db["image"].startswith(LAYOUT["17"]["image"]) and db["image"] != compose_before["image"]
    assert (
        [(v["source"], v["target"]) for v in db["volumes"]]
        == [(v["source"], v["target"]) for v in compose_before["volumes"]]
        == [("db_data", OLD_MOUNT)]
    )
    assert "FROM python:3.13." in (project / "Dockerfile").read_text()
    assert git(project, "status", "--porcelain", "--", ".copier-answers.yml").startswith(" M")
