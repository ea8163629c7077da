"""The Dockerfiles of a generated project: hadolint clean at warning level, and the structure we
promise (multi-stage, numeric non-root USER, HEALTHCHECK, exec-form CMD, no syntax line, pinned
FROMs), parsed instruction by instruction; trivy's Dockerfile misconfiguration checks pass."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from dwsupport import matrix
from dwsupport.render import Renders
from dwsupport.tools import run, tool

CONT = re.compile(r"\\\n")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out = []
    for line in CONT.sub(" ", text).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage(items):
    last = max(i for i, (word, _) in enumerate(items) if word == "FROM")
    return items[last:]


@pytest.fixture(scope="module", params=matrix.DOCKERFILES, ids=str)
def project(request: pytest.FixtureRequest, renders: Renders) -> pathlib.Path:
    return renders.of(request.param).root


def dockerfiles(project: pathlib.Path) -> list[pathlib.Path]:
    return [project / "Dockerfile", project / "frontend" / "Dockerfile"]


def test_hadolint(project):
    run([tool("hadolint"), "--failure-threshold", "warning", *map(str, dockerfiles(project))])


@pytest.mark.parametrize("which", [0, 1], ids=["api", "frontend"])
def test_structure(project, which):
    path = dockerfiles(project)[which]
    text = path.read_text()
    assert not text.lstrip().startswith("# syntax"), "a syntax line pulls an image"
    items = instructions(text)
    froms = [args for word, args in items if word == "FROM"]
    assert len(froms) >= 2, "multi-stage"
    for ref in froms:
        image = ref.split()[0]
        if ":" in image:
            assert not image.endswith(":latest"), image
    stage = final_stage(items)
    users = [args for word, args in stage if word == "USER"]
    assert users, "the final stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and uid != "0", f"USER must be a numeric non-root UID, is {users[-1]}"
    assert any(word == "HEALTHCHECK" for word, _ in stage)
    cmd = [args for word, args in stage if word == "CMD"]
    assert cmd and cmd[-1].startswith("["), "CMD in exec form"
    json.loads(cmd[-1])


def test_api_python_matches_the_answer(project):
    answers = (project / ".copier-answers.yml").read_text()
    recorded = re.search(r"python_version: '?([\d.]+)", answers)
    assert recorded, answers
    version = recorded[1]
    froms = [args for word, args in instructions((project / "Dockerfile").read_text()) if word == "FROM"]
    assert any(f"python:{version}." in ref for ref in froms)


def test_trivy_config(project, tmp_path):
    # trivy's own Dockerfile checks (root user, missing HEALTHCHECK, ADD, apt without pinning…)
    report = tmp_path / "trivy.json"
    for path in dockerfiles(project):
        run(
            [
                tool("trivy"),
                "config",
                "--skip-check-update",
                "--quiet",
                "--exit-code",
                "1",
                "--severity",
                "MEDIUM,HIGH,CRITICAL",
                "--format",
                "json",
                "--output",
                str(report),
                str(path.parent),
            ],
            env={"TRIVY_DISABLE_VEX_NOTICE": "1"},
        )
