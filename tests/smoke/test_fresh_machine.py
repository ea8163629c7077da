"""README's two commands on a fresh Debian, as written: the machine's Python is "externally
managed" (PEP 668), so `pip install` outside a virtual environment stops with
`externally-managed-environment`; README's commands install into a venv of the checkout.

The machine is a container of stock Debian trixie with what README asks for (Python 3 with venv,
git; pip as well, so that the refusal can be shown), running the commands by bash in a clone of a
throw-away repository of the template (mounted at the same path, so the recorded `_src_path` is
valid on both sides). tests/test_first_run.py runs the same text on this machine's Python.
"""

from __future__ import annotations

import hashlib
import pathlib
import subprocess

import pytest

from dwsupport import readme, smoke
from dwsupport.template_repo import GIT_ENV, TemplateRepo, build_template_repo, git

pytestmark = pytest.mark.docker

# What README asks of the machine: Python 3 with its venv module, git (and pip, to show PEP 668).
DOCKERFILE = """\
FROM debian:trixie-slim
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip git ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
"""
COPY = readme.command("generate a project")
TEST = readme.command("run the whole test suite")
COMMIT = readme.command("needs the project in git")
UPDATE = readme.command("update the project to the newest release")


@pytest.fixture(scope="module")
def fresh_debian(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image, named after its Dockerfile (built once per machine, reused after)."""
    tag = "dockwright-test/fresh-debian:" + hashlib.sha256(DOCKERFILE.encode()).hexdigest()[:12]
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        return tag
    context = tmp_path_factory.mktemp("fresh-debian")
    (context / "Dockerfile").write_text(DOCKERFILE)
    smoke.tag_standins(context)  # offline machines: debian:trixie-slim is a local stand-in
    build = subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    return tag


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> TemplateRepo:
    return build_template_repo(tmp_path_factory.mktemp("history") / "template-repo")


def on_debian(
    image: str, command: str, cwd: pathlib.Path, mount: pathlib.Path
) -> subprocess.CompletedProcess[str]:
    """`bash -c command` in a container of the image, in cwd; mount is shared at the same path."""
    identity = [
        arg for key, value in GIT_ENV.items() if key.startswith("GIT_") for arg in ("-e", f"{key}={value}")
    ]
    return subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "-v",
            f"{mount}:{mount}",
            "-w",
            str(cwd),
            *identity,
            image,
            "bash",
            "-c",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_machine_refuses_pip_install_outside_a_venv(fresh_debian, tmp_path):
    # Without this, the test below would prove nothing about PEP 668: the old README's first step.
    proc = on_debian(fresh_debian, "python3 -m pip install copier==9.19.1", tmp_path, tmp_path)
    assert proc.returncode != 0
    assert "externally-managed-environment" in proc.stdout + proc.stderr


def test_readme_commands_generate_and_update_a_project(fresh_debian, history, tmp_path):
    checkout = history.clone(tmp_path / "dockwright")
    for command in (COPY, COMMIT, UPDATE):
        proc = on_debian(fresh_debian, command, checkout.path, tmp_path)
        assert proc.returncode == 0, (
            f"`{command}` exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    project = tmp_path / "myapp"
    assert (project / "compose.yml").is_file() and (project / "secrets" / "postgres_password.txt").is_file()
    assert f"Keeping template version {history.head.removeprefix('v')}" in proc.stdout + proc.stderr
    assert not git(project, "status", "--porcelain").strip(), "the update changed nothing: the same version"


def test_readme_test_command_installs_nox_and_finds_the_sessions(fresh_debian, history, tmp_path):
    # The whole command runs verbatim in CI (.ci/run, tests/test_meta.py); here, on a PEP 668
    # Python, its installation steps run verbatim and nox lists the sessions it is asked to run.
    *install, run_nox = TEST.split(" && ")
    assert run_nox.startswith(".venv/bin/nox -s ")
    sessions = run_nox.removeprefix(".venv/bin/nox -s ").split()
    checkout = history.clone(tmp_path / "dockwright")
    proc = on_debian(fresh_debian, " && ".join([*install, ".venv/bin/nox --list"]), checkout.path, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    listed = {line.split()[1] for line in proc.stdout.splitlines() if line[:2] in ("* ", "- ")}
    assert set(sessions) <= listed, (sessions, proc.stdout)
