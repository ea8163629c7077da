"""The repository's own promises: CI runs exactly the README's test command; the template
tree follows the one-boolean-per-file naming; the image pins are complete."""

from __future__ import annotations

import re

import yaml

from dwsupport import REPO, readme
from dwsupport.render import Render
from extensions import context as template_context


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert "bash ../shared/offline-docker/setup up" in ci
    commands = [line for line in ci.splitlines() if line and not line.startswith("#")]
    assert commands[-1] == readme.command("run the whole test suite")


def test_conditional_names_hold_one_boolean(default_render: Render):
    booleans = {k for k, v in default_render.context.items() if isinstance(v, bool)} | {"github_actions"}
    for path in (REPO / "template").rglob("*"):
        for condition in re.findall(r"{% if (.*?) %}", path.name):
            words = set(re.findall(r"[a-z_]+", condition)) - {"and", "not"}
            assert "or" not in words, f"or-chain in a file name: {path.name}"
            assert words <= booleans, f"{path.name}: {condition}"


def test_every_image_pin_has_a_full_version_a_reason_and_a_source():
    pins = yaml.safe_load((REPO / "extensions" / "images.yml").read_text())
    for key, entry in pins.items():
        ref, why, source = entry["ref"], entry["why"], entry["source"]
        assert why.strip() and source.strip(), key
        tag = ref.rsplit(":", 1)[1]
        # PostgreSQL and pgAdmin versions are MAJOR.MINOR; the others MAJOR.MINOR.PATCH
        assert tag != "latest" and re.search(r"\d+\.\d+", tag), f"{key}: {ref} is not a full version"
    assert template_context.load_images()["postgres_18"] == pins["postgres_18"]["ref"]


def test_templates_take_derived_values_from_the_context():
    # docs/ARCHITECTURE.md, Templates: derived values live in extensions/context.py, not in {% set %} lines
    offenders = [p.name for p in (REPO / "template").rglob("*.jinja") if "{% set " in p.read_text()]
    assert not offenders
