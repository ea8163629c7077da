"""The generated Playwright suite (frontend/e2e) fits what each project's page has: without an api
the page says so and makes no requests elsewhere; with an api it shows the status; with a database
too, an item goes through the form and survives a reload. Each scope's spec and config type-check
(`tsc --noEmit`, as `npm run lint` does) and Vitest leaves them alone. They run in a real browser
in tests/smoke/test_e2e.py (the defaults) and in the generated CI (job e2e)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil

import pytest

from dwsupport import matrix
from dwsupport.render import Render, Renders
from dwsupport.tools import run

# the tests each scope's spec holds (titles), by what the page has
TITLE = "the page loads and shows its title"
NO_API = "without an api the page says so and requests nothing elsewhere"
STATUS = "the api status is shown with each readiness check"
ITEMS = "an item added in the form is listed, and still is after a reload"


def expected_tests(render: Render) -> list[str]:
    services = set(render.answers["services"])
    if "api" not in services:
        return [TITLE, NO_API]
    return [TITLE, STATUS, ITEMS] if "db" in services else [TITLE, STATUS]


def spec_tests(spec: str) -> list[str]:
    return re.findall(r'^test\("([^"]+)"', spec, flags=re.M)


@pytest.fixture(params=matrix.E2E, ids=str, scope="module")
def render(request: pytest.FixtureRequest, renders: Renders) -> Render:
    return renders.of(request.param)


def test_each_scope_holds_the_tests_of_what_its_page_has(render: Render) -> None:
    spec = (render.root / "frontend" / "e2e" / "page.spec.ts").read_text()
    assert spec_tests(spec) == expected_tests(render)
    assert render.context["frontend_lists_items"] == (ITEMS in spec_tests(spec))
    # the readiness checks the api reports in this project
    services = set(render.answers["services"])
    for check, service in (("database", "db"), ("cache", "cache")):
        if "api" in services:
            want = "ok" if service in services else "disabled"
            assert f'[data-check="{check}"]\')).toHaveAttribute("data-status", "{want}")' in spec


def test_the_config_reads_the_base_url_and_the_browser_from_the_environment(render: Render) -> None:
    config = (render.root / "frontend" / "playwright.config.ts").read_text()
    local = render.context["local_urls"]["frontend"]
    assert f'baseURL: process.env.E2E_BASE_URL || "{local}",' in config
    assert "process.env.PLAYWRIGHT_CHROMIUM_EXECUTABLE || undefined" in config
    assert "launchOptions: { executablePath }" in config
    package = json.loads((render.root / "frontend" / "package.json").read_text())
    assert package["scripts"]["e2e"] == "playwright test"
    assert re.fullmatch(r"\d+\.\d+\.\d+", package["devDependencies"]["@playwright/test"]), "an exact pin"


def test_vitest_and_the_image_leave_the_e2e_specs_alone(render: Render) -> None:
    vite = (render.root / "frontend" / "vite.config.ts").read_text()
    include = re.search(r"include: \[([^\]]*)\]", vite)
    assert include and "e2e" not in include[1], "Vitest would run the Playwright specs"
    ignored = (render.root / "frontend" / ".dockerignore").read_text().split()
    assert {"test-results", "playwright-report"} <= set(ignored)


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory: pytest.TempPathFactory, renders: Renders) -> pathlib.Path:
    """The locked packages, installed once (one lock serves every project)."""
    path = os.pathsep.join(filter(None, [os.environ.get("DOCKWRIGHT_NODE_BIN"), os.environ.get("PATH")]))
    npm = shutil.which("npm", path=path)
    if npm is None:
        pytest.fail("node and npm are required: run it through nox (noxfile.py)")
    frontend = tmp_path_factory.mktemp("e2e-lock") / "frontend"
    shutil.copytree(renders.of(matrix.DEFAULTS).root / "frontend", frontend)
    env = {"PATH": path, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=frontend, timeout=600, env=env)
    return frontend / "node_modules"


@pytest.mark.slow
def test_each_scope_type_checks(render: Render, node_modules: pathlib.Path, tmp_path: pathlib.Path) -> None:
    frontend = tmp_path / "frontend"
    shutil.copytree(render.root / "frontend", frontend)
    (frontend / "node_modules").symlink_to(node_modules)
    path = os.pathsep.join(filter(None, [os.environ.get("DOCKWRIGHT_NODE_BIN"), os.environ.get("PATH")]))
    # `npm run lint`'s command; --listFilesOnly first: the e2e files are among tsc's inputs
    tsc = node_modules / ".bin" / "tsc"
    listed = run([tsc, "--noEmit", "--listFilesOnly"], cwd=frontend, env={"PATH": path})
    inputs = {pathlib.Path(line).resolve() for line in listed.stdout.splitlines()}
    assert (frontend / "e2e" / "page.spec.ts").resolve() in inputs
    assert (frontend / "playwright.config.ts").resolve() in inputs
    run([tsc, "--noEmit"], cwd=frontend, env={"PATH": path}, timeout=300)
