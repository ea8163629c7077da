"""The generated api: one lock fits every answer set, its own suite passes, its image is sound.

Renders of its own (without the secrets task); the docker build/run checks live in tests/smoke/.
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tomllib
from typing import Any

import pytest

from dwsupport import REPO
from dwsupport.render import copy
from dwsupport.tools import tool
from extensions.context import load_images
from tools import lock_api

IMAGES = load_images()
# quotes, a backslash and non-ASCII: the metadata must survive TOML and Python string rules
AWKWARD = {"project_name": 'Bob\'s "Best" App \\ né', "description": 'Says "hi" \\ — to everyone'}


def render(dst: pathlib.Path, **data: Any) -> pathlib.Path:
    return copy(dst, skip_tasks=True, **data)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> pathlib.Path:
    return render(tmp_path_factory.mktemp("api") / "p")


@pytest.fixture(scope="module")
def awkward(tmp_path_factory) -> pathlib.Path:
    return render(
        tmp_path_factory.mktemp("api") / "p",
        python_version="3.15",
        services=["api"],
        license="Apache-2.0",
        **AWKWARD,
    )


# ------------------------------------------------------------------ the lock
def test_lock_is_current():
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "lock_api.py"), "--check"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": _path()},
    )
    assert result.returncode == 0, result.stderr


def test_one_lock_fits_every_answer_set(project, awkward):
    """Only metadata may differ between answer sets; the lock is the same file."""

    def fixed(root):
        data = tomllib.loads((root / "api" / "pyproject.toml").read_text())
        meta = {k: v for k, v in data["project"].items() if k not in ("description", "authors", "license")}
        return meta, data["dependency-groups"], data["tool"]["uv"]

    assert fixed(project) == fixed(awkward)
    assert fixed(project)[0]["name"] == "api"
    assert fixed(project)[0]["requires-python"] == ">=3.13"
    assert (project / "api" / "uv.lock").read_bytes() == (awkward / "api" / "uv.lock").read_bytes()


def test_metadata_survives_awkward_answers(awkward):
    data = tomllib.loads((awkward / "api" / "pyproject.toml").read_text())
    assert data["project"]["description"] == AWKWARD["description"]
    module = ast.parse((awkward / "api" / "app" / "__init__.py").read_text())
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in module.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    assert constants == {"TITLE": AWKWARD["project_name"], "DESCRIPTION": AWKWARD["description"]}


def test_no_api_means_no_dockerfile_and_no_api_dir(tmp_path):
    dst = render(tmp_path / "p", services=["frontend"])
    assert not (dst / "Dockerfile").exists()
    assert not (dst / ".dockerignore").exists()
    assert not (dst / "api").exists()


# ------------------------------------------------------------------ the api's own suite
def _path() -> str:
    return os.pathsep.join([str(pathlib.Path(sys.executable).parent), os.environ.get("PATH", "")])


@pytest.mark.slow
def test_generated_api_suite_passes(awkward):
    """uv lock --check, the api's pytest suite (SQLite + fake cache), ruff, on the host."""
    api = awkward / "api"
    env = {**lock_api.uv_env(), "PATH": _path()}
    env.pop("VIRTUAL_ENV", None)
    uv = tool("uv")
    for command in (
        ["lock", "--check"],
        ["sync", "--locked"],
        ["run", "--locked", "pytest", "-q", "-p", "no:cacheprovider"],
        ["run", "--locked", "ruff", "check", "."],
        ["run", "--locked", "ruff", "format", "--check", "."],
    ):
        result = subprocess.run([uv, *command], cwd=api, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"uv {shlex.join(command)}\n{result.stdout}\n{result.stderr}"
        if command[:3] == ["run", "--locked", "pytest"]:
            assert re.search(r"\b\d+ passed\b", result.stdout), result.stdout
            assert " failed" not in result.stdout and " skipped" not in result.stdout


# ------------------------------------------------------------------ the Dockerfile
def instructions(dockerfile: pathlib.Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            keyword, _, rest = pending.strip().partition(" ")
            out.append((keyword.upper(), " ".join(rest.split())))
            pending = ""
    return out


@pytest.mark.parametrize("fixture", ["project", "awkward"])
def test_dockerfile_shape(fixture, request):
    root = request.getfixturevalue(fixture)
    python = IMAGES["python_3_15" if fixture == "awkward" else "python_3_14"]
    text = (root / "Dockerfile").read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    steps = instructions(root / "Dockerfile")
    kinds = [k for k, _ in steps]
    froms = [args for k, args in steps if k == "FROM"]
    assert froms == [
        f"{IMAGES['uv']} AS uv",
        f"{python} AS builder",
        "builder AS dev-venv",  # compose-dev.yml's stages: dev dependencies, code owned by 1000
        f"{python} AS dev",
        f"{python} AS runtime",  # last: the default target
    ]
    assert ":latest" not in text
    assert ("COPY", "--from=uv /uv /bin/uv") in steps

    sync = next(i for i, (k, a) in enumerate(steps) if k == "RUN" and "uv sync" in a)
    assert "--locked" in steps[sync][1] and "--no-dev" in steps[sync][1]
    assert "--no-install-project" in steps[sync][1]
    assert "--mount=type=cache,target=/root/.cache/uv" in steps[sync][1]
    env = " ".join(a for k, a in steps[:sync] if k == "ENV")
    for setting in ("UV_PYTHON_DOWNLOADS=never", "UV_COMPILE_BYTECODE=1", "UV_LINK_MODE=copy"):
        assert setting in env
    code = next(i for i, (k, a) in enumerate(steps) if k == "COPY" and a.startswith("api/app"))
    assert sync < code, "dependencies must be installed before the code is copied"
    assert not any(k == "COPY" and "api" in a and "--from" not in a for k, a in steps[:sync])

    runtime = steps[len(kinds) - 1 - kinds[::-1].index("FROM") :]
    runtime_env = " ".join(a for k, a in runtime if k == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime_env and "PYTHONUNBUFFERED=1" in runtime_env
    assert [a for k, a in runtime if k == "USER"] == ["10001:10001"]
    assert ("EXPOSE", "8000") in runtime
    healthcheck = next(a for k, a in runtime if k == "HEALTHCHECK")
    assert "127.0.0.1:8000/healthz" in healthcheck and "curl" not in healthcheck
    cmd = [a for k, a in runtime if k == "CMD"]
    assert len(cmd) == 1 and json.loads(cmd[0]) == ["python", "-m", "app"]  # exec form
    assert kinds[-1] == "CMD"


def test_hadolint(project):
    result = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "warning", str(project / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------ the build context
def ignored(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent decides."""
    verdict = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw.removeprefix("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            verdict = not negate
    return verdict


def test_dockerignore_keeps_secrets_and_other_parts_out(project):
    patterns = [
        line.strip()
        for line in (project / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for path in (
        "api/pyproject.toml",
        "api/uv.lock",
        "api/app/main.py",
        "api/app/migrations/versions/0001_create_items.py",
    ):
        assert not ignored(patterns, path), path
    for path in (
        "secrets/postgres_password.txt",
        ".env",
        ".env.example",
        "api/.env",
        "api/app/.env.local",
        ".git/config",
        "frontend/package.json",
        "node_modules/x/index.js",
        "api/.venv/bin/python",
        "api/app/__pycache__/x.pyc",
        "api/tests/test_items.py",
        "api/.pytest_cache/v",
        "kubernetes/base/x.yaml",
        "compose.yml",
        "Dockerfile",
        "README.md",
        "deploy/vps/deploy.sh",
    ):
        assert ignored(patterns, path), path
