"""A generated project knows when it is behind its template: the README's `copier check-update`
command, run as written in a project copied from a throw-away template repository, says so once
the template has a newer tag (and that it is up to date before); template-update.yml's check step
(`copier check-update --output-format json`) decides on the same facts whether the update and its
pull request run."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from dwsupport.template_repo import GIT_ENV, TemplateRepo, build_template_repo

NEWER = "v99.0.0"
# `uvx --from copier==X --with ... copier ARGS` as on a runner, here: the suite's own copier.
FAKE_UVX = f"""#!/usr/bin/env bash
while [[ $# -gt 0 && "$1" != copier ]]; do shift; done
shift
exec {sys.executable} -m copier "$@"
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> TemplateRepo:
    return build_template_repo(tmp_path_factory.mktemp("check-update") / "template-repo")


@pytest.fixture(scope="module")
def project(repo: TemplateRepo, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return repo.project(tmp_path_factory.mktemp("check-update") / "myapp", repo.head)


def shell_env(tmp_path: pathlib.Path) -> dict[str, str]:
    """PATH with the suite's copier (as `copier`) and a runner-like `uvx`; git as a clean user."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "uvx").write_text(FAKE_UVX)
    (bin_dir / "uvx").chmod(0o755)
    return {
        **os.environ,
        **GIT_ENV,
        "PATH": f"{bin_dir}{os.pathsep}{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }


def readme_command(project: pathlib.Path) -> str:
    lines = [
        line
        for line in (project / "README.md").read_text().splitlines()
        if line.startswith("copier check-update")
    ]
    assert len(lines) == 1, "README.md shows how to see that the project is behind"
    return lines[0]


def check_step(project: pathlib.Path) -> dict[str, object]:
    workflow = yaml.safe_load((project / ".github/workflows/template-update.yml").read_text())
    (job,) = workflow["jobs"].values()
    (step,) = [s for s in job["steps"] if s.get("id") == "check"]
    return dict(step)


def run_check_step(project: pathlib.Path, tmp_path: pathlib.Path) -> str:
    """The workflow's check step, as the runner runs it; returns what it wrote to GITHUB_OUTPUT."""
    output, temp = tmp_path / "github_output", tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    output.write_text("")
    subprocess.run(
        ["bash", "-e", "-c", str(check_step(project)["run"])],
        cwd=project,
        env={**shell_env(tmp_path), "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(temp)},
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return output.read_text()


def test_readme_command_and_workflow_see_when_the_template_is_ahead(repo, project, tmp_path):
    command = readme_command(project)
    env = shell_env(tmp_path)
    current = subprocess.run(["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True)
    assert current.returncode == 0 and "Project is up-to-date!" in current.stdout, current.stderr
    assert run_check_step(project, tmp_path) == "available=false\n"

    clone = repo.clone(tmp_path / "template-clone")
    clone.release(
        NEWER,
        lambda template: (template / "README.md.jinja").write_text(
            (template / "README.md.jinja").read_text() + "\n"
        ),
    )
    answers = project / ".copier-answers.yml"
    recorded = answers.read_text()
    try:
        answers.write_text(recorded.replace(str(repo.path), str(clone.path)))
        behind = subprocess.run(["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True)
        assert behind.returncode == 0, behind.stderr
        assert "New template version available." in behind.stdout
        assert f"latest version is {NEWER.lstrip('v')}" in behind.stdout
        assert run_check_step(project, tmp_path) == "available=true\n"
        quiet = subprocess.run(["copier", "check-update", "--quiet"], cwd=project, env=env)
        assert quiet.returncode == 2, "README: --quiet exits 2 when behind"
    finally:
        answers.write_text(recorded)
