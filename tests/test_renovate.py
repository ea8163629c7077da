"""The template repository's Renovate config (renovate.json) sees every pin: its regexes, compiled
with RE2 as Renovate compiles them (google-re2: named groups `(?<name>…)`, no lookaround), match
every image of extensions/images.yml, every `uses:` of the generated workflows and actions, and
every tool the generated CI installs, each in a file its manager's pattern selects, with the
version and digest the file pins. The config passes Renovate's JSON schema (vendored in
check-jsonschema), whose unknown keys are checked here too (the schema itself accepts them).
A pin that no manager matches fails the suite (shown below on three kinds of pin)."""

from __future__ import annotations

import importlib.util
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
import re2
import yaml

from dwsupport import REPO
from dwsupport.tools import run, tool
from dwsupport.workflows import USES_LINE

CONFIG: dict[str, Any] = json.loads((REPO / "renovate.json").read_text())
# Renovate's schema as check-jsonschema vendors it (the `vendor.renovate` builtin)
_SPEC = importlib.util.find_spec("check_jsonschema")
assert _SPEC is not None and _SPEC.origin is not None, "check-jsonschema is installed by nox"
SCHEMA_FILE = pathlib.Path(_SPEC.origin).parent / "builtin_schemas" / "vendor" / "renovate.json"
TEMPLATE_GITHUB = REPO / "template" / "{% if github_actions %}.github{% endif %}"
SETUP_TOOLS = TEMPLATE_GITHUB / "actions" / "setup-tools" / "action.yml"
GENERATED_CONFIG = TEMPLATE_GITHUB / "renovate.json"
Pin = tuple[str, str, str]  # (depName, currentValue, currentDigest or "")


def regex_pattern(pattern: str) -> Any:
    """A managerFilePatterns entry: `/regex/` (the only form used here), compiled with RE2."""
    assert pattern.startswith("/") and pattern.endswith("/"), f"{pattern}: use the /regex/ form"
    return re2.compile(pattern[1:-1])


def found_pins(config: dict[str, Any], path: pathlib.Path, root: pathlib.Path = REPO) -> list[Pin]:
    """What the custom managers of a config extract from one file."""
    relative = path.relative_to(root).as_posix()
    text = path.read_text()
    pins: list[Pin] = []
    for manager in config.get("customManagers", []):
        if not any(regex_pattern(p).search(relative) for p in manager["managerFilePatterns"]):
            continue
        for match_string in manager["matchStrings"]:
            for m in re2.compile(match_string).finditer(text):
                groups = m.groupdict()
                pins.append((groups["depName"], groups["currentValue"], groups.get("currentDigest") or ""))
    return pins


# ------------------------------------------------------------------ the pins in the repository
def image_pins() -> list[Pin]:
    images = yaml.safe_load((REPO / "extensions" / "images.yml").read_text())
    return [(e["ref"].rsplit(":", 1)[0], e["ref"].rsplit(":", 1)[1], "") for e in images.values()]


def action_files() -> Iterator[pathlib.Path]:
    for path in sorted(TEMPLATE_GITHUB.rglob("*")):
        if path.is_file() and path.suffix in (".jinja", ".yml", ".yaml"):
            yield path


def action_pins(path: pathlib.Path) -> list[Pin]:
    """Every `uses:` of a template file but the template's own `$/...` actions and workflows."""
    pins = []
    for line in path.read_text().splitlines():
        m = USES_LINE.match(line)
        if m and not m["ref"].startswith(("$/", "./")):
            name, _, sha = m["ref"].partition("@")
            pins.append(("/".join(name.split("/")[:2]), m["rest"].split("#", 1)[1].strip(), sha))
    return pins


def tool_pins() -> list[tuple[str, str]]:
    step = yaml.safe_load(SETUP_TOOLS.read_text())["runs"]["steps"][0]
    return [(k.removesuffix("_VERSION"), v) for k, v in step["env"].items() if k.endswith("_VERSION")]


def test_every_image_of_images_yml_is_matched():
    assert sorted(found_pins(CONFIG, REPO / "extensions" / "images.yml")) == sorted(image_pins())


def test_every_action_of_the_generated_workflows_is_matched():
    checked = 0
    for path in action_files():
        expected = action_pins(path)
        found = [p for p in found_pins(CONFIG, path) if p[2]]  # pins with a digest: actions
        assert sorted(found) == sorted(expected), path.relative_to(REPO)
        checked += len(expected)
    assert checked >= 20, "the generated workflows pin their actions"


# Where each tool's releases are listed (the `# renovate:` comment of its version line).
TOOL_SOURCES = {
    "UV": "uv",
    "HADOLINT": "hadolint/hadolint",
    "SHELLCHECK": "koalaman/shellcheck",
    "TRIVY": "aquasecurity/trivy",
    "COSIGN": "sigstore/cosign",
}


@pytest.mark.parametrize(
    ("config", "relative"),
    [
        (CONFIG, SETUP_TOOLS.relative_to(REPO).as_posix()),
        (json.loads(GENERATED_CONFIG.read_text()), ".github/actions/setup-tools/action.yml"),
    ],
    ids=["template-repository", "generated-project"],
)
def test_every_tool_of_the_generated_ci_is_matched(config, relative, tmp_path):
    """In this repository, and in a generated project (where the action is rendered to
    .github/actions/setup-tools/action.yml)."""
    copy = tmp_path / relative
    copy.parent.mkdir(parents=True)
    copy.write_text(SETUP_TOOLS.read_text())
    found = sorted((name, version) for name, version, _ in found_pins(config, copy, tmp_path))
    assert found == sorted((TOOL_SOURCES[key], version) for key, version in tool_pins())


def test_the_pyproject_is_left_to_renovates_own_managers():
    """pep621 reads pyproject.toml (the template's tooling); none of the built-in managers is off."""
    for manager in ("pep621", "npm", "github-actions"):
        assert CONFIG.get(manager, {}).get("enabled", True) is True
    assert "enabledManagers" not in CONFIG
    assert (REPO / "pyproject.toml").is_file()


def test_every_frontend_dependency_is_matched():
    """package.json is a template (its licence), which Renovate's npm manager does not read: a
    regex manager takes every dependency, and nothing else (not the package's own version)."""
    path = REPO / "template" / "{% if use_frontend %}frontend{% endif %}" / "package.json.jinja"
    package = json.loads(path.read_text().replace("{{ npm_license | tojson }}", '"MIT"'))
    wanted = {**package.get("dependencies", {}), **package["devDependencies"]}
    found = found_pins(CONFIG, path)
    assert sorted((name, version) for name, version, _ in found) == sorted(wanted.items())


# ------------------------------------------------------------------ schema and keys
@pytest.mark.parametrize("path", [REPO / "renovate.json", GENERATED_CONFIG], ids=["repository", "generated"])
def test_schema_and_known_keys(path):
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.renovate", str(path)])
    schema = json.loads(SCHEMA_FILE.read_text())
    assert unknown_keys(json.loads(path.read_text()), schema, schema) == []


def resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and node["$ref"].startswith("#/definitions/"):
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def properties(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    node = resolve(node, schema)
    found = dict(node.get("properties", {}))
    for part in node.get("allOf", []):
        found.update(properties(part, schema))
    return found


def unknown_keys(value: Any, node: dict[str, Any], schema: dict[str, Any], where: str = "") -> list[str]:
    """Keys the schema does not declare (it does not refuse them: additionalProperties is open)."""
    node = resolve(node, schema)
    problems = []
    if isinstance(value, dict):
        known = properties(node, schema)
        for key, item in value.items():
            if key == "$schema" and not where:
                continue
            if key not in known:
                problems.append(f"{where}{key}")
            else:
                problems += unknown_keys(item, known[key], schema, f"{where}{key}.")
    elif isinstance(value, list) and "items" in node:
        for i, item in enumerate(value):
            problems += unknown_keys(item, node["items"], schema, f"{where}{i}.")
    return problems


# ------------------------------------------------------------------ the checks go red
def test_a_pin_no_manager_matches_fails(tmp_path):
    """An image in another form, an action without its version comment, a tool without its
    renovate comment: each is a pin the config would not see, and the comparison says so."""
    images = tmp_path / "extensions" / "images.yml"
    images.parent.mkdir()
    images.write_text("python_3_99:\n  ref: python@sha256:" + "a" * 64 + "\n  why: x\n")
    assert found_pins(CONFIG, images, tmp_path) == []

    workflow = tmp_path / "template" / "ci.yml.jinja"
    workflow.parent.mkdir()
    workflow.write_text("      - uses: actions/checkout@" + "b" * 40 + "  # v7.0.1\n")
    assert action_pins(workflow) and found_pins(CONFIG, workflow, tmp_path) == []

    action = tmp_path / "template" / "x" / "actions" / "setup-tools" / "action.yml"
    action.parent.mkdir(parents=True)
    action.write_text('        CRANE_VERSION: "0.20.3"\n')
    assert found_pins(CONFIG, action, tmp_path) == []


def test_unknown_keys_are_reported():
    schema = json.loads(SCHEMA_FILE.read_text())
    config = {**CONFIG, "fileMatch": ["x"], "customManagers": [{**CONFIG["customManagers"][0], "bogus": 1}]}
    assert sorted(unknown_keys(config, schema, schema)) == ["customManagers.0.bogus", "fileMatch"]
