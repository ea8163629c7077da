"""The generated frontend's Playwright suite (frontend/e2e), run verbatim with `npx playwright test`
against a running stack: the page through the proxy in a real Chromium, the api status, an item
added in the form and still listed after a reload (what the defaults' page has).

Playwright's own browser downloads are blocked on the machines that run this suite: it drives
Debian's `chromium` (.ci/run installs it) through PLAYWRIGHT_CHROMIUM_EXECUTABLE, which the
generated playwright.config.ts passes as `executablePath`. GitHub runners of a generated project
download Playwright's Chromium instead (ci.yml, job e2e). Node.js is the frontend image's, as for
the frontend's unit suite (noxfile.py `node`)."""

from __future__ import annotations

import os
import re
import shutil
import time

import pytest

from dwsupport import matrix, smoke
from dwsupport.render import copy
from dwsupport.tools import run

pytestmark = pytest.mark.docker


def chromium() -> str:
    """Debian's Chromium; in CI its absence is a failure (.ci/run installs it), never a skip."""
    found = shutil.which("chromium")
    if found is None:
        message = "chromium is not installed: `apt-get install -y chromium` (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def node_path() -> str:
    """PATH with the frontend image's Node.js first (nox's smoke session sets DOCKWRIGHT_NODE_BIN)."""
    path = os.pathsep.join(filter(None, [os.environ.get("DOCKWRIGHT_NODE_BIN"), os.environ.get("PATH")]))
    if shutil.which("node", path=path) is None or shutil.which("npm", path=path) is None:
        pytest.fail("node and npm are required for the end-to-end suite: run it through nox (noxfile.py)")
    return path


def test_playwright_suite_passes_against_the_defaults_stack(tmp_path, stacks, smoke_record, step):
    browser = chromium()
    path = node_path()
    cfg = matrix.DEFAULTS
    smoke_record["config"] = f"e2e {cfg}"
    start = time.perf_counter()

    step("render")
    project = copy(tmp_path / "project", **cfg.answers())
    smoke.tag_standins(project)
    stack = stacks(project)
    step("build")
    stack.build()
    smoke_record["build"] = stack.timings["build"]
    step("up")
    smoke_record["up"] = stack.up()

    step("npm ci")
    frontend = project / "frontend"
    env = {"PATH": path, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    npm = shutil.which("npm", path=path)
    assert npm is not None
    run([npm, "ci", "--no-audit", "--no-fund"], cwd=frontend, timeout=600, env=env)

    step("playwright")
    # the page as a person opens it: through the proxy, by the frontend's host name (the defaults'
    # domain is localhost), on this stack's PROXY_PORT
    env |= {
        "CI": "1",  # the config's CI settings: no test.only, an HTML report
        "E2E_BASE_URL": f"http://localhost:{stack.ports['PROXY_PORT']}",
        "PLAYWRIGHT_CHROMIUM_EXECUTABLE": browser,
    }
    npx = shutil.which("npx", path=path)
    assert npx is not None
    e2e = time.perf_counter()
    result = run([npx, "playwright", "test"], cwd=frontend, timeout=300, env=env, check=False)
    smoke_record["e2e s"] = round(time.perf_counter() - e2e, 1)
    smoke_record["total"] = time.perf_counter() - start
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    assert result.returncode == 0, f"npx playwright test exited {result.returncode}\n{output[-6000:]}"
    # every test of the defaults' spec ran and passed (none skipped, none filtered out)
    spec = (frontend / "e2e" / "page.spec.ts").read_text()
    expected = len(re.findall(r'^test\("', spec, flags=re.M))
    assert expected == 3, f"the defaults' spec has the title, status and items tests: {expected} found"
    assert re.search(rf"\b{expected} passed\b", output), output[-3000:]
