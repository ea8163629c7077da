"""Reading the dotenv files a generated project holds (.env, .env.example, .env.prod.example)."""

from __future__ import annotations

import pathlib


def read_env(path: pathlib.Path) -> dict[str, str]:
    """KEY=VALUE lines of a dotenv file (comments and blank lines skipped, quotes stripped)."""
    out = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip().strip("\"'")
    return out


def compose_layers(project: pathlib.Path, env_file: str = ".env") -> list[str]:
    """The compose files COMPOSE_FILE lists in the project's dotenv file, in merge order."""
    return read_env(project / env_file)["COMPOSE_FILE"].split(":")
