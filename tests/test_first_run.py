"""A new user's first commands, exactly as README.md and Copier's messages print them: generate a
project from a clone of the template, commit it, update it — from a clone with the release tags
and from one without any. Each command is read from README.md (dwsupport.readme) or from the text
Copier printed, and run by bash in a scratch directory, against a throw-away repository of the
template holding every release (dwsupport.template_repo).

The commands install copier from PyPI into the clone's .venv, as a user's machine does (pip's
cache makes the second install quick). tests/smoke/test_fresh_machine.py runs the same text on a
stock Debian whose Python refuses `pip install` (PEP 668).
"""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml
from packaging.version import Version

from dwsupport import readme
from dwsupport.template_repo import GIT_ENV, TemplateRepo, build_template_repo, git
from dwsupport.tools import ToolError, run

COPY = readme.command("generate a project")
COMMIT = readme.command("needs the project in git")
UPDATE = readme.command("update the project to the newest release")
NEW_RELEASE = "v99.0.0"
MARKER = "Added by dockwright 99.0.0"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> TemplateRepo:
    return build_template_repo(tmp_path_factory.mktemp("history") / "template-repo")


def sh(command: str, cwd: pathlib.Path) -> str:
    """A command line as a user types it (bash), with git's identity set; stdout + stderr."""
    try:
        proc = run(["bash", "-c", command], cwd=cwd, env=GIT_ENV, timeout=600)
    except ToolError as exc:
        raise AssertionError(f"`{command}` failed in {cwd}:\n{exc}") from exc
    return proc.stdout + proc.stderr


def recorded(project: pathlib.Path) -> dict[str, str]:
    answers: dict[str, str] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return answers


def release_new_version(checkout: TemplateRepo) -> None:
    """What `git pull` brings into a user's clone: a newer release, tagged."""

    def edit(template: pathlib.Path) -> None:
        readme_template = template / "README.md.jinja"
        readme_template.write_text(readme_template.read_text() + f"\n{MARKER}\n")

    checkout.release(NEW_RELEASE, edit)


def message_commands(printed: str) -> list[str]:
    """The commands Copier's message after the copy gives for updating, as printed."""
    block = printed.split("`copier update` needs the project in git:", 1)[1]
    lines = [line.strip() for line in block.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("git init"))
    commands = [line.split("  #")[0].strip() for line in lines[start : start + 2]]
    assert commands[1].endswith("-m copier update --trust --defaults"), commands
    return commands


def test_readme_commands_make_a_project_that_updates(tmp_path, history):
    checkout = history.clone(tmp_path / "dockwright")  # `git clone` brings the release tags
    project = tmp_path / "myapp"

    copied = sh(COPY, checkout.path)
    assert recorded(project)["_src_path"] == str(checkout.path), "an absolute path, valid from anywhere"
    assert recorded(project)["_commit"] == history.head, "the newest release tag"
    assert f"made from dockwright {history.head}." in copied
    assert "is not a release tag" not in copied
    # one task runs, and Copier says so: "1 of 1", not "1 of 3"
    assert re.findall(r"Running task (\d+ of \d+)", copied) == ["1 of 1"], copied

    sh(COMMIT, checkout.path)
    # the update as the message after the copy prints it, run in the project (as docs/updating.md
    # and the project's README say): Copier resolves the recorded _src_path from there
    kept = sh(message_commands(copied)[1], project)
    assert f"Keeping template version {Version(history.head)}" in kept

    release_new_version(checkout)
    updated = sh(UPDATE, checkout.path)
    assert recorded(project)["_commit"] == NEW_RELEASE, updated
    assert MARKER in (project / "README.md").read_text()
    assert f"updated to dockwright {NEW_RELEASE}" in updated


def test_a_checkout_without_tags_says_what_update_does(tmp_path, history):
    checkout = tmp_path / "dockwright"
    git(tmp_path, "clone", "-q", "--no-tags", str(history.path), str(checkout))  # e.g. a --depth 1 clone
    assert not git(checkout, "tag").strip()
    project = tmp_path / "myapp"

    copied = sh(COPY, checkout)
    commit = recorded(project)["_commit"]
    assert "No git tags found in template; using HEAD as ref" in copied
    assert re.fullmatch(r"[0-9a-f]{7,}", commit), commit
    message = " ".join(copied.split())  # the message's lines are wrapped
    assert f"{commit} is not a release tag" in message
    assert "`copier update` keeps it while that checkout has no tags" in message
    fetch = re.search(r"`(git -C \S+ fetch --tags)`", message)
    assert fetch is not None and fetch.group(1) == f"git -C {checkout} fetch --tags", message

    init, update = message_commands(copied)
    sh(init, project)
    kept = sh(update, project)
    assert re.search(r"Keeping template version 0\.0\.0\.post\d+\.dev0\+" + commit, kept), kept
    assert recorded(project)["_commit"] == commit

    sh(fetch.group(1), tmp_path)
    moved = sh(update, project)
    assert recorded(project)["_commit"] == history.head, moved
