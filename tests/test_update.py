"""`copier update` carries template changes into existing projects and never loses a user's edit.

As in Copier's own tests: a throw-away git repository of this template in tmp_path, holding every
released version (rebuilt from history, tests/releases.toml) and the work tree on top, each tagged;
a project copied at one tag and committed; local edits; `copier update` to a later tag (the CLI, as
a user runs it); then assertions on the answers file's _commit, the files, `git status` and the
secrets. The strongest one: an updated project equals a fresh copy with the same answers.
"""

from __future__ import annotations

import difflib
import pathlib
import subprocess
import sys
from typing import Any

import pytest
import yaml
from packaging.version import Version

from dwsupport import REPO, load_module, matrix
from dwsupport.compose import compose_binary, compose_config, compose_env, load_yaml_all
from dwsupport.dotenv import compose_layers, read_env
from dwsupport.template_repo import (
    TemplateRepo,
    build_template_repo,
    current_version,
    git,
    releases,
    update,
)
from dwsupport.tools import run, tool

AFTER_COPIER = load_module(REPO / "template" / "scripts" / "after_copier.py")
RELEASES = releases()
CURRENT = current_version()
MARKERS = ("<<<<<<< ", ">>>>>>> ")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> TemplateRepo:
    """Released versions + the work tree, shared read-only by the tests of this module."""
    return build_template_repo(tmp_path_factory.mktemp("history") / "template-repo")


@pytest.fixture
def template_repo(tmp_path: pathlib.Path, history: TemplateRepo) -> TemplateRepo:
    """A private clone, for tests that add template versions of their own."""
    return history.clone(tmp_path / "template-repo")


def secrets_of(project: pathlib.Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((project / "secrets").glob("*"))}


def local_env(project: pathlib.Path) -> str:
    """.env with the checkout's own local image tag (per checkout, like the secrets) written
    `<checkout tag>`: equal for two projects exactly when each holds its own."""
    tag = AFTER_COPIER.checkout_tag(project)
    return (project / ".env").read_text().replace(f"_TAG={tag}\n", "_TAG=<checkout tag>\n")


def tree(project: pathlib.Path) -> dict[str, bytes]:
    """Every file but git's and the secrets (random per project), by relative path; .env with
    the checkout's tag as local_env() writes it."""
    files = {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(project).parts and p.parent.name != "secrets"
    }
    if ".env" in files:
        files[".env"] = local_env(project).encode()
    return files


def assert_same_tree(updated: pathlib.Path, fresh: pathlib.Path) -> None:
    got, want = tree(updated), tree(fresh)
    assert sorted(got) == sorted(want), {
        "extra": sorted(set(got) - set(want)),
        "missing": sorted(set(want) - set(got)),
    }
    differ = [name for name in want if got[name] != want[name]]
    diffs = [
        "".join(
            difflib.unified_diff(
                want[name].decode(errors="replace").splitlines(True),
                got[name].decode(errors="replace").splitlines(True),
                f"fresh/{name}",
                f"updated/{name}",
            )
        )
        for name in differ[:3]
    ]
    assert not differ, f"differ from a fresh copy: {differ}\n" + "\n".join(diffs)


def assert_clean_merge(project: pathlib.Path) -> None:
    status = git(project, "status", "--porcelain", "--untracked-files=all")
    assert not [line for line in status.splitlines() if line[:2] in {"UU", "AA", "DU", "UD"}], status
    assert not list(project.rglob("*.rej"))
    marked = [
        str(p.relative_to(project))
        for p in project.rglob("*")
        if p.is_file()
        and ".git" not in p.parts
        and any(line.startswith(MARKERS) for line in p.read_text(errors="replace").splitlines())
    ]
    assert not marked, marked


def assert_render_checks(project: pathlib.Path) -> None:
    """The checks a generated project must pass after any update: compose merges the layers .env
    lists (and the dev file), hadolint passes the Dockerfiles, every YAML file parses."""
    layers = compose_layers(project)
    for files in (layers, [*layers, "compose-dev.yml"]):
        run([*compose_binary(), "config", "-q"], cwd=project, env=compose_env(files))
    for dockerfile in [project / "Dockerfile", project / "frontend" / "Dockerfile"]:
        if dockerfile.exists():
            run([tool("hadolint"), "--failure-threshold", "warning", str(dockerfile)])
    for path in [*project.rglob("*.yml"), *project.rglob("*.yaml")]:
        if ".git" not in path.parts:
            load_yaml_all(path)  # compose's !reset/!override tags included


def answers_of(project: pathlib.Path) -> dict[str, Any]:
    answers: dict[str, Any] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return answers


# ------------------------------------------------------------------ from each release to HEAD
@pytest.mark.parametrize("combo", matrix.UPDATES, ids=str)
@pytest.mark.parametrize("release", [r["version"] for r in RELEASES])
def test_update_from_a_release_equals_a_fresh_copy(history, tmp_path, release, combo):
    """Untouched project: the update is clean and yields exactly what a copy of HEAD does."""
    # the defaults: no answers at all, so the project starts from that release's own defaults
    answers = {} if combo == matrix.DEFAULTS else combo.answers()
    project = history.project(tmp_path / "project", f"v{release}", **answers)
    before = secrets_of(project)
    # answers: a new default moves neither (registry's default became `ghcr.io` in 0.3.0)
    recorded = {k: answers_of(project)[k] for k in ("python_version", "registry")}

    update(project, history.head)

    assert answers_of(project)["_commit"] == history.head
    assert_clean_merge(project)
    assert secrets_of(project) == before, "an update must never regenerate a secret"
    # a database made before 0.3.0 holds PostgreSQL 17 data: the update keeps it (migrations.py)
    kept = dict(recorded)
    if Version(release) < Version("0.3.0"):
        kept["postgres_version"] = "17"
    assert {k: answers_of(project).get(k) for k in kept} == kept
    fresh = history.copy(tmp_path / "fresh", history.head, **answers, **kept)
    assert_same_tree(project, fresh)
    assert_render_checks(project)


# ------------------------------------------------------------------ migrations


def test_migration_0_2_0_runs_once_and_keeps_the_users_port(template_repo, tmp_path):
    first = RELEASES[0]["version"]
    if Version(first) >= Version("0.2.0"):
        pytest.skip("no release older than the 0.2.0 migration")
    project = template_repo.project(tmp_path / "project", f"v{first}")
    env = project / ".env"
    env.write_text(env.read_text().replace("HTTP_PORT=8080", "HTTP_PORT=18080"))
    before = secrets_of(project)

    out = update(project, template_repo.head)

    assert out.count("dockwright migration 0.2.0: .env: HTTP_PORT -> PROXY_PORT") == 1, out
    settings = read_env(project / ".env")
    assert settings["PROXY_PORT"] == "18080" and "HTTP_PORT" not in settings
    assert settings["PROXY_DASHBOARD_PORT"] == "8088" and "TRAEFIK_DASHBOARD_PORT" not in settings
    # the user's port still reaches the proxy: compose publishes 127.0.0.1:18080
    published = compose_config(project)["services"]["proxy"]["ports"]
    assert [(p["host_ip"], p["published"]) for p in published] == [("127.0.0.1", "18080")]
    assert_clean_merge(project)
    assert secrets_of(project) == before

    # the next update (a later template version) does not run it again ...
    git(project, "add", "-A")
    git(project, "commit", "-qm", "update")
    later = template_repo.release(f"v{CURRENT.major}.{CURRENT.minor}.{CURRENT.micro + 1}", lambda t: None)
    again = update(project, later)
    assert "dockwright migration" not in again, again
    # ... and running it by hand finds nothing to do
    rerun = subprocess.run(
        [sys.executable, str(REPO / "migrations.py"), "0.2.0", str(project)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert rerun.stdout.strip() == "dockwright migration 0.2.0: nothing to do"
    assert read_env(project / ".env")["PROXY_PORT"] == "18080"


# ------------------------------------------------------------------ local edits


def change_db_comment(template: pathlib.Path) -> None:
    db = template / "{% if use_db %}compose.db.yml{% endif %}.jinja"
    text = db.read_text()
    assert "# PostgreSQL:" in text
    db.write_text(text.replace("# PostgreSQL:", "# PostgreSQL (next template version):", 1))


def test_local_edit_away_from_a_template_change_merges_cleanly(template_repo, tmp_path):
    project = template_repo.project(tmp_path / "project", template_repo.head)
    before = secrets_of(project)
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## Our notes\n\nKept across updates.\n")
    db = project / "compose.db.yml"
    db.write_text(db.read_text() + "# our own note at the end of the db layer\n")
    git(project, "commit", "-qam", "local edits")
    tag = template_repo.release("v99.0.0", change_db_comment)

    update(project, tag)

    assert answers_of(project)["_commit"] == tag
    assert "# PostgreSQL (next template version):" in db.read_text()
    assert db.read_text().endswith("# our own note at the end of the db layer\n")
    assert "Kept across updates." in readme.read_text()
    assert_clean_merge(project)
    assert secrets_of(project) == before
    assert_render_checks(project)


def guard(project: pathlib.Path) -> subprocess.CompletedProcess:
    """The generated CI's step that refuses unresolved updates, run as CI runs it."""
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    step = next(s for s in workflow["jobs"]["lint"]["steps"] if s.get("name", "").startswith("No unresolved"))
    return subprocess.run(["bash", "-c", step["run"]], cwd=project, capture_output=True, text=True)


@pytest.mark.parametrize("conflict", ["inline", "rej"])
def test_edit_on_the_same_lines_conflicts_and_ci_refuses_it(template_repo, tmp_path, conflict):
    project = template_repo.project(tmp_path / "project", template_repo.head)
    before = secrets_of(project)
    db = project / "compose.db.yml"
    db.write_text(db.read_text().replace("# PostgreSQL:", "# PostgreSQL (our wording):", 1))
    git(project, "commit", "-qam", "local edit")
    assert guard(project).returncode == 0
    tag = template_repo.release("v99.0.0", change_db_comment)

    update(project, tag, conflict=conflict)

    status = git(project, "status", "--porcelain", "--untracked-files=all")
    if conflict == "inline":
        text = db.read_text()
        assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text
        assert "# PostgreSQL (our wording):" in text and "# PostgreSQL (next template version):" in text
        assert "UU compose.db.yml" in status.splitlines(), status
    else:
        assert (project / "compose.db.yml.rej").is_file()
        assert "?? compose.db.yml.rej" in status.splitlines(), "a .rej file must not be git-ignored"
        # the template's line is in the file; the local edit waits in the .rej file
        assert "# PostgreSQL (next template version):" in db.read_text()
        assert "+# PostgreSQL (our wording):" in (project / "compose.db.yml.rej").read_text()
    refused = guard(project)
    assert refused.returncode == 1 and "compose.db.yml" in refused.stdout, refused.stdout + refused.stderr
    assert secrets_of(project) == before


# ------------------------------------------------------------------ option changes

DEFAULT_SERVICES = list(matrix.DEFAULT_SERVICES)
BASE = matrix.DEFAULTS.answers()
FLIPS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "enable-cache": (
        {**BASE, "services": ["api", "db", "frontend", "proxy"]},
        {"services": DEFAULT_SERVICES},
    ),
    "enable-observability": (BASE, {"services": [*DEFAULT_SERVICES, "observability"]}),
    "add-gke": (BASE, {"deploy_targets": ["vps", "gke"], "gcp_project": "acme-prod-123"}),
    "drop-frontend": (BASE, {"services": ["api", "db", "cache", "proxy"]}),
}


@pytest.mark.parametrize("flip", list(FLIPS))
def test_option_change_equals_a_fresh_copy(history, tmp_path, flip):
    """Turning a service or target on adds exactly its files (layer, COMPOSE_FILE entry, secrets,
    CI and k8s parts); turning one off removes exactly its files; local values in .env stay."""
    start, change = FLIPS[flip]
    project = history.project(tmp_path / "project", history.head, **start)
    before = secrets_of(project)
    env = project / ".env"
    env.write_text(env.read_text().replace("API_PORT=8000", "API_PORT=18000"))

    update(project, history.head, **change)

    recorded = {k: v for k, v in answers_of(project).items() if not k.startswith("_")}
    assert recorded | change == recorded, "the new answers are recorded"
    # the same answers: an answer given earlier (e.g. registry) stays, like any default it derived
    fresh = history.copy(tmp_path / "fresh", history.head, **recorded)
    # .env: a fresh copy's, new keys in their place, with the user's own port (and each its tag)
    assert local_env(project) == local_env(fresh).replace("API_PORT=8000", "API_PORT=18000")
    env.write_text(env.read_text().replace("API_PORT=18000", "API_PORT=8000"))
    assert_same_tree(project, fresh)
    assert_clean_merge(project)
    after = secrets_of(project)
    assert {k: after[k] for k in before} == before, "an update must never regenerate a secret"
    assert set(after) == set(before) | set(secrets_of(fresh)), (
        "new services get their secrets; none is deleted"
    )
    assert_render_checks(project)


def test_option_change_keeps_local_env_values_and_adds_the_layer(history, tmp_path):
    project = history.project(tmp_path / "project", history.head, services=["api", "db", "frontend", "proxy"])
    env = project / ".env"
    env.write_text(env.read_text().replace("API_PORT=8000", "API_PORT=18000") + "\n# ours\nOUR_SETTING=1\n")
    env.write_text(env.read_text().replace("COMPOSE_FILE=", "COMPOSE_FILE=compose.override.yml:", 1))
    (project / "compose.override.yml").write_text("services: {}\n")
    git(project, "add", "compose.override.yml")
    git(project, "commit", "-qm", "our override")

    out = update(project, history.head, services=DEFAULT_SERVICES)

    settings = read_env(project / ".env")
    assert settings["API_PORT"] == "18000" and settings["OUR_SETTING"] == "1"
    assert settings["CACHE_PORT"] == "6379"
    layers = settings["COMPOSE_FILE"].split(":")
    assert layers[0] == "compose.override.yml" and "compose.cache.yml" in layers, layers
    assert layers.index("compose.cache.yml") == layers.index("compose.db.yml") + 1, layers
    assert ".env updated from .env.example" in out
    assert_render_checks(project)


# ------------------------------------------------------------------ the generated CI guard


def test_generated_ci_refuses_unresolved_updates(default_render, tmp_path):
    """The generated CI's guard step passes on a clean tree and fails on conflict markers."""
    work = default_render.copy_to(tmp_path / "guard-check")
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "generated")
    assert guard(work).returncode == 0
    readme = work / "README.md"
    readme.write_text(
        readme.read_text() + "<<<<<<< before updating\nold\n=======\nnew\n>>>>>>> after updating\n"
    )
    dirty = guard(work)
    assert dirty.returncode == 1 and "README.md" in dirty.stdout
