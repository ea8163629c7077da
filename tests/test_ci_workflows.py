"""The generated GitHub Actions (.github/): every workflow of every target combination passes the
workflow JSON schemas, actionlint (shellcheck on every `run:`) and zizmor with zero findings, and
keeps the rules the linters cannot see: SHA-pinned actions with their version in a comment,
checksum-verified tools, read-only tokens by default, Trivy gates on HIGH/CRITICAL, immutable
multi-arch publishing signed with cosign and attested, deploys behind the `production`
environment, a template update that asks `copier check-update` first and refuses conflicts.
(Signature checks before deploys: tests/test_deploy_signatures.py; `with:` inputs against each
pinned action.yml: test_action_inputs.py; settings documented: test_settings_docs.py.)

Each tool runs once per rendered project (all its workflows in one call), not once per file.
"""

from __future__ import annotations

import functools
import json
import pathlib
import re
import subprocess
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from dwsupport import matrix
from dwsupport.render import Render, Renders
from dwsupport.tools import run, tool
from dwsupport.workflows import SHA_USES, VERSION_COMMENT, on_, steps, uses_lines

TRIVY_SCAN = re.compile(r"\btrivy\s+(fs|image|config|repo|rootfs|k8s)\b")
# Trivy releases published by the attacker in March 2026 (GHSA-69fq-xp46-6x23).
COMPROMISED_TRIVY = {"0.69.4", "0.69.5", "0.69.6"}


# ------------------------------------------------------------------ rendering
class Project:
    """A rendered project and what its .github/ holds, parsed once."""

    def __init__(self, render: Render):
        self.render = render
        self.root = render.root
        self.github = self.root / ".github"
        self.answers = render.answers  # as copier recorded them (defaults included)
        self.services, self.targets = set(self.answers["services"]), set(self.answers["deploy_targets"])
        self.workflows = sorted((self.github / "workflows").glob("*.yml"))
        self.actions = sorted(self.github.glob("actions/*/action.yml"))

    @functools.cached_property
    def parsed(self) -> dict[str, dict]:
        return {p.name: yaml.safe_load(p.read_text()) for p in self.workflows}

    def workflow(self, name: str) -> dict:
        return self.parsed[name]

    def files(self) -> list[pathlib.Path]:
        return self.workflows + self.actions


@pytest.fixture(params=matrix.WORKFLOWS, ids=str, scope="module")
def project(request: pytest.FixtureRequest, renders: Renders) -> Project:
    return Project(renders.of(request.param))


def all_steps(project: Project) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
    """(file name, job id or None, step) for every step of every workflow and composite action."""
    for name, wf in project.parsed.items():
        for job_id, job in wf["jobs"].items():
            for step in steps(job):
                yield name, job_id, step
    for path in project.actions:
        for step in yaml.safe_load(path.read_text())["runs"].get("steps", []):
            yield path.relative_to(project.root).as_posix(), None, step


def expected_images(project: Project) -> dict[str, str]:
    """The project's own images, by the name its files give them: `<registry>/<service>`
    (README: the `registry` answer is where CI pushes the api and frontend images); `ghcr.io`
    alone is the GitHub repository's path, known to CI only: locally `ghcr.io/<slug>/<slug>`."""
    registry, slug = project.answers["registry"], project.answers["project_slug"]
    prefix = f"ghcr.io/{slug}/{slug}" if registry == "ghcr.io" else registry
    return {name: f"{prefix}/{name}" for name in ("api", "frontend") if name in project.services}


def ci_prefix(project: Project) -> str:
    """Where CI pushes, as the workflows write it (a step lowercases it)."""
    registry = project.answers["registry"]
    return "ghcr.io/${{ github.repository }}" if registry == "ghcr.io" else registry


def registry_login(project: Project) -> tuple[str, set[str]]:
    """How CI logs in to the project's registry, and the write scope pushing there needs:
    GitHub's token for ghcr.io, Workload Identity for Artifact Registry, a secret elsewhere."""
    host = project.answers["registry"].split("/")[0]
    if host == "ghcr.io":
        return "${{ secrets.GITHUB_TOKEN }}", {"packages"}
    if host.endswith("-docker.pkg.dev"):
        return "${{ steps.gcp.outputs.access_token }}", {"id-token"}
    return "${{ secrets.REGISTRY_PASSWORD }}", set()


def on_google_cloud(project: Project, target: str) -> bool:
    """The deploy of this target authenticates to Google Cloud (Workload Identity Federation):
    Cloud Run and GKE always; the VPS to read images from Artifact Registry. The private
    target's self-hosted runner holds its own logins."""
    artifact_registry = project.answers["registry"].split("/")[0].endswith("-docker.pkg.dev")
    return target in ("cloudrun", "gke") or (
        target == "vps" and artifact_registry and bool(expected_images(project))
    )


# ------------------------------------------------------------------ which files
def test_workflow_files_follow_the_targets(project):
    expected = {"ci.yml", "template-update.yml"} | {f"deploy-{t}.yml" for t in project.targets}
    assert {p.name for p in project.workflows} == expected
    assert [p.parent.name for p in project.actions] == ["setup-tools"]
    assert (project.github / "renovate.json").is_file()
    assert not (project.github / "dependabot.yml").exists(), "one update bot: Renovate"
    assert (project.github / "actionlint.yaml").exists() == ("private" in project.targets)


def test_no_github_directory_without_github_actions(renders):
    assert not (renders.of(matrix.NO_ACTIONS).root / ".github").exists()


# ------------------------------------------------------------------ validators
@pytest.mark.parametrize("schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"])
def test_workflow_schemas(project, schema):
    run([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, project.workflows)])


def test_action_and_renovate_schemas(project):
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", *map(str, project.actions)])
    run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.renovate",
            str(project.github / "renovate.json"),
        ]
    )


def actionlint(files, cwd, config=None) -> subprocess.CompletedProcess:
    cmd = [tool("actionlint"), "-no-color", "-oneline", "-shellcheck", tool("shellcheck"), "-pyflakes", ""]
    if config and config.exists():
        cmd += ["-config-file", str(config)]
    return run([*cmd, *map(str, files)], cwd=cwd, check=False)


def test_actionlint(project):
    proc = actionlint(project.workflows, project.root, project.github / "actionlint.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_runs_shellcheck(tmp_path):
    """A canary: if actionlint silently lost shellcheck, test_actionlint would pass vacuously."""
    workflow = tmp_path / ".github" / "workflows" / "canary.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        textwrap.dedent("""\
        name: canary
        on: push
        permissions: {}
        jobs:
          canary:
            runs-on: ubuntu-24.04
            timeout-minutes: 5
            steps:
              - run: echo $UNQUOTED
        """)
    )
    proc = actionlint([workflow], tmp_path)
    assert "SC2086" in proc.stdout, proc.stdout + proc.stderr


def test_zizmor_finds_nothing(project):
    proc = run([tool("zizmor"), "--offline", "--format", "json", str(project.root)], check=False)
    findings = json.loads(proc.stdout or "[]")
    summary = [(f["ident"], f["locations"][0]["symbolic"]["key"]["Local"]["given_path"]) for f in findings]
    assert proc.returncode == 0 and not findings, summary or proc.stderr


# ------------------------------------------------------------------ pinning
def test_every_action_is_pinned_by_sha_with_its_version(project):
    pins: dict[str, set[str]] = {}
    for path in project.files():
        text = path.read_text()
        parsed = yaml.safe_load(text)
        jobs = parsed.get("jobs", {}) if "jobs" in parsed else {}
        declared = [job["uses"] for job in jobs.values() if "uses" in job]
        declared += [
            s["uses"]
            for s in (parsed.get("runs", {}).get("steps", []) if "runs" in parsed else [])
            if "uses" in s
        ]
        declared += [s["uses"] for job in jobs.values() for s in steps(job) if "uses" in s]
        seen = []
        for ref, rest in uses_lines(path):
            seen.append(ref)
            if ref.startswith(("$/", "./")):
                target = project.root / ref[2:]
                assert target.exists(), f"{path.name}: {ref} does not exist"
                continue
            assert SHA_USES.match(ref), f"{path.name}: {ref} is not pinned to a full commit SHA"
            assert VERSION_COMMENT.match(rest), f"{path.name}: {ref} has no '# vX.Y.Z' comment"
            name, sha = ref.split("@")
            pins.setdefault(name.split("/")[0] + "/" + name.split("/")[1], set()).add(sha + rest.strip())
        assert sorted(seen) == sorted(declared), f"{path.name}: a `uses:` the line scan missed"
    drift = {name: shas for name, shas in pins.items() if len(shas) > 1}
    assert not drift, f"one action, several pins: {drift}"


def test_checkouts_do_not_persist_credentials(project):
    checkouts = [
        (f, s) for f, _, s in all_steps(project) if s.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkouts
    for name, step in checkouts:
        assert (step.get("with") or {}).get("persist-credentials") is False, name


def test_third_party_images_come_from_images_yml(project):
    images = project.render.context["images"]
    ci = project.workflow("ci.yml")
    services = ci["jobs"].get("test-api", {}).get("services", {})
    assert {k: v["image"] for k, v in services.items()} == {
        **({"db": images["postgres"]} if "db" in project.services else {}),
        **({"cache": images["redis"]} if "cache" in project.services else {}),
    }


# ------------------------------------------------------------------ least privilege
# Write scopes each job may hold: (workflow, job) → scopes; nothing else writes. Publishing signs
# (OIDC) and attests; a deploy writes only an OIDC token, for Google Cloud.
def allowed_writes(project: Project) -> dict[tuple[str, str], set[str]]:
    allowed = {
        ("ci.yml", "trivy-fs"): {"security-events"},
        ("ci.yml", "build"): {"security-events"},
        ("ci.yml", "publish"): {"id-token", "attestations", "artifact-metadata"} | registry_login(project)[1],
        ("template-update.yml", "update"): {"contents", "pull-requests"},
    }
    for target in project.targets:
        if on_google_cloud(project, target):
            allowed[("ci.yml", f"deploy-{target}")] = {"id-token"}
            allowed[(f"deploy-{target}.yml", "deploy")] = {"id-token"}
    return allowed


def test_tokens_are_read_only_unless_a_job_needs_more(project):
    allowed = allowed_writes(project)
    for name, wf in project.parsed.items():
        assert wf.get("permissions") in ({}, {"contents": "read"}), f"{name}: top-level permissions"
        for job_id, job in wf["jobs"].items():
            perms = job.get("permissions", {})
            assert isinstance(perms, dict), f"{name}/{job_id}: permissions must be a map, not {perms!r}"
            writes = {scope for scope, level in perms.items() if level == "write"}
            assert writes <= allowed.get((name, job_id), set()), f"{name}/{job_id}: {writes}"
    publish = project.workflow("ci.yml")["jobs"].get("publish")
    if publish:
        assert {k for k, v in publish["permissions"].items() if v == "write"} == allowed[
            ("ci.yml", "publish")
        ]


def test_no_long_lived_cloud_keys(project):
    for name, _, step in all_steps(project):
        if step.get("uses", "").startswith("google-github-actions/auth@"):
            inputs = step["with"]
            assert "credentials_json" not in inputs, name
            assert inputs["workload_identity_provider"].startswith("${{ vars.")
    text = "\n".join(p.read_text() for p in project.files())
    assert "credentials_json" not in text and "GOOGLE_APPLICATION_CREDENTIALS" not in text


def test_timeouts_and_concurrency(project):
    for name, wf in project.parsed.items():
        for job_id, job in wf["jobs"].items():
            if "uses" not in job:  # a reusable-workflow call takes the callee's timeouts
                assert isinstance(job.get("timeout-minutes"), int), f"{name}/{job_id}"
    ci = project.workflow("ci.yml")
    assert ci["concurrency"]["group"] == "ci-${{ github.ref }}"
    assert "refs/tags/" in ci["concurrency"]["cancel-in-progress"]  # superseded runs cancel, tags never
    assert project.workflow("template-update.yml")["concurrency"]["cancel-in-progress"] is True


# ------------------------------------------------------------------ CI content
def run_scripts(job: dict) -> list[str]:
    return [s["run"] for s in steps(job) if "run" in s]


def test_lint_job_covers_every_linter(project):
    scripts = "\n".join(run_scripts(project.workflow("ci.yml")["jobs"]["lint"]))
    assert "hadolint" in scripts and "shellcheck" in scripts
    assert ("ruff check" in scripts) == ("api" in project.services)
    assert "docker compose config -q" in scripts and "compose-dev.yml" in scripts
    # the server's configuration as deploy/vps/deploy.sh runs it: .env.prod.example is its .env
    assert ("--env-file .env.prod.example config -q" in scripts) == ("vps" in project.targets)
    assert ".env.prod " not in scripts and "> .env.prod" not in scripts, "a file nothing reads"
    tools = next(
        s for s in steps(project.workflow("ci.yml")["jobs"]["lint"]) if "setup-tools" in s.get("uses", "")
    )
    assert set(tools["with"]["tools"].split()) == {"hadolint", "shellcheck"} | (
        {"uv"} if "api" in project.services else set()
    )


def test_api_tests_use_real_services_with_generated_passwords(project):
    jobs = project.workflow("ci.yml")["jobs"]
    if "api" not in project.services:
        assert "test-api" not in jobs
        return
    job = jobs["test-api"]
    scripts = "\n".join(run_scripts(job))
    assert "uv run --frozen pytest" in scripts
    serve = next(s for s in steps(job) if s.get("name") == "Serve the api against the real services")
    assert "/readyz" in serve["run"], "the api must report the real services ready"
    assert 'body["status"] != "ready"' in serve["run"], "a degraded cache answers 200: check the status"
    if "db" in project.services:
        password = job["services"]["db"]["env"]["POSTGRES_PASSWORD"]
        assert password == "${{ needs.db-password.outputs.password }}"
        assert serve["env"]["DATABASE_PASSWORD"] == password and serve["env"]["DATABASE_HOST"] == "127.0.0.1"
        assert any("openssl rand" in s for s in run_scripts(jobs["db-password"]))
        assert "/items" in serve["run"]
    else:
        assert "db-password" not in jobs and "DATABASE_HOST" not in serve["env"]
    assert ("python -m app.migrate" in scripts) == ("db" in project.services)
    if "cache" in project.services:
        assert "openssl rand" in scripts and "requirepass" in scripts and "::add-mask::" in scripts
        assert serve["env"]["REDIS_PASSWORD_FILE"] == "${{ runner.temp }}/redis_password"
        assert '>> "$GITHUB_ENV"' not in scripts, "the password stays out of the job-wide environment"
    else:
        assert "REDIS_HOST" not in serve["env"]
    envs = [
        job.get("env", {}),
        *(s.get("env", {}) for s in steps(job)),
        *(svc.get("env", {}) for svc in job.get("services", {}).values()),
    ]
    for env in envs:
        for key, value in env.items():
            if key.endswith("PASSWORD"):
                assert str(value).startswith("${{"), f"a literal password in {key}"


def test_frontend_tests(project):
    jobs = project.workflow("ci.yml")["jobs"]
    assert ("test-frontend" in jobs) == ("frontend" in project.services)
    if "test-frontend" in jobs:
        scripts = run_scripts(jobs["test-frontend"])
        assert scripts[0].startswith("npm ci") and "npm test" in scripts and "npm run build" in scripts


def test_e2e_runs_playwright_against_the_composed_stack(project):
    """frontend/e2e in Playwright's Chromium against `docker compose up` of this commit; the
    report and traces are uploaded when it fails; nothing is published unless it passed."""
    jobs = project.workflow("ci.yml")["jobs"]
    assert ("e2e" in jobs) == ("frontend" in project.services)
    if "e2e" not in jobs:
        return
    scripts = run_scripts(jobs["e2e"])
    order = [
        next(i for i, script in enumerate(scripts) if needle in script)
        for needle in (
            "docker compose up --build -d --wait",
            "npm ci",
            "npx playwright install --with-deps chromium",
            "npx playwright test",
        )
    ]
    assert order == sorted(order), scripts
    hosts = [script for script in scripts if "/etc/hosts" in script]
    assert bool(hosts) == project.render.context["needs_hosts_file"]
    upload = [s for s in steps(jobs["e2e"]) if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert len(upload) == 1 and upload[0]["if"] == "failure()"
    assert upload[0]["with"]["path"].split() == ["frontend/playwright-report", "frontend/test-results"]
    if "publish" in jobs:
        assert "e2e" in jobs["publish"]["needs"]


def trivy_steps(project: Project) -> list[tuple[str, str | None, str]]:
    return [
        (name, job_id, s["run"])
        for name, job_id, s in all_steps(project)
        if "run" in s and TRIVY_SCAN.search(s["run"])
    ]


def test_trivy_scans_use_the_pinned_release(project):
    for name, job_id, _script in trivy_steps(project):
        job = project.workflow(name)["jobs"][job_id]
        installs = [s for s in steps(job) if s.get("uses") == "$/.github/actions/setup-tools"]
        assert any("trivy" in s["with"]["tools"].split() for s in installs), f"{name}/{job_id}"
    text = "\n".join(p.read_text() for p in project.files())
    assert "aquasecurity/trivy-action" not in text and "aquasecurity/setup-trivy" not in text


def test_trivy_scans_fail_on_high_and_critical(project):
    scans = trivy_steps(project)
    assert scans
    for name, job_id, script in scans:
        assert "--exit-code 1" in script, f"{name}/{job_id}: {script}"
        assert "--severity HIGH,CRITICAL" in script, f"{name}/{job_id}: {script}"
    ci = project.workflow("ci.yml")["jobs"]
    fs = [s for n, j, s in scans if j == "trivy-fs"]
    assert len(fs) == 1 and "trivy fs" in fs[0] and "--scanners vuln,secret,misconfig" in fs[0]
    images = expected_images(project)
    if images:
        assert [s for n, j, s in scans if j == "build" and "trivy image" in s]
        assert [m["name"] for m in ci["build"]["strategy"]["matrix"]["include"]] == list(images)
    else:
        assert "build" not in ci and "publish" not in ci


def test_sarif_goes_to_code_scanning(project):
    ci = project.workflow("ci.yml")["jobs"]
    for job_id in ("trivy-fs", "build"):
        if job_id not in ci:
            continue
        uploads = [
            s for s in steps(ci[job_id]) if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")
        ]
        assert len(uploads) == 1 and "!cancelled()" in uploads[0]["if"], job_id
        assert ci[job_id]["permissions"]["security-events"] == "write"


def test_builds_use_buildkit_and_the_actions_cache(project):
    ci = project.workflow("ci.yml")["jobs"]
    for job_id in ("build", "publish"):
        if job_id not in ci:
            continue
        uses = [s.get("uses", "") for s in steps(ci[job_id])]
        assert any(u.startswith("docker/setup-buildx-action@") for u in uses)
        build = next(
            s for s in steps(ci[job_id]) if s.get("uses", "").startswith("docker/build-push-action@")
        )
        assert build["with"]["cache-from"].startswith("type=gha")


def test_publish_is_immutable_multi_arch_and_attested(project):
    ci = project.workflow("ci.yml")["jobs"]
    images = expected_images(project)
    if not images:
        return
    job = ci["publish"]
    assert job["if"] == "github.event_name == 'push'"
    assert set(job["needs"]) >= {"lint", "trivy-fs", "build"}
    assert [m["name"] for m in job["strategy"]["matrix"]["include"]] == list(images)
    # the repository: where CI pushes (lowercased: GitHub keeps the owner's capitals), per image
    repository = next(s for s in steps(job) if s.get("id") == "image")
    assert repository["env"] == {"PREFIX": ci_prefix(project), "NAME": "${{ matrix.name }}"}
    assert repository["run"] == 'echo "repository=${PREFIX,,}/${NAME}" >> "$GITHUB_OUTPUT"'
    meta = next(s for s in steps(job) if s.get("uses", "").startswith("docker/metadata-action@"))
    assert meta["with"]["flavor"] == "latest=false"
    tags = meta["with"]["tags"].split()
    assert tags == ["type=sha,format=long,prefix=", r"type=match,pattern=^v(\d+\.\d+\.\d+)$,group=1"]
    build = next(s for s in steps(job) if s.get("uses", "").startswith("docker/build-push-action@"))
    w = build["with"]
    assert w["push"] is True and w["sbom"] is True and w["provenance"] == "mode=max"
    assert w["platforms"] == "linux/amd64,linux/arm64"
    assert any(s.get("uses", "").startswith("docker/setup-qemu-action@") for s in steps(job))
    login = next(s for s in steps(job) if s.get("uses", "").startswith("docker/login-action@"))
    assert login["with"]["registry"] == project.answers["registry"].split("/")[0]
    password, scopes = registry_login(project)
    assert login["with"]["password"] == password
    google_auth = any(s.get("uses", "").startswith("google-github-actions/auth@") for s in steps(job))
    assert google_auth == ("id-token" in scopes), "Workload Identity exactly when Artifact Registry"
    assert meta["with"]["images"] == "${{ steps.image.outputs.repository }}"


def test_publish_signs_and_attests_each_pushed_digest(project):
    """cosign keyless signature of the digest build-push-action pushed (what every deploy
    verifies), then GitHub's build provenance attestation of the same digest; cosign comes
    from the pinned, checksum-verified install."""
    job = project.workflow("ci.yml")["jobs"].get("publish")
    if not expected_images(project):
        assert job is None
        return
    names = [s.get("name") or s.get("uses", "") for s in steps(job)]
    push = names.index("Build and push (linux/amd64, linux/arm64; SBOM and provenance)")
    assert steps(job)[push]["id"] == "push"
    digest = "${{ steps.push.outputs.digest }}"
    sign = next(s for s in steps(job) if "cosign sign" in s.get("run", ""))
    assert sign["run"] == 'cosign sign --yes "$IMAGE"'
    assert sign["env"] == {"IMAGE": "${{ steps.image.outputs.repository }}@" + digest}, "by digest"
    install = next(
        i for i, s in enumerate(steps(job)) if "cosign" in (s.get("with") or {}).get("tools", "").split()
    )
    attest = next(s for s in steps(job) if s.get("uses", "").startswith("actions/attest@"))
    assert push < install < names.index(sign["name"]) < steps(job).index(attest)
    assert attest["with"] == {
        "subject-name": "${{ steps.image.outputs.repository }}",
        "subject-digest": digest,
        "push-to-registry": True,
    }
    # public repositories on every plan; private ones need GitHub Enterprise Cloud (opt-in)
    assert attest["if"] == (
        "github.event.repository.visibility == 'public' || vars.ARTIFACT_ATTESTATIONS == 'true'"
    )
    perms = job["permissions"]
    assert perms["id-token"] == perms["attestations"] == perms["artifact-metadata"] == "write"
    # the OIDC token that signs is the publish job's alone (deploys use theirs for Google Cloud)
    for job_id, other in project.workflow("ci.yml")["jobs"].items():
        if job_id != "publish" and not job_id.startswith("deploy-"):
            assert "id-token" not in (other.get("permissions") or {}), job_id


# ------------------------------------------------------------------ deploys
def test_ci_calls_each_deploy_on_version_tags(project):
    ci = project.workflow("ci.yml")["jobs"]
    callers = {job_id: job for job_id, job in ci.items() if job_id.startswith("deploy-")}
    assert set(callers) == {f"deploy-{t}" for t in project.targets}
    for job_id, job in callers.items():
        assert job["if"] == "startsWith(github.ref, 'refs/tags/v')"
        assert job["needs"] == ("publish" if expected_images(project) else ["lint", "trivy-fs"])
        callee_path = project.root / job["uses"].removeprefix("$/")
        assert job["uses"] == f"$/.github/workflows/{job_id}.yml" and callee_path.exists()
        call = on_(yaml.safe_load(callee_path.read_text()))["workflow_call"]
        inputs, secrets = call.get("inputs", {}), call.get("secrets") or {}
        assert set(job.get("with", {})) <= set(inputs)
        assert {k for k, v in inputs.items() if v.get("required")} <= set(job.get("with", {}))
        assert set(job.get("secrets", {})) <= set(secrets)
        # a called workflow's job gets no more than its caller grants: the same scopes
        (callee,) = yaml.safe_load(callee_path.read_text())["jobs"].values()
        assert job["permissions"] == callee.get("permissions", {"contents": "read"}), job_id


def deploy_job(project: Project, target: str) -> dict:
    wf = project.workflow(f"deploy-{target}.yml")
    assert set(on_(wf)) == {"workflow_call", "workflow_dispatch"}
    assert on_(wf)["workflow_dispatch"]["inputs"]["tag"]["required"] is True
    job: dict[str, Any]
    (job,) = wf["jobs"].values()
    assert job["environment"]["name"] == "production"
    assert job["concurrency"] == {"group": f"deploy-production-{target}", "cancel-in-progress": False}
    assert any('"$TAG" =~ ^[A-Za-z0-9_]' in s for s in run_scripts(job)), "the tag is validated"
    return job


def test_deploy_vps_pins_the_host_key(project):
    if "vps" not in project.targets:
        return
    job = deploy_job(project, "vps")
    scripts = "\n".join(run_scripts(job))
    assert "StrictHostKeyChecking yes" in scripts and "known_hosts" in scripts
    assert "StrictHostKeyChecking no" not in scripts and "ssh-keyscan" not in scripts
    ssh_setup = next(s for s in steps(job) if "KNOWN_HOSTS" in s.get("env", {}))
    assert ssh_setup["env"] == {
        "SSH_KEY": "${{ secrets.VPS_SSH_KEY }}",
        "KNOWN_HOSTS": "${{ vars.VPS_KNOWN_HOSTS }}",
    }
    assert 'deploy/vps/deploy.sh" "$TAG"' in scripts
    deploy = next(s for s in steps(job) if "deploy/vps/deploy.sh" in s.get("run", ""))
    for image in project.render.context["project_images"]:
        for variable in (image["image_variable"], image["digest_variable"]):
            assert f'{variable}="${variable}"' in deploy["run"], "passed over ssh to deploy.sh"


def test_deploy_google_targets_use_workload_identity(project):
    for target, command in (("cloudrun", 'cloudrun/deploy.sh "$TAG"'), ("gke", "kubectl apply -k")):
        if target not in project.targets:
            continue
        job = deploy_job(project, target)
        packages = {"packages": "read"} if registry_login(project)[1] == {"packages"} else {}
        assert job["permissions"] == {"contents": "read", "id-token": "write", **packages}
        assert any(s.get("uses", "").startswith("google-github-actions/auth@") for s in steps(job))
        scripts = "\n".join(run_scripts(job))
        assert command in scripts
        if target == "gke":
            assert "kubernetes/overlays/$OVERLAY" in scripts
            for name, image in expected_images(project).items():
                variable = name.upper()
                assert f'kustomize edit set image "{image}=${variable}_IMAGE@${variable}_DIGEST"' in scripts


def test_deploy_private_runs_on_the_self_hosted_runner(project):
    if "private" not in project.targets:
        return
    job = deploy_job(project, "private")
    label = f"{project.answers['project_slug']}-private"
    assert job["runs-on"] == ["self-hosted", label]
    config = yaml.safe_load((project.github / "actionlint.yaml").read_text())
    assert config["self-hosted-runner"]["labels"] == [label]
    scripts = "\n".join(run_scripts(job))
    assert "kubectl apply -k kubernetes/overlays/private" in scripts
    private = project.answers["private_registry"]
    for name, image in expected_images(project).items():
        digest = f"${name.upper()}_DIGEST"
        assert f'kustomize edit set image "{image}={private}/{name}@{digest}"' in scripts
        # the verified digest is what is copied (same bytes, same digest, in the private registry)
        assert f'--tag "{private}/{name}:${{TAG}}" "${name.upper()}_IMAGE@{digest}"' in scripts
    overlay = yaml.safe_load((project.root / "kubernetes/overlays/private/kustomization.yaml").read_text())
    renamed = {i["name"]: i["newName"] for i in overlay.get("images") or [] if "newName" in i}
    for name, new_name in renamed.items():
        # every image the overlay renames is copied into the private registry by the workflow
        assert f'--tag "{new_name}:' in scripts, name


# ------------------------------------------------------------------ template update
def test_template_update_refuses_conflicts_and_opens_a_pull_request(project):
    wf = project.workflow("template-update.yml")
    assert set(on_(wf)) == {"schedule", "workflow_dispatch"}
    (job,) = wf["jobs"].values()
    scripts = "\n".join(run_scripts(job))
    assert re.search(r"copier==\d+\.\d+\.\d+ ", scripts), "copier is pinned"
    assert re.search(r"copier-template-extensions==\d+\.\d+\.\d+ ", scripts)
    assert "copier update --trust --defaults --conflict rej" in scripts
    assert "*.rej" in scripts and "<<<<<<<" in scripts
    uses = [s.get("uses", "") for s in steps(job)]
    assert uses[-1].startswith("peter-evans/create-pull-request@")
    # `copier check-update` (Copier >= 9.13) decides; nothing after it runs when not behind
    copier = re.findall(r"copier==(\d+)\.(\d+)\.\d+ ", scripts)
    assert copier and all((int(major), int(minor)) >= (9, 13) for major, minor in copier)
    names = [s.get("id") for s in steps(job)]
    check = steps(job)[names.index("check")]
    assert "copier check-update --output-format json" in check["run"]
    assert "update_available" in check["run"] and "available=" in check["run"]
    for step in steps(job)[names.index("check") + 1 :]:
        assert step.get("if") == "steps.check.outputs.available == 'true'", step.get("name")


# ------------------------------------------------------------------ cross-part consistency
def test_files_the_workflows_use_exist(project):
    root = project.root
    needed = [".env.example", "scripts/generate_secrets.py"]
    if "api" in project.services:
        needed += ["Dockerfile", "api/pyproject.toml", "api/uv.lock"]
    if "frontend" in project.services:
        needed += ["frontend/Dockerfile", "frontend/package.json", "frontend/package-lock.json"]
    if "vps" in project.targets:
        needed += ["compose.prod.yml", "deploy/vps/deploy.sh"]
    if "gke" in project.targets:
        needed += [
            "kubernetes/overlays/gke/kustomization.yaml",
            "kubernetes/overlays/gke-managed/kustomization.yaml",
        ]
    if "private" in project.targets:
        needed += ["kubernetes/overlays/private/kustomization.yaml"]
    missing = [p for p in needed if not (root / p).is_file()]
    assert not missing, f"the workflows use files that were not generated: {missing}"
    if "cloudrun" in project.targets:
        script = root / "cloudrun/deploy.sh"
        assert script.is_file() and script.stat().st_mode & 0o111, (
            "deploy-cloudrun.yml runs cloudrun/deploy.sh"
        )
        assert "run services replace" in script.read_text()
        text = "\n".join(p.read_text() for p in (root / "cloudrun").glob("*.yaml"))
        for image in expected_images(project).values():
            assert re.search(rf"image:\s*['\"]?{re.escape(image)}:", text), image
    if "frontend" in project.services:
        scripts = json.loads((root / "frontend/package.json").read_text())["scripts"]
        assert {"lint", "test", "build"} <= set(scripts)
    if "api" in project.services:
        dev = (root / "api/pyproject.toml").read_text()
        assert re.search(r'"ruff[>=<~ ]', dev) and re.search(r'"pytest[>=<~ ]', dev)
