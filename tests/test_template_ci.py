"""This repository's own GitHub workflows (.github/workflows: CI, release, lock maintenance) keep
the rules the generated ones keep: the workflow schemas (with the timeout rule), actionlint with
shellcheck, zizmor with zero findings, actions pinned to a full SHA with the release in a
comment (the same pin as the template's for the same action), no token scope at the top and only
what each job needs, a timeout on every job. CI runs the README's checks, then the smoke suite
with real images, the api on every offered Python version; a version tag releases its CHANGELOG
section (tools/changelog_section.py, run here against CHANGELOG.md).

The checks are shown to go red on an unpinned action and on a job without a timeout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from dwsupport import REPO, smoke
from dwsupport.render import COPIER_YML
from dwsupport.template_repo import current_version, releases
from dwsupport.tools import run, tool
from dwsupport.workflows import job_problems, load, on_, pin_problems, steps, uses_lines
from tools import changelog_section

WORKFLOWS = REPO / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
TEMPLATE_GITHUB = REPO / "template" / "{% if github_actions %}.github{% endif %}"
# write scopes each job may hold
ALLOWED_WRITES = {
    ("release.yml", "release"): {"contents"},
    ("lock.yml", "lock"): {"contents", "pull-requests"},
}


def test_the_workflows_exist():
    assert {p.name for p in FILES} == {"ci.yml", "release.yml", "lock.yml"}


@pytest.mark.parametrize("schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"])
def test_schemas(schema):
    run([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, FILES)])


def test_actionlint_with_shellcheck():
    proc = run(
        [
            tool("actionlint"),
            "-no-color",
            "-oneline",
            "-shellcheck",
            tool("shellcheck"),
            "-pyflakes",
            "",
            *map(str, FILES),
        ],
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing():
    proc = run(
        [tool("zizmor"), "--offline", "--no-ignores", "--format", "json", *map(str, FILES)], check=False
    )
    findings = json.loads(proc.stdout or "[]")
    assert proc.returncode == 0 and not findings, [f["ident"] for f in findings] or proc.stderr


def test_actions_are_pinned_like_the_templates():
    problems = [p for path in FILES for p in pin_problems(path, REPO)]
    assert not problems
    template = {
        ref.split("@")[0]: (ref, rest.strip())
        for path in TEMPLATE_GITHUB.rglob("*")
        if path.is_file() and path.suffix in (".yml", ".jinja")
        for ref, rest in uses_lines(path)
        if "@" in ref
    }
    for path in FILES:
        for ref, rest in uses_lines(path):
            name = ref.split("@")[0]
            if name in template:
                assert (ref, rest.strip()) == template[name], (
                    f"{path.name}: {name} pinned unlike the template"
                )


def test_least_privilege_and_timeouts():
    for path in FILES:
        workflow = load(path)
        assert not job_problems(path.name, workflow)
        for job_id, job in workflow["jobs"].items():
            writes = {scope for scope, level in job["permissions"].items() if level == "write"}
            assert writes == ALLOWED_WRITES.get((path.name, job_id), set()), f"{path.name}/{job_id}: {writes}"
        assert "concurrency" in workflow, path.name
    for job in load(WORKFLOWS / "ci.yml")["jobs"].values():
        for step in steps(job):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_ci_runs_the_checks_then_real_smoke_on_every_offered_python():
    ci = load(WORKFLOWS / "ci.yml")
    assert set(on_(ci)) == {"pull_request", "push", "schedule", "workflow_dispatch"}
    assert on_(ci)["push"] == {"branches": ["main"]}
    assert len(on_(ci)["schedule"]) == 1, "a weekly run for upstream drift"
    jobs = ci["jobs"]
    scripts = {job_id: "\n".join(s.get("run", "") for s in steps(job)) for job_id, job in jobs.items()}
    assert "python3 -m nox -s lint tests security" in scripts["checks"]
    for job_id in ("smoke", "smoke-python"):
        assert jobs[job_id]["needs"] == "checks" and jobs[job_id]["runs-on"] == "ubuntu-24.04"
        assert "python3 -m nox -s smoke" in scripts[job_id]
        assert "offline-docker" not in scripts[job_id], "real images on GitHub's runners"
    module = "tests/smoke/test_python_versions.py"
    assert (REPO / module).is_file()
    assert f"--ignore={module}" in scripts["smoke"] and f"-- {module} -k" in scripts["smoke-python"]
    offered = list(COPIER_YML["python_version"]["choices"].values())
    assert jobs["smoke-python"]["strategy"]["matrix"]["python"] == offered


def test_smoke_tags_no_stand_ins_where_offline_docker_is_absent(monkeypatch, tmp_path):
    """On a GitHub-hosted runner there is no offline-docker setup: the smoke suite then tags
    nothing and compose pulls the real images."""
    monkeypatch.setattr(smoke, "SETUP", tmp_path / "no-such-setup")
    assert smoke.tag_standins(tmp_path).endswith("not found: images are expected to be pullable")


def test_release_creates_the_github_release_from_the_changelog():
    release = load(WORKFLOWS / "release.yml")
    assert on_(release) == {"push": {"tags": ["v*"]}}
    (job,) = release["jobs"].values()
    script = "\n".join(s.get("run", "") for s in steps(job))
    assert 'python3 tools/changelog_section.py "$TAG" > "$RUNNER_TEMP/notes.md"' in script
    assert 'gh release create "$TAG"' in script and '--notes-file "$RUNNER_TEMP/notes.md"' in script
    assert not [s for s in steps(job) if "uses" in s and "checkout" not in s["uses"]], "no third-party action"


# ------------------------------------------------------------------ tools/changelog_section.py
def test_changelog_section_of_every_release():
    changelog = (REPO / "CHANGELOG.md").read_text()
    for release in releases():
        body = changelog_section.section(changelog, release["version"])
        assert body.strip() and "\n## " not in body, release["version"]


def test_changelog_section_refuses_what_is_not_releasable():
    for text, version, why in [
        ("## 1.0.0 (unreleased)\n\n- x\n", "1.0.0", "unreleased"),
        ("## 1.0.0 — 2026-12-01\n\n## 0.9.0\n\n- y\n", "1.0.0", "empty"),
        ("## 0.9.0\n\n- y\n", "1.0.0", "no '## 1.0.0' section"),
    ]:
        with pytest.raises(ValueError, match=why):
            changelog_section.section(text, version)
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "changelog_section.py"), "v999.0.0"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "not pyproject.toml's version" in proc.stderr
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "changelog_section.py"), f"v{current_version()}"],
        capture_output=True,
        text=True,
    )
    released = str(current_version()) in {r["version"] for r in releases()}
    assert (proc.returncode == 0) == released, proc.stderr


# ------------------------------------------------------------------ the checks go red
def test_checks_fail_on_an_unpinned_action_and_a_missing_timeout(tmp_path):
    broken = yaml.safe_load((WORKFLOWS / "release.yml").read_text())
    (job,) = broken["jobs"].values()
    del job["timeout-minutes"]
    job["steps"][0]["uses"] = "actions/checkout@v7"
    path = tmp_path / "release.yml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False))
    assert pin_problems(path, REPO) == ["release.yml: actions/checkout@v7 is not pinned to a full commit SHA"]
    assert job_problems("release.yml", broken) == ["release.yml/release: no timeout-minutes"]
    proc = run(
        [tool("check-jsonschema"), "--builtin-schema", "custom.github-workflows-require-timeout", str(path)],
        check=False,
    )
    assert proc.returncode != 0, "the schema's own timeout rule"
