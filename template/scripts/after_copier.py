"""What this checkout needs after Copier renders it: Copier's one task (`copier copy`, `copier
update`), and `make .env` in a fresh clone.

    python3 scripts/after_copier.py copy      # after `copier copy`, and `make .env` in a clone
    python3 scripts/after_copier.py update    # after `copier update`

- The missing secrets: secrets/<name>.txt, random, never overwritten (scripts/generate_secrets.py).
- This checkout's own tag for local builds: `.env`'s API_TAG/FRONTEND_TAG are `dev` in
  .env.example, which every checkout of every project would share (a build in one replaces the
  image another runs). A `dev` value becomes `dev-<8 hex digits of this checkout's path>`; any
  other value is yours (or a deploy's) and stays. CI and deployments set their own tags.
- After an update: .env.example's changes merged into .env, your values kept
  (scripts/sync_env.py --base-from-git; .env is git-ignored, so Copier cannot merge it itself).

An update also renders the old and the new template version into scratch directories and diffs
them; anything created there would enter that diff (a secret file would even delete a removed
service's secret from the project). Those renders are no git work tree, and the project being
updated always is one (`copier update` requires git): outside one, `update` does nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pathlib
import re
import shutil
import subprocess
import sys
from collections.abc import Collection
from types import ModuleType

HERE = pathlib.Path(__file__).resolve().parent
LOCAL_TAGS = ("API_TAG", "FRONTEND_TAG")
SHARED_TAG = "dev"  # .env.example's value: the same in every checkout


def sibling(name: str) -> ModuleType:
    """scripts/<name>.py, imported by path (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"scripts/{name}.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_git_work_tree(root: pathlib.Path) -> bool:
    git = shutil.which("git")
    if git is None:
        return False
    # fixed arguments, no user input: nothing to inject
    probe = subprocess.run([git, "rev-parse", "--is-inside-work-tree"], cwd=root,  # noqa: S603
                           capture_output=True, text=True, check=False)
    return probe.stdout.strip() == "true"


def checkout_tag(root: pathlib.Path) -> str:
    """The local image tag of this checkout: the same on every run here, different elsewhere."""
    return f"{SHARED_TAG}-{hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]}"


def retag(root: pathlib.Path, old: str, new: str) -> list[str]:
    """Set .env's API_TAG/FRONTEND_TAG to `new` where they hold `old`; returns the keys changed."""
    env = root / ".env"
    if not env.is_file():
        return []
    lines = env.read_text().splitlines(keepends=True)
    changed = []
    for i, line in enumerate(lines):
        match = re.match(r"^([A-Z_]+)=(.*?)(\r?\n)?$", line)
        if match and match.group(1) in LOCAL_TAGS and match.group(2) == old:
            lines[i] = f"{match.group(1)}={new}{match.group(3) or ''}"
            changed.append(match.group(1))
    if changed:
        env.write_text("".join(lines))
    return changed


def own_local_tags(root: pathlib.Path, had: Collection[str] = ()) -> list[str]:
    """Give .env's API_TAG/FRONTEND_TAG this checkout's tag where they still hold the shared one
    (and say so, but for the keys that `had` it already)."""
    tag = checkout_tag(root)
    changed = retag(root, SHARED_TAG, tag)
    new = [key for key in changed if key not in had]
    if new:
        print(f".env: {' and '.join(new)}={tag} (local builds of this checkout)")
    return changed


def main(operation: str, root: pathlib.Path) -> int:
    if operation == "update" and not in_git_work_tree(root):
        return 0  # a scratch render of `copier update`: see the docstring
    status = sibling("generate_secrets").main(root)
    had: list[str] = []
    if operation == "update":
        # The merge compares .env with .env.example's old and new values: this checkout's tag is
        # the shared `dev` in disguise (a frontend turned off must take FRONTEND_TAG along).
        had = retag(root, checkout_tag(root), SHARED_TAG)
        status = status or sibling("sync_env").main([str(root), "--base-from-git"])
    own_local_tags(root, had)  # after the merge, which may add a tag (a service turned on)
    return status


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("copy", "update"):
        sys.exit(f"usage: {sys.argv[0]} copy|update")
    sys.exit(main(sys.argv[1], pathlib.Path.cwd()))
