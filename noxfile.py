"""dockwright's sessions: `nox` runs the default ones (lint, tests); smoke and bench are opt-in.

nox -s tests          render every supported combination and validate it with the real tools
nox -s smoke          build and run generated projects in Docker (needs an engine)
nox -s lint           ruff and mypy on the template's own Python (dwsupport/, extensions/, tests/, tools/,
                      migrations.py, noxfile.py), ruff on a rendered project's Python
nox -s security       every supported combination through six scanners: 0 CRITICAL/HIGH (see README)
nox -s lock           refresh the generated api's uv.lock and the frontend's package-lock.json
nox -s bench          timings and sizes (medians), printed as a table
"""

from __future__ import annotations

import pathlib
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
    venv = ROOT / ".nox" / "_scanners"
    pins = nox.project.dependency_groups(PYPROJECT, "scanners")
    stamp = venv / "pins.txt"
    if not stamp.exists() or stamp.read_text() != "\n".join(pins):
        session.run("python", "-m", "venv", "--clear", str(venv))
        session.run(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *pins, external=True)
        stamp.write_text("\n".join(pins))
    return venv / "bin"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Questionnaire, render sweep, static validation, scanners, the generated project's suites."""
    install(session, "test")
    env = {"DOCKWRIGHT_SCANNERS_BIN": str(scanners(session))}
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
    session.run("pytest", "-m", "docker", "-p", "no:randomly", *session.posargs)


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
    """Refresh the lock files that ship inside template/ (one lock serves every answer set);
    `nox -s lock -- --upgrade` moves every api pin to the newest allowed version (what the
    scheduled .github/workflows/lock.yml runs)."""
    install(session, "test")
    session.run("python", "tools/lock_api.py", *session.posargs)
    session.run("python", "tools/lock_frontend.py")


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Median timings and sizes (noisy machines: medians of several runs, and ratios)."""
    install(session, "test")
    session.run("python", "-m", "tools.bench", *session.posargs)
