"""The type checker (`nox -s lint`: mypy with pyproject.toml's settings) refuses the class of bug
that once broke the smoke suite's helpers: `@contextlib.contextmanager` slipped from `running`
onto `assert_healthy`. assert_healthy then returned a context manager instead of the rows it
promises (its checks still ran: the wrapper calls a plain function at once), and `running` was a
bare generator that `with` cannot enter (TypeError in the bench).

Each case copies dwsupport/ into a scratch folder, edits smoke.py there, adds a caller that uses
both functions as the suite does, and runs mypy on the two (and what they import) with the
repository's configuration.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys
from collections.abc import Callable

import pytest

from dwsupport import REPO
from dwsupport.tools import run

CALLER = """\
from dwsupport import smoke


def check(stack: smoke.Stack) -> None:
    with smoke.running(stack):
        rows = smoke.assert_healthy(stack, {"api"}, {"migrate"})
        assert rows["api"]["State"] == "running"
"""
DECORATOR = "@contextlib.contextmanager\n"


def misplace_the_decorator(source: str) -> str:
    """The historical bug: the decorator above assert_healthy instead of running."""
    source = source.replace(DECORATOR + "def running(", "def running(", 1)
    return source.replace("def assert_healthy(", DECORATOR + "def assert_healthy(", 1)


def drop_the_decorator(source: str) -> str:
    """`running` left a bare generator function."""
    return source.replace(DECORATOR + "def running(", "def running(", 1)


def unannotate_assert_healthy(source: str) -> str:
    """The way to hide the first bug from mypy: leave the function unannotated."""
    return re.sub(
        r"def assert_healthy\([^)]*\) -> [^:]+:",
        "def assert_healthy(stack, long_running, one_shots):",
        source,
    )


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("mypy-cache")


def mypy_on(
    tmp_path: pathlib.Path, cache: pathlib.Path, edit: Callable[[str], str]
) -> subprocess.CompletedProcess[str]:
    shutil.copytree(REPO / "dwsupport", tmp_path / "dwsupport", ignore=shutil.ignore_patterns("__pycache__"))
    smoke = tmp_path / "dwsupport" / "smoke.py"
    original = smoke.read_text()
    edited = edit(original)
    assert edited != original or edit is keep, "the edit did not apply: dwsupport/smoke.py changed shape"
    smoke.write_text(edited)
    (tmp_path / "caller.py").write_text(CALLER)
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(REPO / "pyproject.toml"),
        "--cache-dir",
        str(cache),
    ]
    return run([*cmd, "dwsupport/smoke.py", "caller.py"], cwd=tmp_path, check=False, timeout=600)


def keep(source: str) -> str:
    return source


def test_the_copy_passes_as_it_is(tmp_path, mypy_cache):
    proc = mypy_on(tmp_path, mypy_cache, keep)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_refuses_the_misplaced_decorator(tmp_path, mypy_cache):
    proc = mypy_on(tmp_path, mypy_cache, misplace_the_decorator)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # the decorated function is not a generator: contextmanager() refuses it ...
    assert re.search(
        r"smoke\.py:\d+: error: Argument 1 to \"contextmanager\" has incompatible type", proc.stdout
    )
    # ... and the caller's `with running(...)` refuses the bare generator
    assert re.search(r"caller\.py:5: error: .*__enter__", proc.stdout), proc.stdout


def test_mypy_refuses_with_on_a_bare_generator(tmp_path, mypy_cache):
    proc = mypy_on(tmp_path, mypy_cache, drop_the_decorator)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert errors and all(line.startswith("caller.py:5:") for line in errors), proc.stdout
    assert "__enter__" in proc.stdout and "__exit__" in proc.stdout


def test_mypy_refuses_an_unannotated_helper_in_the_support_package(tmp_path, mypy_cache):
    proc = mypy_on(tmp_path, mypy_cache, unannotate_assert_healthy)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"smoke\.py:\d+: error: Function is missing a type annotation", proc.stdout), proc.stdout
