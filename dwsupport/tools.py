"""Command-line tools: where they are installed, and running them with the evidence kept."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Collection, Mapping, Sequence

from dwsupport import REPO

# nox puts checkov and compose-lint in a venv of their own (noxfile.py scanners()) and passes its
# bin/ in this variable; without it, the place nox makes it is tried.
SCANNERS_BIN = "DOCKWRIGHT_SCANNERS_BIN"
Command = Sequence[str | os.PathLike[str]]


class ToolError(AssertionError):
    """A tool is missing or a command failed; the message carries the evidence. An
    AssertionError, so that a test that meets one fails (rather than errors) with it."""


def tool(name: str) -> str:
    """A command-line tool: this venv's bin/, the scanners venv, else PATH."""
    dirs = [pathlib.Path(sys.executable).parent]
    if os.environ.get(SCANNERS_BIN):
        dirs.append(pathlib.Path(os.environ[SCANNERS_BIN]))
    dirs.append(REPO / ".nox" / "_scanners" / "bin")
    found = next((str(d / name) for d in dirs if (d / name).exists()), None) or shutil.which(name)
    if not found:
        raise ToolError(f"{name} is not installed: run this through nox (README.md), which installs it")
    return found


def fake_command(folder: pathlib.Path, name: str, script: str) -> str:
    """Install a stand-in `name` (a script) in folder; the PATH that finds it first."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(script)
    (folder / name).chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def run(
    cmd: Command,
    *,
    cwd: os.PathLike[str] | str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    ok: Collection[int] = (0,),
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run a command (environment = ours + env). With check, an exit code not in `ok` raises
    ToolError with the command and the tails of its output."""
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode not in ok:
        command = " ".join(map(str, cmd))
        raise ToolError(
            f"{command} exited {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n"
            f"{proc.stderr[-6000:]}"
        )
    return proc
