"""A combination rendered, and what the scanners read from it, laid out under the output folder
(build/security/ by default):

  render/<id>/   the render (`copier copy` of the combination's answers)
  tree/<id>/     the files the project would commit: `git ls-files --others --exclude-standard`
                 in the render, so git-ignored `secrets/`, `.env` (and node_modules/) are left out
  built/<id>/    what the tools build from it: the Dockerfiles (same paths),
                 kustomize/<overlay>.yaml  = `kubectl kustomize kubernetes/overlays/<overlay>`,
                 compose/base.yml          = `docker compose config` of .env's COMPOSE_FILE layers,
                 compose/prod.yml          = the same + compose.prod.yml (vps target; 40-hex tags),
                 compose/dev.yml           = the same as base + compose-dev.yml
                 (every compose profile enabled, so pgAdmin is scanned too)
Findings name these paths (relative to tree/<id>/ or built/<id>/); accepted.yml globs match them.
"""

from __future__ import annotations

import os
import pathlib
import shutil
from typing import TypedDict

from dwsupport import matrix
from dwsupport.compose import compose_binary, compose_env
from dwsupport.dotenv import compose_layers
from dwsupport.render import copy
from dwsupport.tools import run

HEX40 = "0123456789abcdef0123456789abcdef01234567"  # a git SHA as CI tags images with


class Collected(TypedDict):
    """What collect() laid out for one combination (paths relative to tree/<id>/ or built/<id>/)."""

    id: str
    files: int
    dockerfiles: list[str]
    manifests: list[str]
    compose: list[str]
    workflows: list[str]


def committed_files(project: pathlib.Path) -> list[str]:
    """What `git add -A` would commit in the render (by its own .gitignore), without node_modules."""
    fresh = not (project / ".git").exists()
    if fresh:
        run(["git", "init", "-q", str(project)])
    try:
        proc = run(["git", "-C", project, "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    finally:
        if fresh:
            shutil.rmtree(project / ".git")
    files = [f for f in proc.stdout.split("\0") if f]
    return sorted(f for f in files if "node_modules" not in f.split("/"))


def collect(combo_id: str, project: pathlib.Path, out: pathlib.Path) -> Collected:
    """Copy a render's committed files to tree/<id>/ and build built/<id>/ (see the docstring)."""
    tree, built = out / "tree" / combo_id, out / "built" / combo_id
    for d in (tree, built):
        if d.exists():
            shutil.rmtree(d)
    files = committed_files(project)
    for rel in files:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / rel, tree / rel, follow_symlinks=False)
    dockerfiles = [f for f in files if pathlib.PurePosixPath(f).name == "Dockerfile"]
    for rel in dockerfiles:
        (built / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / rel, built / rel)
    overlays = project / "kubernetes" / "overlays"
    manifests = []
    for overlay in sorted(p for p in overlays.iterdir() if p.is_dir()) if overlays.is_dir() else []:
        target = built / "kustomize" / f"{overlay.name}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(run(["kubectl", "kustomize", overlay]).stdout)
        manifests.append(f"kustomize/{overlay.name}.yaml")
    base = compose_layers(project)
    models: dict[str, tuple[list[str], dict[str, str]]] = {
        "base": (base, {}),
        "dev": ([*base, "compose-dev.yml"], {}),
    }
    if (project / "compose.prod.yml").exists():
        models["prod"] = ([*base, "compose.prod.yml"], {"API_TAG": HEX40, "FRONTEND_TAG": HEX40})
    (built / "compose").mkdir(parents=True, exist_ok=True)
    for name, (layers, extra) in models.items():
        env = {**compose_env(layers), **extra}
        proc = run([*compose_binary(), "--profile", "*", "config"], cwd=project, env=env)
        (built / "compose" / f"{name}.yml").write_text(proc.stdout)
    return {
        "id": combo_id,
        "files": len(files),
        "dockerfiles": dockerfiles,
        "manifests": manifests,
        "compose": [f"compose/{n}.yml" for n in models],
        "workflows": [f for f in files if f.startswith(".github/")],
    }


def quiet_worker(log: pathlib.Path) -> None:
    """Process-pool initializer: copier's warnings and the secrets task's output go to a log."""
    import warnings

    warnings.simplefilter("ignore")
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)


def prepare(combo: matrix.Combo, out: pathlib.Path) -> Collected:
    """Render one combination and collect it (a process-pool job)."""
    project = out / "render" / combo.id
    if project.exists():
        shutil.rmtree(project)
    project.parent.mkdir(parents=True, exist_ok=True)
    copy(project, **combo.answers())
    return collect(combo.id, project, out)
