"""Versioned migrations of generated projects, run by `copier update` (copier.yml `_migrations`).

A release that renames, moves or splits something a project holds gets one function here, named
after its version, and one `_migrations` entry that calls it:

    python migrations.py 0.2.0            # in the project being updated (copier's working dir)
    python migrations.py --answers-file .copier-answers.yml 0.3.0

Copier runs an entry once, when an update crosses its version (from < version <= to); each
function is idempotent all the same, so a second run finds nothing to do. Copier's three-way merge
already carries template changes into tracked files; migrations are for what it cannot merge:
files the user owns after generation (.env is git-ignored and never re-rendered), renamed
files (whose local edits it would otherwise drop with the old name), and answers a new version
would silently replace (a choice no longer offered; a new question whose default does not fit an
existing project). Copier reloads the answers file after the `before` migrations.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
from collections.abc import Callable

import yaml  # Copier's own dependency: migrations run with the Python that runs Copier

ANSWERS_FILE = ".copier-answers.yml"


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


def set_answers(answers_file: pathlib.Path, changes: dict[str, str]) -> None:
    """Set `key: 'value'` lines in Copier's answers file, keeping every other line as it is
    (Copier writes it sorted by key; a new key goes in its sorted place among the answers)."""
    lines = answers_file.read_text().splitlines(keepends=True)
    for key, value in changes.items():
        line = f"{key}: '{value}'\n"
        index = next((i for i, old in enumerate(lines) if old.startswith(f"{key}:")), None)
        if index is not None:
            lines[index] = line
            continue
        keys = [(i, old.split(":", 1)[0]) for i, old in enumerate(lines) if re.match(r"[a-z]\w*:", old)]
        after = [i for i, name in keys if name > key]
        lines.insert(after[0] if after else len(lines), line)
    answers_file.write_text("".join(lines))


def v0_2_0(project: pathlib.Path, answers_file: str = ANSWERS_FILE) -> list[str]:
    """The proxy's host-port variables are named after the service, like every other one.

    compose.proxy.yml and compose-dev.yml read PROXY_PORT and PROXY_DASHBOARD_PORT now; a value
    set under the old names in .env (or .env.prod) would silently stop applying.
    """
    renames = {"HTTP_PORT": "PROXY_PORT", "TRAEFIK_DASHBOARD_PORT": "PROXY_DASHBOARD_PORT"}
    return [note for name in (".env", ".env.prod") for note in rename_env_keys(project / name, renames)]


# 0.3.0 offers these Python versions; a removed one moves to the nearest offered one.
PYTHON_REPLACED = {"3.12": "3.13"}


def v0_3_0(project: pathlib.Path, answers_file: str = ANSWERS_FILE) -> list[str]:
    """Answers that 0.3.0 would otherwise change under the project's feet.

    - python_version 3.12 is no longer offered. Copier would replace an answer that is not among
      the choices by the default (3.14) without a word: it becomes 3.13, the nearest offered.
    - postgres_version is new. The project's database volume holds PostgreSQL 17 data (every
      release before 0.3.0 ran 17): the answer is recorded as 17, so the update keeps PostgreSQL 17
      and its volume; moving to 18 is a deliberate step (docs/database.md, `make db-upgrade`).
    """
    path = project / answers_file
    if not path.is_file():
        return []
    answers = yaml.safe_load(path.read_text()) or {}
    changes, notes = {}, []
    python = str(answers.get("python_version", ""))
    if python in PYTHON_REPLACED:
        changes["python_version"] = PYTHON_REPLACED[python]
        notes.append(
            f"{answers_file}: python_version {python} -> {PYTHON_REPLACED[python]} (Python {python} is no"
            f" longer offered; {PYTHON_REPLACED[python]} is the nearest offered version)"
        )
    if "db" in (answers.get("services") or []) and "postgres_version" not in answers:
        changes["postgres_version"] = "17"
        notes.append(
            f"{answers_file}: postgres_version recorded as 17 (the db volume holds PostgreSQL 17 data;"
            " it stays on 17). PostgreSQL 18 is available: see docs/database.md to upgrade (make db-upgrade)"
        )
    if changes:
        set_answers(path, changes)
    return notes


MIGRATIONS: dict[str, Callable[..., list[str]]] = {
    "0.2.0": v0_2_0,
    "0.3.0": v0_3_0,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", choices=sorted(MIGRATIONS))
    parser.add_argument("project", nargs="?", type=pathlib.Path, default=pathlib.Path.cwd())
    parser.add_argument(
        "--answers-file", default=ANSWERS_FILE, help="Copier's answers file, relative to the project"
    )
    args = parser.parse_args()
    notes = MIGRATIONS[args.version](args.project, answers_file=args.answers_file) or ["nothing to do"]
    print("\n".join(f"dockwright migration {args.version}: {note}" for note in notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
