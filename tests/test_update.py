"""`copier update` carries template changes into existing projects and never loses a user's edit.

As in Copier's own tests: a throw-away git repository of this template in tmp_path, holding every
released version (rebuilt from history, tests/releases.toml) and the work tree on top, each tagged;
a project copied at one tag and committed; local edits; `copier update` to a later tag (the CLI, as
a user runs it); then assertions on the answers file's _commit, the files, `git status` and the
secrets. The strongest one: an updated project equals a fresh copy with the same answers.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tomllib

import pytest
import yaml
from conftest import (
    ALL_SERVICES,
    ALL_TARGETS,
    DEFAULT_SERVICES,
    REPO,
    compose_binary,
    load_module,
    load_yaml_all,
    tool,
)
from packaging.version import Version

IGNORE = shutil.ignore_patterns(
    ".git", ".venv", ".nox", "build", "__pycache__", ".pytest_cache", ".ruff_cache", "node_modules"
)
RELEASES = tomllib.loads((REPO / "tests" / "releases.toml").read_text())["release"]
CURRENT = Version(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
MARKERS = ("<<<<<<< ", ">>>>>>> ")


def git(cwd: pathlib.Path, *args: str, check: bool = True) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=check, capture_output=True, text=True
    ).stdout


def copier(*args: str) -> str:
    """The copier CLI, as a user runs it; returns what it and its tasks printed."""
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "copier", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def data_args(data: dict) -> list[str]:
    return [
        arg
        for k, v in data.items()
        for arg in ("--data", f"{k}={v if isinstance(v, str) else json.dumps(v)}")
    ]


@dataclasses.dataclass
class TemplateRepo:
    path: pathlib.Path
    tags: list[str]  # oldest first; the last one is the work tree

    @property
    def head(self) -> str:
        return self.tags[-1]

    def release(self, tag: str, edit) -> str:
        """A further template version: `edit(template_dir)`, committed and tagged."""
        edit(self.path / "template")
        git(self.path, "commit", "-qam", tag, "--allow-empty")
        git(self.path, "tag", tag)
        self.tags.append(tag)
        return tag


def head_tag() -> str:
    released = {Version(r["version"]) for r in RELEASES}
    return f"v{CURRENT}.post1" if CURRENT in released else f"v{CURRENT}"


def clear_work_tree(repo: pathlib.Path) -> None:
    for child in repo.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def build_template_repo(dst: pathlib.Path) -> TemplateRepo:
    dst.mkdir()
    git(dst, "init", "-q", "-b", "main")
    tags = []
    for release in RELEASES:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", release["commit"]], cwd=REPO, capture_output=True
        )
        if archive.returncode:
            pytest.fail(
                f"release {release['version']} ({release['commit']}) is not in this clone's history: "
                "the update tests need the template's full git history (clone without --depth)"
            )
        clear_work_tree(dst)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(dst, filter="data")
        git(dst, "add", "-A")
        git(dst, "commit", "-qm", f"release {release['version']}", "--allow-empty")
        git(dst, "tag", f"v{release['version']}")
        tags.append(f"v{release['version']}")
    clear_work_tree(dst)
    shutil.copytree(REPO, dst, ignore=IGNORE, dirs_exist_ok=True)
    git(dst, "add", "-A")
    git(dst, "commit", "-qm", "work tree", "--allow-empty")
    git(dst, "tag", head_tag())
    return TemplateRepo(dst, [*tags, head_tag()])


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> TemplateRepo:
    """Released versions + the work tree, shared read-only by the tests of this module."""
    return build_template_repo(tmp_path_factory.mktemp("history") / "template-repo")


@pytest.fixture
def template_repo(tmp_path, history) -> TemplateRepo:
    """A private clone, for tests that add template versions of their own."""
    dst = tmp_path / "template-repo"
    git(tmp_path, "clone", "-q", str(history.path), str(dst))
    return TemplateRepo(dst, list(history.tags))


def fresh_copy(repo: TemplateRepo, dst: pathlib.Path, tag: str, **data) -> pathlib.Path:
    copier(
        "copy",
        "--trust",
        "--defaults",
        "--quiet",
        "--vcs-ref",
        tag,
        *data_args(data),
        str(repo.path),
        str(dst),
    )
    return dst


def make_project(repo: TemplateRepo, dst: pathlib.Path, tag: str, **data) -> pathlib.Path:
    """A fresh copy, committed: what `copier update` starts from."""
    fresh_copy(repo, dst, tag, **data)
    git(dst, "init", "-q", "-b", "main")
    git(dst, "add", "-A")
    git(dst, "commit", "-qm", "generated")
    return dst


def update(project: pathlib.Path, tag: str, conflict: str = "inline", **data) -> str:
    return copier(
        "update",
        "--trust",
        "--defaults",
        "--vcs-ref",
        tag,
        "--conflict",
        conflict,
        *data_args(data),
        str(project),
    )


def secrets_of(project: pathlib.Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((project / "secrets").glob("*"))}


def tree(project: pathlib.Path) -> dict[str, bytes]:
    """Every file but git's and the secrets (random per project), by relative path."""
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(project).parts and p.parent.name != "secrets"
    }


def assert_same_tree(updated: pathlib.Path, fresh: pathlib.Path) -> None:
    got, want = tree(updated), tree(fresh)
    assert sorted(got) == sorted(want), {
        "extra": sorted(set(got) - set(want)),
        "missing": sorted(set(want) - set(got)),
    }
    differ = [name for name in want if got[name] != want[name]]
    assert not differ, f"differ from a fresh copy: {differ}"


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


def env_of(project: pathlib.Path) -> dict[str, str]:
    lines = (project / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def assert_render_checks(project: pathlib.Path) -> None:
    """The checks a generated project must pass after any update: compose merges the layers .env
    lists (and the dev file), hadolint passes the Dockerfiles, every YAML file parses."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    layers = env_of(project)["COMPOSE_FILE"]
    for files in (layers, f"{layers}:compose-dev.yml"):
        proc = subprocess.run(
            [compose_binary(), "config", "-q"],
            cwd=project,
            env={**env, "COMPOSE_FILE": files, "COMPOSE_PATH_SEPARATOR": ":"},
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, f"compose config ({files}): {proc.stderr}"
    for dockerfile in [project / "Dockerfile", project / "frontend" / "Dockerfile"]:
        if dockerfile.exists():
            proc = subprocess.run(
                [tool("hadolint"), "--failure-threshold", "warning", str(dockerfile)],
                capture_output=True,
                text=True,
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in [*project.rglob("*.yml"), *project.rglob("*.yaml")]:
        if ".git" not in path.parts:
            load_yaml_all(path)  # compose's !reset/!override tags included


def answers_of(project: pathlib.Path) -> dict:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


# ------------------------------------------------------------------ from each release to HEAD


EVERYTHING = {
    "services": ALL_SERVICES,
    "deploy_targets": ALL_TARGETS,
    "gcp_project": "acme-prod-123",
    "domain": "example.org",
}


@pytest.mark.parametrize("answers", [{}, EVERYTHING], ids=["defaults", "everything@all-targets"])
@pytest.mark.parametrize("release", [r["version"] for r in RELEASES])
def test_update_from_a_release_equals_a_fresh_copy(history, tmp_path, release, answers):
    """Untouched project: the update is clean and yields exactly what a copy of HEAD does."""
    project = make_project(history, tmp_path / "project", f"v{release}", **answers)
    before = secrets_of(project)
    python = answers_of(project)["python_version"]  # an answer: the new default does not move it

    update(project, history.head)

    assert answers_of(project)["_commit"] == history.head
    assert_clean_merge(project)
    assert secrets_of(project) == before, "an update must never regenerate a secret"
    # a database made before 0.3.0 holds PostgreSQL 17 data: the update keeps it (migrations.py)
    kept = {"python_version": python}
    if Version(release) < Version("0.3.0"):
        kept["postgres_version"] = "17"
    assert {k: answers_of(project).get(k) for k in kept} == kept
    fresh = fresh_copy(history, tmp_path / "fresh", history.head, **answers, **kept)
    assert_same_tree(project, fresh)
    assert_render_checks(project)


# ------------------------------------------------------------------ migrations


def test_migration_0_2_0_runs_once_and_keeps_the_users_port(template_repo, tmp_path):
    first = RELEASES[0]["version"]
    if Version(first) >= Version("0.2.0"):
        pytest.skip("no release older than the 0.2.0 migration")
    project = make_project(template_repo, tmp_path / "project", f"v{first}")
    env = project / ".env"
    env.write_text(env.read_text().replace("HTTP_PORT=8080", "HTTP_PORT=18080"))
    before = secrets_of(project)

    out = update(project, template_repo.head)

    assert out.count("dockwright migration 0.2.0: .env: HTTP_PORT -> PROXY_PORT") == 1, out
    settings = env_of(project)
    assert settings["PROXY_PORT"] == "18080" and "HTTP_PORT" not in settings
    assert settings["PROXY_DASHBOARD_PORT"] == "8088" and "TRAEFIK_DASHBOARD_PORT" not in settings
    # the user's port still reaches the proxy: compose publishes 127.0.0.1:18080
    config = subprocess.run(
        [compose_binary(), "config", "--format", "json"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    published = json.loads(config.stdout)["services"]["proxy"]["ports"]
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
    assert env_of(project)["PROXY_PORT"] == "18080"


# ------------------------------------------------------------------ local edits


def change_db_comment(template: pathlib.Path) -> None:
    db = template / "{% if use_db %}compose.db.yml{% endif %}.jinja"
    text = db.read_text()
    assert "# PostgreSQL:" in text
    db.write_text(text.replace("# PostgreSQL:", "# PostgreSQL (next template version):", 1))


def test_local_edit_away_from_a_template_change_merges_cleanly(template_repo, tmp_path):
    project = make_project(template_repo, tmp_path / "project", template_repo.head)
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
    project = make_project(template_repo, tmp_path / "project", template_repo.head)
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

BASE = {"services": DEFAULT_SERVICES, "deploy_targets": ["vps"]}
FLIPS = {
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
    project = make_project(history, tmp_path / "project", history.head, **start)
    before = secrets_of(project)
    env = project / ".env"
    env.write_text(env.read_text().replace("API_PORT=8000", "API_PORT=18000"))

    update(project, history.head, **change)

    recorded = {k: v for k, v in answers_of(project).items() if not k.startswith("_")}
    assert recorded | change == recorded, "the new answers are recorded"
    # the same answers: an answer given earlier (e.g. registry) stays, like any default it derived
    fresh = fresh_copy(history, tmp_path / "fresh", history.head, **recorded)
    # .env: a fresh copy's, new keys in their place, with the user's own port
    assert env.read_text() == (fresh / ".env").read_text().replace("API_PORT=8000", "API_PORT=18000")
    env.write_text((fresh / ".env").read_text())
    assert_same_tree(project, fresh)
    assert_clean_merge(project)
    after = secrets_of(project)
    assert {k: after[k] for k in before} == before, "an update must never regenerate a secret"
    assert set(after) == set(before) | set(secrets_of(fresh)), (
        "new services get their secrets; none is deleted"
    )
    assert_render_checks(project)


def test_option_change_keeps_local_env_values_and_adds_the_layer(history, tmp_path):
    project = make_project(
        history, tmp_path / "project", history.head, services=["api", "db", "frontend", "proxy"]
    )
    env = project / ".env"
    env.write_text(env.read_text().replace("API_PORT=8000", "API_PORT=18000") + "\n# ours\nOUR_SETTING=1\n")
    env.write_text(env.read_text().replace("COMPOSE_FILE=", "COMPOSE_FILE=compose.override.yml:", 1))
    (project / "compose.override.yml").write_text("services: {}\n")
    git(project, "add", "compose.override.yml")
    git(project, "commit", "-qm", "our override")

    out = update(project, history.head, services=DEFAULT_SERVICES)

    settings = env_of(project)
    assert settings["API_PORT"] == "18000" and settings["OUR_SETTING"] == "1"
    assert settings["CACHE_PORT"] == "6379"
    layers = settings["COMPOSE_FILE"].split(":")
    assert layers[0] == "compose.override.yml" and "compose.cache.yml" in layers, layers
    assert layers.index("compose.cache.yml") == layers.index("compose.db.yml") + 1, layers
    assert ".env updated from .env.example" in out
    assert_render_checks(project)


# ------------------------------------------------------------------ the generated CI guard


def test_generated_ci_refuses_unresolved_updates(renders):
    """The generated CI's guard step passes on a clean tree and fails on conflict markers."""
    project = renders.get()
    work = project.parent / "guard-check"
    shutil.copytree(project, work)
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


# ------------------------------------------------------------------ scripts/sync_env.py, unit by unit


def sync_env_module():
    return load_module(REPO / "template" / "scripts" / "sync_env.py")


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
    got, notes = sync_env_module().sync(ours, NEW_ENV, base, exists)
    assert got == want
    assert notes, "every change is reported"


def test_sync_env_leaves_an_up_to_date_env_alone():
    got, notes = sync_env_module().sync(NEW_ENV, NEW_ENV, BASE_ENV, lambda _: True)
    assert (got, notes) == (NEW_ENV, [])


def test_make_env_check_reports_a_stale_env_and_env_sync_fixes_it(renders, tmp_path):
    project = tmp_path / "p"
    shutil.copytree(renders.get(), project)
    env = project / ".env"
    env.write_text(env.read_text().replace(":compose.cache.yml", ""))
    check = subprocess.run(["make", "env-check"], cwd=project, capture_output=True, text=True)
    assert check.returncode == 0 and "compose.cache.yml" in check.stdout and "make env-sync" in check.stdout
    subprocess.run(["make", "env-sync"], cwd=project, capture_output=True, text=True, check=True)
    assert env.read_text() == (project / ".env.example").read_text()
    again = subprocess.run(["make", "env-check"], cwd=project, capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout == ""


def test_sync_env_drops_a_removed_services_settings_with_their_comments():
    base = ["A=1", "", "# the frontend's url", "URL=x", "", "# ports", "P1=1", "P2=2"]
    new = ["A=1", "", "# ports", "P2=2"]
    ours = ["A=1", "", "# the frontend's url", "URL=x", "", "# ports", "P1=1", "P2=20"]
    got, notes = sync_env_module().sync(ours, new, base, lambda _: True)
    assert got == ["A=1", "", "# ports", "P2=20"]
    assert notes == ["removed URL (the template dropped it)", "removed P1 (the template dropped it)"]
