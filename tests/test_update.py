"""`copier update` carries template changes into existing projects, across option changes, without
touching secrets or the user's .env, and merges the user's own edits.

As in Copier's own tests: a throw-away copy of this template in tmp_path, tagged v1.0.0; a project
made from it and committed; a template change tagged v2.0.0; `run_update`; then assertions on the
answers file's _commit, the files, and `git status --porcelain`.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import copier
import pytest
import yaml
from conftest import REPO

IGNORE = shutil.ignore_patterns(
    ".git", ".venv", ".nox", "__pycache__", ".pytest_cache", ".ruff_cache", "node_modules"
)


def git(cwd: pathlib.Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def template_repo(tmp_path) -> pathlib.Path:
    src = tmp_path / "template-repo"
    shutil.copytree(REPO, src, ignore=IGNORE)
    git(src, "init", "-q", "-b", "main")
    git(src, "add", "-A")
    git(src, "commit", "-qm", "v1")
    git(src, "tag", "v1.0.0")
    return src


def tag_v2(template_repo: pathlib.Path) -> None:
    """A template release: a changed comment in the db layer, and a new Makefile target."""
    db = template_repo / "template" / "{% if use_db %}compose.db.yml{% endif %}.jinja"
    db.write_text(db.read_text().replace("# PostgreSQL:", "# PostgreSQL (v2 of the template):", 1))
    makefile = template_repo / "template" / "Makefile.jinja"
    makefile.write_text(makefile.read_text() + "\nversion: ## print the template version\n\t@echo v2\n")
    git(template_repo, "commit", "-qam", "v2")
    git(template_repo, "tag", "v2.0.0")


def make_project(template_repo: pathlib.Path, dst: pathlib.Path, **data) -> pathlib.Path:
    copier.run_copy(
        str(template_repo), str(dst), data=data, defaults=True, unsafe=True, vcs_ref="v1.0.0", quiet=True
    )
    git(dst, "init", "-q", "-b", "main")
    git(dst, "add", "-A")
    git(dst, "commit", "-qm", "generated")
    return dst


def secrets_of(project: pathlib.Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((project / "secrets").glob("*.txt"))}


def update(project: pathlib.Path, **data) -> None:
    copier.run_update(
        str(project),
        data=data,
        defaults=True,
        unsafe=True,
        overwrite=True,
        vcs_ref="v2.0.0",
        quiet=True,
        conflict="rej",
    )


def test_update_brings_changes_and_keeps_local_edits(template_repo, tmp_path):
    project = make_project(template_repo, tmp_path / "project")
    before = secrets_of(project)
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## Our notes\n\nKept across updates.\n")
    git(project, "commit", "-qam", "local edit")
    tag_v2(template_repo)

    update(project)

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v2.0.0"
    assert "(v2 of the template)" in (project / "compose.db.yml").read_text()
    assert "version: ## print the template version" in (project / "Makefile").read_text()
    assert "Kept across updates." in readme.read_text()
    assert secrets_of(project) == before, "an update must never regenerate a secret"
    status = git(project, "status", "--porcelain")
    assert not [line for line in status.splitlines() if line[:2] in {"UU", "AA", "DU", "UD"}]
    assert not list(project.rglob("*.rej"))


def test_update_across_an_option_change(template_repo, tmp_path):
    project = make_project(template_repo, tmp_path / "project")
    before = secrets_of(project)
    env_before = (project / ".env").read_text()
    tag_v2(template_repo)
    services = ["api", "db", "cache", "frontend", "proxy", "observability"]

    update(project, services=services, deploy_targets=["vps", "gke"])

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["services"] == services and answers["deploy_targets"] == ["vps", "gke"]
    assert (project / "compose.observability.yml").is_file()
    assert (project / "grafana" / "dashboards" / "api.json").is_file()
    assert (project / "kubernetes").is_dir()
    assert "compose.observability.yml" in (project / ".env.example").read_text()
    # .env is the user's after the first copy; env-check in the Makefile points at the difference
    assert (project / ".env").read_text() == env_before
    after = secrets_of(project)
    assert {k: after[k] for k in before} == before
    assert "grafana_admin_password.txt" in after, "a new service's secret is created by the task"
    assert not list(project.rglob("*.rej"))


def test_removing_a_service_removes_its_layer(template_repo, tmp_path):
    project = make_project(template_repo, tmp_path / "project")
    tag_v2(template_repo)
    update(project, services=["api", "db", "frontend", "proxy"])
    assert not (project / "compose.cache.yml").exists()
    assert "compose.cache.yml" not in (project / ".env.example").read_text()
    # the secret file of a removed service stays (git-ignored data is never deleted by an update)
    assert (project / "secrets" / "redis_password.txt").is_file()


def test_generated_ci_refuses_unresolved_updates(renders):
    """The generated CI's guard step passes on a clean tree and fails on conflict markers."""
    project = renders.get()
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    step = next(s for s in workflow["jobs"]["lint"]["steps"] if s.get("name", "").startswith("No unresolved"))
    work = project.parent / "guard-check"
    shutil.copytree(project, work)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "generated")
    clean = subprocess.run(["bash", "-c", step["run"]], cwd=work, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    readme = work / "README.md"
    readme.write_text(
        readme.read_text() + "<<<<<<< before updating\nold\n=======\nnew\n>>>>>>> after updating\n"
    )
    dirty = subprocess.run(["bash", "-c", step["run"]], cwd=work, capture_output=True, text=True)
    assert dirty.returncode == 1 and "README.md" in dirty.stdout
