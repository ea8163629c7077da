"""The generated frontend's own checks pass in its own environment (npm ci from the committed
lock, Vitest, type check, production build). The api's suite runs in tests/test_api_project.py."""

from __future__ import annotations

import pathlib
import shutil

import pytest

from dwsupport import REPO
from dwsupport.render import Render
from dwsupport.tools import run


@pytest.fixture(scope="module")
def frontend(default_render: Render) -> pathlib.Path:
    return default_render.root / "frontend"


@pytest.mark.slow
def test_frontend_suite_passes(frontend):
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is required for the frontend suite (Node.js 20+)")
    run([npm, "ci", "--no-audit", "--no-fund"], cwd=frontend, timeout=600)
    result = run([npm, "test"], cwd=frontend, timeout=600)
    assert "passed" in result.stdout
    run([npm, "run", "lint"], cwd=frontend, timeout=600)
    run([npm, "run", "build"], cwd=frontend, timeout=600, env={"VITE_API_URL": "http://api.localhost:8080"})
    assert (frontend / "dist" / "index.html").is_file()


def test_frontend_lock_matches_package_json():
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is required (Node.js 20+)")
    run(["python3", str(REPO / "tools" / "lock_frontend.py"), "--check"], timeout=300)
