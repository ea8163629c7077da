"""Promise: every value a template needs is derived once, in extensions/context.py, and templates
only read it. docs/CONTRACT.md lists exactly the keys derive() returns; every key is used; no
template combines booleans (`and`/`or`) or reads a name that is neither an answer nor derived;
the service and target lists come from copier.yml's choices; copier's closing message uses them too.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
from types import ModuleType

import copier
import jinja2
import jinja2.meta
import pytest
import yaml
from jinja2 import nodes

from dwsupport import matrix

REPO = pathlib.Path(__file__).resolve().parents[1]
COPIER_YML = yaml.safe_load((REPO / "copier.yml").read_text())
QUESTIONS = {k for k in COPIER_YML if not k.startswith("_")}


def load(name: str) -> ModuleType:
    """extensions/<name>.py, loaded by path as copier-template-extensions does."""
    spec = importlib.util.spec_from_file_location(f"dockwright_{name}", REPO / "extensions" / f"{name}.py")
    assert spec is not None and spec.loader is not None, name
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


context = load("context")
filters = load("filters")


def answers_for(services, targets, **more) -> dict:
    base = {
        "project_slug": "my-app",
        "python_version": "3.13",
        "domain": "localhost",
        "registry": "ghcr.io/my-app/my-app",
        "services": list(services),
        "deploy_targets": list(targets),
    }
    return {**base, **more}


ALL = answers_for(context.SERVICES, context.TARGETS)


# ------------------------------------------------------------------ docs/CONTRACT.md
def contract_keys(text: str) -> set[str]:
    """The keys named in the first column of CONTRACT.md's "Derived values" table."""
    section = text.split("## Derived values", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {key for row in rows for key in re.findall(r"`([a-z_0-9]+)`", row.split("|")[1])}


def test_contract_lists_exactly_the_derived_keys():
    documented = contract_keys((REPO / "docs" / "CONTRACT.md").read_text())
    derived = set(context.derive(ALL))
    assert not derived - documented, f"derived but not in docs/CONTRACT.md: {sorted(derived - documented)}"
    assert not documented - derived, f"in docs/CONTRACT.md but not derived: {sorted(documented - derived)}"


def test_derive_returns_the_same_keys_for_every_answer_set():
    expected = set(context.derive(ALL))
    space = matrix.answer_space()  # every accepted set of services with every set of targets
    assert len(space) > len(matrix.SWEEP)
    for combo in space:
        assert set(context.derive(answers_for(combo.services, combo.targets))) == expected, combo.id


# ------------------------------------------------------------------ templates read, never derive
def jinja_environment() -> jinja2.Environment:
    envops = COPIER_YML["_envops"]
    return jinja2.Environment(
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension", filters.Validators], **envops
    )


def template_sources() -> dict[str, str]:
    """Every piece of Jinja copier renders: template files, file names, copier.yml's strings."""
    sources = {}
    for path in sorted((REPO / "template").rglob("*")):
        rel = path.relative_to(REPO).as_posix()
        sources[f"{rel} (name)"] = path.name
        if path.is_file() and path.suffix == ".jinja":
            sources[rel] = path.read_text()
    for key in ("_message_after_copy", "_message_after_update"):
        sources[f"copier.yml {key}"] = COPIER_YML[key]
    return sources


@pytest.fixture(scope="module")
def parsed() -> dict[str, nodes.Template]:
    env = jinja_environment()
    return {name: env.parse(source) for name, source in template_sources().items()}


def test_every_derived_key_is_used(parsed):
    used = set().union(*(jinja2.meta.find_undeclared_variables(ast) for ast in parsed.values()))
    dead = set(context.derive(ALL)) - used
    assert not dead, f"derived but used by no template (remove them from derive()): {sorted(dead)}"


def test_templates_read_only_answers_and_derived_keys(parsed):
    known = QUESTIONS | set(context.derive(ALL))
    for name, ast in parsed.items():
        unknown = {v for v in jinja2.meta.find_undeclared_variables(ast) if not v.startswith("_copier")}
        assert unknown <= known, f"{name}: {sorted(unknown - known)} is neither an answer nor derived"


def test_templates_never_combine_booleans(parsed):
    """`a or b` / `a and b` in a template is a value derived twice: name it in context.py."""
    for name, ast in parsed.items():
        combined = [node for node in ast.find_all((nodes.And, nodes.Or))]
        assert not combined, (
            f"{name}, line {combined[0].lineno}: derive this condition in extensions/context.py"
        )


# ------------------------------------------------------------------ one list of services and targets
def test_services_and_targets_come_from_copier_choices():
    assert tuple(COPIER_YML["services"]["choices"].values()) == context.SERVICES
    assert tuple(COPIER_YML["deploy_targets"]["choices"].values()) == context.TARGETS
    assert set(context.LAYER_ORDER) == set(context.SERVICES), "every service has a place in the merge order"
    assert len(context.LAYER_ORDER) == len(set(context.LAYER_ORDER))
    assert set(context.GUIDES) == set(context.TARGETS), "every target has its docs/deploy-<target>.md"


def test_readme_names_each_layer_file_by_the_rule():
    """README's services table gives each service's compose layer; derive() names it the same way."""
    readme = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| (\w+) \| `(compose\.[\w.]+\.yml)`", readme, re.MULTILINE)
    assert {service for service, _ in rows} == set(context.SERVICES)
    for service, layer in rows:
        assert context.layer_file(service) == layer
        expected = "compose.front.yml" if service == "frontend" else f"compose.{service}.yml"
        assert layer == expected, "layer files are named after the service; the frontend's is the seed's"


# ------------------------------------------------------------------ copier's message after copy
@pytest.mark.parametrize(
    ("domain", "targets", "warned"),
    [("localhost", ["vps"], True), ("example.org", ["vps"], False), ("localhost", ["gke"], False)],
)
def test_message_after_copy_warns_about_a_local_domain_on_the_vps(tmp_path, capsys, domain, targets, warned):
    data = {"domain": domain, "deploy_targets": targets}
    if "gke" in targets:
        data["gcp_project"] = "acme-prod-123"
    assert set(data) <= QUESTIONS
    copier.run_copy(
        str(REPO), str(tmp_path / "p"), data=data, defaults=True, unsafe=True, vcs_ref="HEAD", skip_tasks=True
    )
    message = capsys.readouterr().err
    assert "is ready in" in message
    assert ("Let's Encrypt cannot issue a certificate" in message) == warned
