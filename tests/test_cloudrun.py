"""Promise: the Cloud Run target generates Knative service YAML (and a migration job) that
gcloud accepts, whose containers pass the strict Kubernetes container schema, with Cloud SQL /
Memorystore wiring, pinned secret versions, and a deploy script whose every gcloud command parses."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys
import textwrap
from typing import Any

import kubernetes_validate
import pytest
import yaml

from dwsupport import matrix
from dwsupport.k8s import K8S_VERSIONS, cloudrun_containers, cloudrun_manifests
from dwsupport.matrix import Combo
from dwsupport.tools import run, tool

AUTH_ERROR = "You do not currently have an active account selected"

# A stand-in `gcloud` on PATH: runs the real gcloud (offline, empty config dir, so every call
# ends in an auth error *after* argument parsing and, for `replace`, after parsing the YAML into
# Cloud Run's API messages), records whether parsing passed, and answers with plausible output
# so that the deploy script carries on to its next command. A call whose arguments contain
# GCLOUD_FAIL (when set) fails like a cloud-side failure would: exit 1 after parsing.
SHIM = textwrap.dedent("""\
    #!{python}
    import json, os, subprocess, sys
    args = sys.argv[1:]
    proc = subprocess.run([os.environ["REAL_GCLOUD"], *args], capture_output=True, text=True)
    ok = proc.returncode == 0 or {auth!r} in proc.stderr
    with open(os.environ["GCLOUD_LOG"], "a") as log:
        log.write(json.dumps({{"args": args, "ok": ok, "stderr": proc.stderr[-3000:]}}) + "\\n")
    if not ok:
        sys.stderr.write(proc.stderr)
        sys.exit(2)
    if os.environ.get("GCLOUD_FAIL") and os.environ["GCLOUD_FAIL"] in " ".join(args):
        sys.stderr.write("ERROR: the execution failed (GCLOUD_FAIL)\\n")
        sys.exit(1)
    if "list" in args:
        print("rev-00002\\nrev-00001")
    elif "value(host)" in args:
        print("10.0.0.3")
    elif "describe" in args:
        print("https://service.a.run.app")
    """)


@pytest.fixture(scope="module")
def gcloud_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    real = shutil.which("gcloud")
    if not real:
        pytest.fail("gcloud is not installed (CI's machine has it; see .ci/run)")
    folder = tmp_path_factory.mktemp("gcloud")
    shim = folder / "bin" / "gcloud"
    shim.parent.mkdir()
    shim.write_text(SHIM.format(python=sys.executable, auth=AUTH_ERROR))
    shim.chmod(0o755)
    return {
        "REAL_GCLOUD": real,
        "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}",
        "CLOUDSDK_CONFIG": str(folder / "config"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
    }


def gcloud_calls(log: pathlib.Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# ------------------------------------------------------------------ files
@pytest.mark.parametrize("combo", matrix.CLOUDRUN, ids=str)
def test_files_follow_the_services(renders, combo):
    project = renders.of(combo).root
    names = set(cloudrun_manifests(project))
    expected = {"service-api.yaml"} if combo.has("api") else set()
    expected |= {"service-frontend.yaml"} if combo.has("frontend") else set()
    expected |= {"job-migrate.yaml"} if combo.has("api") and combo.has("db") else set()
    assert names == expected
    assert os.access(project / "cloudrun" / "deploy.sh", os.X_OK)
    assert (project / "docs" / "deploy-cloudrun.md").exists()


def test_no_cloudrun_folder_without_the_target(renders):
    assert not (renders.of(Combo(("api", "db"), ("vps", "gke"))).root / "cloudrun").exists()


# ------------------------------------------------------------------ manifests
@pytest.mark.parametrize("combo", matrix.CLOUDRUN, ids=str)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_containers_pass_the_strict_kubernetes_schema(renders, combo, version):
    project = renders.of(combo).root
    for _name, doc in cloudrun_manifests(project).items():
        for container in cloudrun_containers(doc):
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "cloudrun"},
                "spec": {"containers": [container]},
            }
            kubernetes_validate.validate(pod, version, strict=True)


@pytest.mark.parametrize("combo", matrix.CLOUDRUN, ids=str)
def test_services_are_wired_for_cloud_run(renders, combo):
    render = renders.of(combo)
    project, answers = render.root, render.answers
    slug, gcp, region = answers["project_slug"], answers["gcp_project"], answers["gcp_region"]
    ports = {"api": 8000, "frontend": 8080}
    for name, doc in cloudrun_manifests(project).items():
        assert doc["metadata"]["labels"]["cloud.googleapis.com/location"] == region
        template = doc["spec"]["template"]
        pod = template["spec"]["template"]["spec"] if doc["kind"] == "Job" else template["spec"]
        account = pod["serviceAccountName"]
        local, _, domain = account.partition("@")
        assert domain == f"{gcp}.iam.gserviceaccount.com" and 6 <= len(local) <= 30, account
        (container,) = cloudrun_containers(doc)
        image = container["image"]
        assert image.startswith(answers["registry"] + "/") and "gcr.io" not in image
        assert image.endswith(":IMAGE_TAG"), "deploy.sh sets the tag"
        env = {e["name"]: e for e in container.get("env", [])}
        annotations = template["metadata"].get("annotations", {})
        if doc["kind"] == "Service":
            assert doc["apiVersion"] == "serving.knative.dev/v1"
            assert len(doc["metadata"]["name"]) <= 49
            service = doc["metadata"]["name"].removeprefix(f"{slug}-")
            port = ports[service]
            assert container["ports"] == [{"name": "http1", "containerPort": port}]
            for probe in ("startupProbe", "livenessProbe"):
                assert container[probe]["httpGet"] == {"path": "/healthz", "port": port}
            assert container["resources"]["limits"]["memory"]
            scaling = {"autoscaling.knative.dev/minScale", "autoscaling.knative.dev/maxScale"}
            assert scaling <= set(annotations)
            assert pod["containerConcurrency"] > 0
        else:
            assert doc["apiVersion"] == "run.googleapis.com/v1"
            assert container["command"] == ["python", "-m", "app.migrate"]
        if "DATABASE_HOST" in env or doc["kind"] == "Job":
            connection = f"{gcp}:{region}:{slug}-db"
            assert annotations["run.googleapis.com/cloudsql-instances"] == connection
            assert env["DATABASE_HOST"]["value"] == f"/cloudsql/{connection}"
        if name == "service-api.yaml":
            assert ("DATABASE_HOST" in env) == combo.has("db")
            assert ("REDIS_HOST" in env) == combo.has("cache")
            assert ("run.googleapis.com/vpc-access-connector" in annotations) == combo.has("cache")
        for var in env.values():
            assert "value" in var or "valueFrom" in var
            assert "PASSWORD" not in var["name"] or "valueFrom" in var, var
            if "valueFrom" in var:
                ref = var["valueFrom"]["secretKeyRef"]
                assert ref["key"].isdigit(), f"{var['name']}: pin a Secret Manager version, not {ref['key']}"


# ------------------------------------------------------------------ deploy script
@pytest.mark.parametrize("combo", matrix.CLOUDRUN_SCRIPT, ids=str)
@pytest.mark.parametrize("mode", ["replace", "--rollback"])
def test_every_gcloud_command_parses(renders, tmp_path, gcloud_env, combo, mode):
    project = renders.of(combo).copy_to(tmp_path / "p")
    web = len({"api", "frontend"} & set(combo.services))
    script = project / "cloudrun" / "deploy.sh"
    log = tmp_path / "gcloud.log"
    args = ["--rollback"] if mode == "--rollback" else ["3f2c1ab"]
    proc = run(["bash", str(script), *args], env={**gcloud_env, "GCLOUD_LOG": str(log)}, check=False)
    calls = gcloud_calls(log)
    bad = [c for c in calls if not c["ok"]]
    assert not bad, "\n".join(" ".join(c["args"]) + "\n" + c["stderr"] for c in bad)
    assert proc.returncode == 0, proc.stderr
    commands = [" ".join(a for a in c["args"][3:] if not a.startswith("-"))[:40] for c in calls]
    joined = "\n".join(commands)
    if mode == "replace":
        assert joined.count("run services replace") == web
        if combo.has("api") and combo.has("db"):
            assert "run jobs replace" in joined and "run jobs execute" in joined
    else:
        assert joined.count("run services update-traffic") == web


def test_a_failing_migration_job_stops_the_deploy(renders, tmp_path, gcloud_env):
    """The migration job runs with --wait (gcloud exits non-zero when the execution fails) and
    no retries; deploy.sh (`set -e`) then stops before the api gets a new revision."""
    project = renders.of(Combo(matrix.DEFAULT_SERVICES, ("cloudrun",))).copy_to(tmp_path / "p")
    job = cloudrun_manifests(project)["job-migrate.yaml"]["spec"]["template"]["spec"]["template"]["spec"]
    assert job["maxRetries"] == 0
    log = tmp_path / "gcloud.log"
    env = {**gcloud_env, "GCLOUD_LOG": str(log), "GCLOUD_FAIL": "run jobs execute"}
    proc = run(["bash", str(project / "cloudrun" / "deploy.sh"), "3f2c1ab"], env=env, check=False)
    assert proc.returncode != 0, "deploy.sh went on after the migration job failed"
    calls = [c["args"] for c in gcloud_calls(log)]
    executed = [i for i, a in enumerate(calls) if a[3:6] == ["run", "jobs", "execute"]]
    assert len(executed) == 1, calls
    assert "--wait" in calls[executed[0]], "without --wait gcloud returns before the job ends"
    after = calls[executed[0] + 1 :]
    assert not after, f"gcloud called after the failed migration: {after}"


def test_gcloud_check_rejects_a_bad_manifest(renders, tmp_path, gcloud_env):
    """The check is real: gcloud parses the YAML into Cloud Run's messages before auth."""
    project = renders.of(Combo(("api",), ("cloudrun",))).copy_to(tmp_path / "p")
    path = project / "cloudrun" / "service-api.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["template"]["spec"]["containers"][0]["startupProbe"]["httpGett"] = {}
    path.write_text(yaml.safe_dump(doc))
    log = tmp_path / "gcloud.log"
    proc = run(
        ["bash", str(project / "cloudrun" / "deploy.sh"), "3f2c1ab"],
        env={**gcloud_env, "GCLOUD_LOG": str(log)},
        check=False,
    )
    assert proc.returncode != 0
    (bad,) = [c for c in gcloud_calls(log) if not c["ok"]]
    assert "httpGett" in bad["stderr"]


@pytest.mark.parametrize("args", [["latest"], [""], ["a b"], ["-x"], ["3f2c1ab", "--flags"]], ids=repr)
def test_deploy_script_refuses_unpinned_tags(renders, tmp_path, gcloud_env, args):
    """Refused before any gcloud call: an unpinned tag, or a second argument (the YAML in
    cloudrun/ is the one description of the services; no flag-by-flag variant restates it)."""
    project = renders.of(Combo(("api",), ("cloudrun",))).root
    log = tmp_path / "gcloud.log"
    proc = run(
        ["bash", str(project / "cloudrun" / "deploy.sh"), *args],
        env={**gcloud_env, "GCLOUD_LOG": str(log)},
        check=False,
    )
    assert proc.returncode != 0 and not gcloud_calls(log)


@pytest.mark.parametrize("combo", matrix.CLOUDRUN, ids=str)
def test_script_is_shellcheck_clean(renders, combo):
    script = renders.of(combo).root / "cloudrun" / "deploy.sh"
    run(["bash", "-n", str(script)])
    run([tool("shellcheck"), str(script)])
