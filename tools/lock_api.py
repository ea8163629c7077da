"""Refresh (or check) the generated api's uv.lock: template/{% if use_api %}api{% endif %}/uv.lock.

The api's pyproject.toml is a Jinja file only for metadata (description, authors); its name,
Python floor and dependencies are fixed, so one lock fits every generated project. This renders
the pyproject with placeholder metadata into a temporary directory, runs `uv lock` there (starting
from the current lock, so pins move only when asked), and copies the lock back.

    python tools/lock_api.py            # re-lock after editing the api's dependencies
    python tools/lock_api.py --upgrade  # move every pin to the newest allowed version
    python tools/lock_api.py --check    # exit 1 when the lock is out of date (CI)
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import jinja2

ROOT = pathlib.Path(__file__).resolve().parents[1]
API = ROOT / "template" / "{% if use_api %}api{% endif %}"
PLACEHOLDERS = {  # metadata only: none of it reaches uv.lock
    "project_name": "Lock",
    "description": "lock",
    "author_name": "lock",
    "author_email": "lock@example.org",
    "has_license": False,
    "license": "none",
}


def render_pyproject() -> str:
    env = jinja2.Environment(  # the template's _envops
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    source = (API / "pyproject.toml.jinja").read_text(encoding="utf-8")
    return env.from_string(source).render(PLACEHOLDERS)


def find_python() -> str | None:
    """An interpreter for the api's `requires-python = ">=3.13"` that really runs.

    uv stops at the first broken `python3.X` on PATH (a pyenv shim for a version that is not
    active exits 127), and would then try to download a Python, which these networks refuse.
    UV_PYTHON, when set, wins; None means "let uv search" (it fails with its own message).
    """
    if os.environ.get("UV_PYTHON"):
        return os.environ["UV_PYTHON"]
    candidates = [shutil.which(f"python3.{minor}") for minor in (14, 13, 15)]
    pyenv_root = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv"))
    candidates += sorted(map(str, pyenv_root.glob("versions/3.1[3-9]*/bin/python3")), reverse=True)
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 13))"],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return candidate
    return None


def uv_env() -> dict[str, str]:
    """The environment for uv: never download a Python; point it at one that works."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    python = find_python()
    if python:
        env["UV_PYTHON"] = python
    return env


def uv() -> str:
    found = shutil.which("uv")
    if found is None:
        sys.exit("lock_api: uv is not on PATH (it is in the template's dev dependencies)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only check that uv.lock is current")
    mode.add_argument("--upgrade", action="store_true", help="upgrade every locked version")
    args = parser.parse_args(argv)

    lock = API / "uv.lock"
    with tempfile.TemporaryDirectory(prefix="dockwright-lock-") as tmp:
        work = pathlib.Path(tmp)
        (work / "pyproject.toml").write_text(render_pyproject(), encoding="utf-8")
        (work / "README.md").write_text("lock\n", encoding="utf-8")
        if lock.exists():
            shutil.copy2(lock, work / "uv.lock")
        command = [uv(), "lock", "--directory", str(work), "--no-progress"]
        if args.check:
            command.append("--check")
        elif args.upgrade:
            command.append("--upgrade")
        result = subprocess.run(command, check=False, env=uv_env())
        if result.returncode != 0:
            if args.check:
                print(
                    f"lock_api: {lock.relative_to(ROOT)} is out of date: run `nox -s lock`", file=sys.stderr
                )
            return result.returncode
        if not args.check:
            new = (work / "uv.lock").read_bytes()
            if not lock.exists() or lock.read_bytes() != new:
                lock.write_bytes(new)
                print(f"lock_api: wrote {lock.relative_to(ROOT)}")
            else:
                print(f"lock_api: {lock.relative_to(ROOT)} is already current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
