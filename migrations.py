"""Versioned migrations of generated projects, run by `copier update` (copier.yml `_migrations`).

A release that renames, moves or splits something a project holds gets one function here, named
after its version, and one `_migrations` entry that calls it:

    python migrations.py 0.2.0            # in the project being updated (copier's working dir)

Copier runs an entry once, when an update crosses its version (from < version <= to); each
function is idempotent all the same, so a second run finds nothing to do. Copier's three-way merge
already carries template changes into tracked files; migrations are for what it cannot merge:
files the user owns after generation (.env is git-ignored and never re-rendered) and renamed
files (whose local edits it would otherwise drop with the old name).
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
from collections.abc import Callable


def rename_env_keys(env: pathlib.Path, renames: dict[str, str]) -> list[str]:
    """Rename KEY= lines in a dotenv file, keeping values, comments and order."""
    if not env.is_file():
        return []
    lines = env.read_text().splitlines(keepends=True)
    present = {m.group(1) for line in lines if (m := re.match(r"\s*(?:export\s+)?(\w+)=", line))}
    done = []
    for i, line in enumerate(lines):
        match = re.match(r"(\s*(?:export\s+)?)(\w+)=", line)
        if not match or match.group(2) not in renames:
            continue
        old, new = match.group(2), renames[match.group(2)]
        if new in present:
            done.append(f"{env.name}: kept {old}, {new} is already set (remove {old} by hand)")
            continue
        lines[i] = match.group(1) + new + line[match.end(2) :]
        done.append(f"{env.name}: {old} -> {new}")
    if any("->" in d for d in done):
        env.write_text("".join(lines))
    return done


def v0_2_0(project: pathlib.Path) -> list[str]:
    """The proxy's host-port variables are named after the service, like every other one.

    compose.proxy.yml and compose-dev.yml read PROXY_PORT and PROXY_DASHBOARD_PORT now; a value
    set under the old names in .env (or .env.prod) would silently stop applying.
    """
    renames = {"HTTP_PORT": "PROXY_PORT", "TRAEFIK_DASHBOARD_PORT": "PROXY_DASHBOARD_PORT"}
    return [note for name in (".env", ".env.prod") for note in rename_env_keys(project / name, renames)]


MIGRATIONS: dict[str, Callable[[pathlib.Path], list[str]]] = {
    "0.2.0": v0_2_0,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", choices=sorted(MIGRATIONS))
    parser.add_argument("project", nargs="?", type=pathlib.Path, default=pathlib.Path.cwd())
    args = parser.parse_args()
    notes = MIGRATIONS[args.version](args.project) or ["nothing to do"]
    print("\n".join(f"dockwright migration {args.version}: {note}" for note in notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
