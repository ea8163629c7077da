"""Deploy only what this repository's CI built and signed: every deploy workflow (vps, cloudrun,
gke, private) resolves the digest of each of the project's images, verifies its cosign signature
against this repository's ci.yml identity (main or a version tag, GitHub's OIDC issuer) in a step
that runs before anything changes the target, and deploys those digests, never a tag.

The checker (dwsupport.workflows.verify_problems) is itself shown to go red: the verify step
removed, moved after the deploy, or missing an image."""

from __future__ import annotations

import copy
import re
import subprocess
from typing import Any

import pytest
import yaml

from dwsupport import matrix
from dwsupport.render import Render, Renders
from dwsupport.workflows import changes_target, steps, verify_problems

ISSUER = "https://token.actions.githubusercontent.com"
# What deploys the verified digests, per target: the step and what its script must contain.
DEPLOYS = {
    "vps": "deploy/vps/deploy.sh",
    "cloudrun": "cloudrun/deploy.sh",
    "gke": "kustomize edit set image",
    "private": "kustomize edit set image",
}
COMBOS = [
    *matrix.WORKFLOWS,
    *(c for c in matrix.deploy(matrix.TARGETS) if c not in matrix.WORKFLOWS),
]


def deploy_jobs(render: Render) -> dict[str, dict[str, Any]]:
    jobs = {}
    for target in render.answers["deploy_targets"]:
        workflow = yaml.safe_load((render.root / f".github/workflows/deploy-{target}.yml").read_text())
        (jobs[target],) = workflow["jobs"].values()
    return jobs


def images_of(render: Render) -> list[str]:
    return [image["name"] for image in render.context["project_images"]]


def verify_step(job: dict[str, Any]) -> dict[str, Any]:
    (step,) = [s for s in steps(job) if "cosign verify" in s.get("run", "")]
    return step


@pytest.mark.parametrize("combo", COMBOS, ids=str)
def test_each_deploy_verifies_every_image_before_it_changes_anything(renders: Renders, combo):
    render = renders.of(combo)
    images = images_of(render)
    for target, job in deploy_jobs(render).items():
        if not images:  # nginx alone: nothing of the project's own to sign or verify
            assert not [s for s in steps(job) if "cosign" in s.get("run", "")], target
            continue
        assert verify_problems(job, images) == [], target
        step = verify_step(job)
        for name in images:
            assert f'repository="$prefix/{name}"' in step["run"], (target, name)
        # cosign itself: the pinned, checksum-verified install, earlier in the job
        installs = [s for s in steps(job) if "cosign" in (s.get("with") or {}).get("tools", "").split()]
        assert installs and steps(job).index(installs[0]) < steps(job).index(step), target


@pytest.mark.parametrize("combo", COMBOS, ids=str)
def test_the_signer_is_this_repositorys_ci_workflow_on_main_or_a_version_tag(renders: Renders, combo):
    render = renders.of(combo)
    for target, job in deploy_jobs(render).items():
        if not images_of(render):
            continue
        script = verify_step(job)["run"]
        commands = [c for c in script.replace("\\\n", " ").splitlines() if "cosign verify" in c]
        assert commands, target
        for command in commands:
            assert '--certificate-identity-regexp "$signer"' in command, target
            assert f"--certificate-oidc-issuer {ISSUER}" in command, target
        assignment = next(x.strip() for x in script.splitlines() if x.strip().startswith("signer="))
        signer = subprocess.run(
            ["bash", "-c", f'{assignment}; printf %s "$signer"'],
            env={"GITHUB_REPOSITORY": "Acme-Org/my.app"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        accepted = re.compile(signer)  # RE2 (cosign) and Python agree on this subset
        base = "https://github.com/Acme-Org/my.app/.github/workflows"
        for ok in (f"{base}/ci.yml@refs/heads/main", f"{base}/ci.yml@refs/tags/v1.2.3"):
            assert accepted.search(ok), (target, signer, ok)
        for bad in (
            f"{base}/ci.yml@refs/heads/feature",  # a branch other than main
            f"{base}/ci.yml@refs/pull/7/merge",  # a pull request
            f"{base}/deploy-vps.yml@refs/heads/main",  # another workflow of the repository
            "https://github.com/Acme-Org/myXapp/.github/workflows/ci.yml@refs/heads/main",  # '.' is literal
            "https://github.com/evil/my.app/.github/workflows/ci.yml@refs/heads/main",  # another owner
            f"{base}/ci.yml@refs/heads/main.evil",  # anchored at the end
            f"https://evil.example/?{base}/ci.yml@refs/heads/main",  # anchored at the start
        ):
            assert not accepted.search(bad), (target, signer, bad)


@pytest.mark.parametrize("combo", COMBOS, ids=str)
def test_deploys_use_the_verified_digests_not_tags(renders: Renders, combo):
    render = renders.of(combo)
    images = render.context["project_images"]
    for target, job in deploy_jobs(render).items():
        if not images:
            continue
        step = verify_step(job)
        assert step["id"] == "images"
        for image in images:
            assert re.search(
                r'digest="\$\(docker buildx imagetools inspect "\$repository:\$TAG"', step["run"]
            )
            assert '[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]' in step["run"], "a digest, or the job stops"
            assert f'echo "{image["name"]}_digest=$digest" >> "$GITHUB_OUTPUT"' in step["run"]
        deploy = [s for s in steps(job) if DEPLOYS[target] in s.get("run", "")]
        assert deploy, target
        for s in deploy:
            for image in images:
                digest = image["digest_variable"]
                expected = "${{ steps.images.outputs." + image["name"] + "_digest }}"
                assert s["env"][digest] == expected, target
            if target in ("gke", "private"):
                edits = [line for line in s["run"].splitlines() if "kustomize edit set image" in line]
                assert len(edits) == len(images), target
                for line, image in zip(edits, images, strict=True):
                    assert line.rstrip().endswith(f'@${image["digest_variable"]}"'), line
                    assert "TAG" not in line, f"{target} deploys a tag: {line}"
        if target == "private":
            copy_step = next(s for s in steps(job) if "imagetools create" in s.get("run", ""))
            for image in images:
                source = f'"${image["image_variable"]}@${image["digest_variable"]}"'
                assert source in copy_step["run"], "the verified digest is what is copied"


# ------------------------------------------------------------------ the checker goes red
@pytest.fixture(scope="module")
def everything(renders: Renders) -> Render:
    return renders.of(matrix.EVERYTHING_ALL)


@pytest.mark.parametrize("target", matrix.TARGETS)
def test_checker_fails_without_the_verify_step(everything: Render, target):
    job = copy.deepcopy(deploy_jobs(everything)[target])
    job["steps"] = [s for s in steps(job) if "cosign verify" not in s.get("run", "")]
    assert "no step verifies the images' signatures (cosign verify)" in verify_problems(
        job, images_of(everything)
    )


@pytest.mark.parametrize("target", matrix.TARGETS)
def test_checker_fails_when_the_verify_step_runs_after_a_change(everything: Render, target):
    job = copy.deepcopy(deploy_jobs(everything)[target])
    verify = verify_step(job)
    job["steps"].remove(verify)
    last_change = max(i for i, s in enumerate(steps(job)) if changes_target(s))
    job["steps"].insert(last_change + 1, verify)
    (problem,) = verify_problems(job, images_of(everything))
    assert "changes the target before the signatures are verified" in problem


def test_checker_fails_when_an_image_is_not_verified(everything: Render):
    job = copy.deepcopy(deploy_jobs(everything)["vps"])
    step = verify_step(job)
    step["run"] = step["run"].replace("cosign verify", "true", 1)
    (problem,) = verify_problems(job, images_of(everything))
    assert problem.startswith("1 `cosign verify` for 2 images")
