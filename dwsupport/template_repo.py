"""A throw-away git repository of this template, holding every released version and the work tree
on top, each tagged, as in Copier's own tests; projects copied from it and updated with the copier
CLI, as a user does. Used by tests/test_update.py.

Releases are listed in tests/releases.toml (version and commit); the repository is rebuilt from
this clone's history, so it needs the full history (a clone without --depth).
"""

from __future__ import annotations

import dataclasses
import io
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Callable
from typing import Any

from packaging.version import Version

from dwsupport import REPO
from dwsupport.render import data_args
from dwsupport.tools import ToolError, run

RELEASES_TOML = REPO / "tests" / "releases.toml"
IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".nox",
    "build",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    "node_modules",
)
# git and copier as a clean, anonymous user: no global config, fixed identity
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def releases() -> list[dict[str, str]]:
    """The released versions, oldest first: [{"version": …, "commit": …}]."""
    found: list[dict[str, str]] = tomllib.loads(RELEASES_TOML.read_text())["release"]
    return found


def current_version() -> Version:
    """The version in pyproject.toml: the one the work tree will be released as."""
    return Version(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def git(cwd: pathlib.Path, *args: str) -> str:
    return run(["git", *args], cwd=cwd, env=GIT_ENV).stdout


def copier(*args: str) -> str:
    """The copier CLI, as a user runs it; returns what it and its tasks printed."""
    proc = run([sys.executable, "-m", "copier", *args], env=GIT_ENV)
    return proc.stdout + proc.stderr


def head_tag() -> str:
    """The work tree's tag: the current version, or a post-release of it once it is released."""
    current = current_version()
    released = {Version(r["version"]) for r in releases()}
    return f"v{current}.post1" if current in released else f"v{current}"


def clear_work_tree(repo: pathlib.Path) -> None:
    for child in repo.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()


@dataclasses.dataclass
class TemplateRepo:
    path: pathlib.Path
    tags: list[str]  # oldest first; the last one is the work tree

    @property
    def head(self) -> str:
        return self.tags[-1]

    def release(self, tag: str, edit: Callable[[pathlib.Path], None]) -> str:
        """A further template version: `edit(template_dir)`, committed and tagged."""
        edit(self.path / "template")
        git(self.path, "commit", "-qam", tag, "--allow-empty")
        git(self.path, "tag", tag)
        self.tags.append(tag)
        return tag

    def clone(self, dst: pathlib.Path) -> TemplateRepo:
        """A private clone (for a test that adds versions of its own)."""
        git(dst.parent, "clone", "-q", str(self.path), str(dst))
        return TemplateRepo(dst, list(self.tags))

    def copy(self, dst: pathlib.Path, tag: str, **data: Any) -> pathlib.Path:
        """`copier copy --defaults` of one version, the other questions at their defaults."""
        copier(
            "copy",
            "--trust",
            "--defaults",
            "--quiet",
            "--vcs-ref",
            tag,
            *data_args(data),
            str(self.path),
            str(dst),
        )
        return dst

    def project(self, dst: pathlib.Path, tag: str, **data: Any) -> pathlib.Path:
        """A copy, committed to git: what `copier update` starts from."""
        self.copy(dst, tag, **data)
        git(dst, "init", "-q", "-b", "main")
        git(dst, "add", "-A")
        git(dst, "commit", "-qm", "generated")
        return dst


def update(project: pathlib.Path, tag: str, conflict: str = "inline", **data: Any) -> str:
    """`copier update --defaults` of a project to a version (new answers in data)."""
    args = ["update", "--trust", "--defaults", "--vcs-ref", tag, "--conflict", conflict]
    return copier(*args, *data_args(data), str(project))


def build_template_repo(dst: pathlib.Path) -> TemplateRepo:
    """Every release (from this clone's history), then the work tree, each committed and tagged."""
    dst.mkdir()
    git(dst, "init", "-q", "-b", "main")
    tags = []
    for release in releases():
        archive = subprocess.run(
            ["git", "archive", "--format=tar", release["commit"]], cwd=REPO, capture_output=True
        )
        if archive.returncode:
            raise ToolError(
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
