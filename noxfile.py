"""dockwright's sessions: `nox` runs the default ones (lint, tests); smoke and bench are opt-in.

nox -s tests          render every supported combination and validate it with the real tools
nox -s smoke          build and run generated projects in Docker (needs an engine)
nox -s lint           ruff and mypy on the template's own Python (dwsupport/, extensions/, tests/, tools/,
                      migrations.py, noxfile.py), ruff on a rendered project's Python
nox -s security       every supported combination through six scanners: 0 CRITICAL/HIGH (see README)
nox -s lock           move the generated api's uv.lock and the frontend's package-lock.json to the newest
nox -s bench          timings and sizes (medians), and a 30 s load run through the proxy, as a table
"""

from __future__ import annotations

import pathlib
import platform
import sys
import tempfile

import nox

ROOT = pathlib.Path(__file__).parent
PYPROJECT = nox.project.load_toml("pyproject.toml")
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_venv = "yes"
PYTHON = "3.11"


def install(session: nox.Session, group: str) -> None:
    session.install(*nox.project.dependency_groups(PYPROJECT, group))


def scanners(session: nox.Session) -> pathlib.Path:
    """A venv of its own for checkov and compose-lint; returns its bin/ directory."""
    return side_venv(session, "scanners")


def load_tool(session: nox.Session) -> dict[str, str]:
    """locust, in a venv of its own (it brings gevent and a pytest plugin): the environment that
    tells dwsupport/load.py where it is."""
    return {"DOCKWRIGHT_LOCUST": str(side_venv(session, "load") / "locust")}


def side_venv(session: nox.Session, group: str) -> pathlib.Path:
    """A venv of its own for a dependency group, rebuilt when its pins change; its bin/."""
    venv = ROOT / ".nox" / f"_{group}"
    pins = nox.project.dependency_groups(PYPROJECT, group)
    stamp = venv / "pins.txt"
    if not stamp.exists() or stamp.read_text() != "\n".join(pins):
        session.run("python", "-m", "venv", "--clear", str(venv))
        session.run(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *pins, external=True)
        stamp.write_text("\n".join(pins))
    return venv / "bin"


def node(session: nox.Session) -> pathlib.Path:
    """The Node.js of the frontend image (extensions/images.yml) for the generated frontend's suite,
    from the npm registry (node-<os>-<arch>: the official binaries); returns its bin/ directory."""
    # (parsed by line: nox's own interpreter need not have PyYAML)
    ref = next(
        line.split(":", 2)[-1].strip()
        for line in (ROOT / "extensions" / "images.yml").read_text().splitlines()
        if line.strip().startswith("ref: node:")
    )
    version = ref.split("-")[0]
    arch = {"x86_64": "x64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
    package = f"node-{sys.platform}-{arch}"
    prefix = ROOT / ".nox" / "_node" / version
    binary = prefix / "node_modules" / package / "bin"
    if not (binary / "node").exists():
        session.run(
            "npm", "install", "--prefix", str(prefix), "--no-save", "--no-audit", "--no-fund",
            f"{package}@{version}", external=True,
        )  # fmt: skip
    return binary


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Questionnaire, render sweep, static validation, scanners, the generated project's suites."""
    install(session, "test")
    env = {"DOCKWRIGHT_SCANNERS_BIN": str(scanners(session)), "DOCKWRIGHT_NODE_BIN": str(node(session))}
    workers = ["-n", "2"] if "-n" not in session.posargs else []
    session.run("pytest", "-m", "not docker", *workers, *session.posargs, env=env)


@nox.session(python=PYTHON, default=False)
def security(session: nox.Session) -> None:
    """Render every supported combination (dwsupport/matrix.py SUPPORTED) and run hadolint,
    compose-lint, checkov, trivy (config + secrets), zizmor, kubernetes-validate and the Pod
    Security check on it; fail on any CRITICAL/HIGH finding not in security/accepted.yml
    (tools/security_gate/)."""
    install(session, "test")
    env = {"DOCKWRIGHT_SCANNERS_BIN": str(scanners(session))}
    session.run("python", "-m", "tools.security_gate", *session.posargs, env=env)


@nox.session(python=PYTHON, default=False)
def smoke(session: nox.Session) -> None:
    """Build generated projects and run them in Docker (skipped when no engine answers)."""
    install(session, "test")
    env = {**load_tool(session), "DOCKWRIGHT_NODE_BIN": str(node(session))}  # node: the e2e suite
    session.run("pytest", "-m", "docker", "-p", "no:randomly", *session.posargs, env=env)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff and mypy on the template's own Python; ruff on a rendered project's Python."""
    install(session, "test")
    ours = ["dwsupport", "extensions", "tests", "tools", "migrations.py", "noxfile.py"]
    session.run("ruff", "check", *ours)
    session.run("ruff", "format", "--check", *ours)
    session.run("mypy")  # the files and the strictness are in pyproject.toml [tool.mypy]
    with tempfile.TemporaryDirectory() as tmp:
        dst = pathlib.Path(tmp) / "project"
        session.run("python", "-m", "dwsupport.render", "everything@vps", str(dst))
        # ruff resolves the config's per-file-ignores globs against the working directory
        with session.chdir(dst):
            session.run("ruff", "check", "--config", "api/pyproject.toml", ".")


@nox.session(python=PYTHON, default=False)
def lock(session: nox.Session) -> None:
    """Refresh the lock files that ship inside template/ (one lock serves every answer set):
    every pin to the newest version the constraints allow (what the scheduled
    .github/workflows/lock.yml runs). `nox -s lock -- --keep` only re-locks what a constraint
    change needs (uv keeps the other pins)."""
    install(session, "test")
    keep = "--keep" in session.posargs
    session.run("python", "tools/lock_api.py", *([] if keep else ["--upgrade"]))
    session.run("python", "tools/lock_frontend.py", *([] if keep else ["--upgrade"]))


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Median timings and sizes (noisy machines: medians of several runs, and ratios)."""
    install(session, "test")
    session.run("python", "-m", "tools.bench", *session.posargs, env=load_tool(session))
