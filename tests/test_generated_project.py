"""The generated frontend's own checks pass in its own environment (npm ci from the committed
lock, Vitest, type check, production build) on the Node.js of the frontend image. The api's
suite runs in tests/test_api_project.py."""

from __future__ import annotations

import os
import pathlib
import re
import shutil

import pytest

from dwsupport import REPO
from dwsupport.render import Render
from dwsupport.tools import run


@pytest.fixture(scope="module")
def frontend(default_render: Render) -> pathlib.Path:
    return default_render.root / "frontend"


@pytest.fixture(scope="module")
def node_env(default_render: Render) -> dict[str, str]:
    """PATH with the Node.js of the frontend image first: the suite runs on the Node it ships with
    (nox installs it, see noxfile.py `node`); npm itself is the host's, run by that node."""
    want = default_render.context["node_version"]
    path = os.pathsep.join(filter(None, [os.environ.get("DOCKWRIGHT_NODE_BIN"), os.environ.get("PATH")]))
    node = shutil.which("node", path=path)
    if node is None or shutil.which("npm", path=path) is None:
        pytest.fail("node and npm are required for the frontend suite: run it through nox (noxfile.py)")
    got = run([node, "--version"]).stdout.strip()
    if got != f"v{want}":
        pytest.fail(
            f"the frontend suite runs on the image's Node.js v{want}, found {got}: run it through nox"
        )
    return {"PATH": path}


@pytest.mark.slow
def test_frontend_suite_passes(frontend: pathlib.Path, node_env: dict[str, str]) -> None:
    npm = shutil.which("npm", path=node_env["PATH"])
    assert npm is not None
    run([npm, "ci", "--no-audit", "--no-fund"], cwd=frontend, timeout=600, env=node_env)
    result = run([npm, "test"], cwd=frontend, timeout=600, env=node_env)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    assert re.search(r"Tests\s+\d+ passed", plain) and "failed" not in plain, plain[-2000:]
    run([npm, "run", "lint"], cwd=frontend, timeout=600, env=node_env)
    env = {**node_env, "VITE_API_URL": "http://api.localhost:8080"}
    run([npm, "run", "build"], cwd=frontend, timeout=600, env=env)
    assert (frontend / "dist" / "index.html").is_file()


def test_frontend_lock_matches_package_json() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is required (Node.js 20+)")
    run(["python3", str(REPO / "tools" / "lock_frontend.py"), "--check"], timeout=300)
