"""Every setting a generated workflow reads (`vars.X`, `secrets.X`) is documented where a
deployer looks: docs/deploy-<target>.md's "Settings" table lists exactly what deploy-<target>.yml
and ci.yml read (no setting missing, no stale row); the private target's runner label is there;
template-update.yml's token is in README.md. Examples name tags as CI publishes them: full git
SHAs (or X.Y.Z), never a short SHA."""

from __future__ import annotations

import pathlib
import re

import pytest

from dwsupport import matrix
from dwsupport.render import Renders
from dwsupport.workflows import load, settings_read

COMBOS = [*matrix.WORKFLOWS, *(c for c in matrix.deploy(matrix.TARGETS) if c not in matrix.WORKFLOWS)]
ROW = re.compile(r"^\|\s*`(?P<name>[^`]+)`")


def settings_table(doc: pathlib.Path) -> list[str]:
    """The first column of the "## Settings" section's table."""
    text = doc.read_text()
    assert "\n## Settings\n" in text, f"{doc.name} has no Settings section"
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return [m["name"] for m in map(ROW.match, section.splitlines()) if m]


def reads(root: pathlib.Path, workflow: str) -> set[str]:
    return settings_read(load(root / ".github" / "workflows" / workflow))


def ci_reads(root: pathlib.Path, target: str) -> set[str]:
    """What ci.yml reads for a target: every job's settings but the other targets' deploy calls."""
    jobs = load(root / ".github" / "workflows" / "ci.yml")["jobs"]
    return set().union(
        *(
            settings_read(job)
            for job_id, job in jobs.items()
            if job_id in (f"deploy-{target}",) or not job_id.startswith("deploy-")
        )
    )


@pytest.mark.parametrize("combo", COMBOS, ids=str)
def test_each_deploy_doc_lists_exactly_the_settings_its_workflows_read(renders: Renders, combo):
    root = renders.of(combo).root
    for target in combo.targets:
        documented = settings_table(root / "docs" / f"deploy-{target}.md")
        assert len(documented) == len(set(documented)), f"deploy-{target}.md: a row twice"
        needed = reads(root, f"deploy-{target}.yml") | ci_reads(root, target)
        named = {d for d in documented if d.startswith(("vars.", "secrets."))}
        assert not needed - named, f"deploy-{target}.md does not document {sorted(needed - named)}"
        assert not named - needed, (
            f"deploy-{target}.md documents settings nothing reads: {sorted(named - needed)}"
        )


@pytest.mark.parametrize("combo", matrix.PRIVATE, ids=str)
def test_the_private_runner_label_is_documented(renders: Renders, combo):
    root = renders.of(combo).root
    (job,) = load(root / ".github/workflows/deploy-private.yml")["jobs"].values()
    label = job["runs-on"][1]
    assert f"runs-on: [self-hosted, {label}]" in settings_table(root / "docs" / "deploy-private.md")


def test_the_template_update_token_is_documented(default_render):
    root = default_render.root
    assert reads(root, "template-update.yml") == {"secrets.TEMPLATE_UPDATE_TOKEN"}
    assert "TEMPLATE_UPDATE_TOKEN" in (root / "README.md").read_text()


# a token that looks like an abbreviated git SHA: 7-39 hex characters, letters and digits
NOT_SHAS = {"ed25519"}  # hex-looking words that are not commits
SHORT_SHA = re.compile(
    r"(?<![0-9a-zA-Z_:@/.-])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,39}(?![0-9a-zA-Z_-])"
)


@pytest.mark.parametrize("combo", [matrix.EVERYTHING_ALL, matrix.DEFAULTS], ids=str)
def test_examples_use_full_shas(renders: Renders, combo):
    root = renders.of(combo).root
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", doc.read_text(), flags=re.S)
        short = [m for block in blocks for m in SHORT_SHA.findall(block) if m not in NOT_SHAS]
        assert not short, f"{doc.name}: short SHAs {short} (CI publishes full-SHA and X.Y.Z tags only)"
