"""Every `uses:` step passes only inputs its pinned action version declares, and every input that
version requires (without a default): checked against the action.yml of that very commit,
vendored in tests/data/action_inputs.yml by tools/vendor_action_inputs.py. GitHub only warns
about an unknown input at run time (`package-manager-cache` given to setup-node v4.4.0, which
lacks it, warned on every run), so nothing else would catch one.

Covers the generated workflows and composite actions of every combination (dwsupport.matrix
WORKFLOWS) and this repository's own workflows (.github/)."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

from dwsupport import REPO, matrix
from dwsupport.render import Renders
from dwsupport.workflows import all_steps, input_problems, vendored_inputs

VENDORED = vendored_inputs()
SETUP_NODE_V4_4_0 = "actions/setup-node@49933ea5288caeca8642d1e84afbd3f7d6820020"


def files(root: pathlib.Path) -> list[pathlib.Path]:
    github = root / ".github"
    return sorted(github.glob("workflows/*.yml")) + sorted(github.glob("actions/*/action.yml"))


def problems_in(root: pathlib.Path) -> list[str]:
    return [
        f"{path.relative_to(root)}{f' ({job})' if job else ''}: {problem}"
        for path, job, step in all_steps(files(root))
        if "uses" in step
        for problem in input_problems(step, root, VENDORED)
    ]


@pytest.mark.parametrize("combo", matrix.WORKFLOWS, ids=str)
def test_generated_steps_pass_only_inputs_their_action_declares(renders: Renders, combo):
    root = renders.of(combo).root
    assert [s for _, _, s in all_steps(files(root)) if "uses" in s], "no action used: nothing checked"
    assert not problems_in(root)


def test_this_repositorys_workflows_pass_only_declared_inputs():
    assert files(REPO), "the template's own .github/workflows"
    assert not problems_in(REPO)


def test_every_vendored_record_names_its_source_and_licence():
    for action, commits in VENDORED.items():
        for commit, entry in commits.items():
            assert re.fullmatch(r"[0-9a-f]{40}", commit), action
            assert re.fullmatch(r"v\d+\.\d+\.\d+", entry["version"]), action
            owner, repo, *_ = action.split("/")
            assert entry["source"].startswith(f"https://github.com/{owner}/{repo}/blob/{commit}/"), action
            assert entry["licence"] in ("MIT", "Apache-2.0"), action
            assert entry["inputs"], action


# ------------------------------------------------------------------ the checker goes red
def setup_node_step(ref: str, **inputs: object) -> dict[str, object]:
    return {"uses": ref, "with": {"node-version": "24", **inputs}}


def test_an_input_the_pinned_version_lacks_fails(tmp_path):
    """The bug this guards against: `package-manager-cache` only exists from setup-node v5."""
    v4 = setup_node_step(SETUP_NODE_V4_4_0, **{"package-manager-cache": False})
    assert input_problems(v4, tmp_path, VENDORED) == [
        f"{SETUP_NODE_V4_4_0}: no input `package-manager-cache` in that version"
    ]
    current = next(
        c for c in VENDORED["actions/setup-node"] if VENDORED["actions/setup-node"][c]["version"] == "v7.0.0"
    )
    v7 = setup_node_step(f"actions/setup-node@{current}", **{"package-manager-cache": False})
    assert input_problems(v7, tmp_path, VENDORED) == []


def test_a_missing_required_input_and_an_unvendored_pin_fail(tmp_path):
    action = tmp_path / ".github" / "actions" / "local"
    action.mkdir(parents=True)
    (action / "action.yml").write_text(
        yaml.safe_dump(
            {
                "name": "local",
                "description": "x",
                "inputs": {
                    "tools": {"description": "x", "required": True},
                    "opt": {"description": "x", "default": "1"},
                },
                "runs": {"using": "composite", "steps": []},
            }
        )
    )
    assert input_problems({"uses": "$/.github/actions/local", "with": {"opt": "2"}}, tmp_path, VENDORED) == [
        "$/.github/actions/local: required input `tools` missing"
    ]
    assert (
        input_problems({"uses": "$/.github/actions/local", "with": {"tools": "uv"}}, tmp_path, VENDORED) == []
    )
    unknown = {"uses": "actions/checkout@" + "0" * 40}
    (problem,) = input_problems(unknown, tmp_path, VENDORED)
    assert "not vendored" in problem and "tools.vendor_action_inputs" in problem
