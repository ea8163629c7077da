"""Promise: the Cloud Run target generates Knative service YAML (and a migration job) that
gcloud accepts, whose containers pass the strict Kubernetes container schema, with Cloud SQL /
Memorystore wiring (Direct VPC egress, no connector), a startup probe that waits for the
database, pinned secret versions, and a deploy script whose every gcloud command parses and that
deploys by digest when the deploy workflow gives one."""

from __future__ import annotations

import json
import os
import pathlib
import re

import kubernetes_validate
import pytest
import yaml

from dwsupport import matrix
from dwsupport.gcloud import calls, shim_env
from dwsupport.k8s import K8S_VERSIONS, cloudrun_containers, cloudrun_manifests
from dwsupport.matrix import Combo
from dwsupport.tools import run, tool

DIGEST = "sha256:" + "ab" * 32
CONNECTOR = ("run.googleapis.com/vpc-access-connector", "--vpc-connector", "vpc-access")


@pytest.fixture
def gcloud(tmp_path: pathlib.Path) -> tuple[dict[str, str], pathlib.Path]:
    """The stand-in gcloud's environment, and its log (dwsupport/gcloud.py)."""
    log = tmp_path / "gcloud.log"
    return shim_env(tmp_path / "gcloud", log), log


def gcloud_calls(log: pathlib.Path) -> list[dict]:
    return calls(log)


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
    project, answers, context = render.root, render.answers, render.context
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
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
            assert pod["timeoutSeconds"] == context["request_timeouts"][service]
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
        for var in env.values():
            assert "value" in var or "valueFrom" in var
            assert "PASSWORD" not in var["name"] or "valueFrom" in var, var
            if "valueFrom" in var:
                ref = var["valueFrom"]["secretKeyRef"]
                assert ref["key"].isdigit(), f"{var['name']}: pin a Secret Manager version, not {ref['key']}"


@pytest.mark.parametrize("combo", matrix.CLOUDRUN, ids=str)
def test_direct_vpc_egress_and_no_connector(renders, combo):
    """Memorystore's private IP is reached by Direct VPC egress (a network interface in the
    subnet the answers name, private ranges only); Cloud SQL by its own socket. No Serverless
    VPC Access connector is configured anywhere."""
    render = renders.of(combo)
    answers = render.answers
    for name, doc in cloudrun_manifests(render.root).items():
        annotations = doc["spec"]["template"]["metadata"].get("annotations", {})
        assert not [key for key in annotations if key in CONNECTOR], name
        interfaces = annotations.get("run.googleapis.com/network-interfaces")
        if name == "service-api.yaml" and combo.has("cache"):
            assert json.loads(interfaces) == [
                {"network": answers["gcp_network"], "subnetwork": answers["gcp_subnet"]}
            ]
            assert annotations["run.googleapis.com/vpc-access-egress"] == "private-ranges-only"
        else:
            # the frontend and the migration job reach nothing private; the api without a cache
            # only Cloud SQL, through /cloudsql
            assert interfaces is None and "run.googleapis.com/vpc-access-egress" not in annotations, name


@pytest.mark.parametrize("combo", matrix.CLOUDRUN, ids=str)
def test_startup_probes(renders, combo):
    """The api takes traffic once /readyz answers (the database is reachable: Google notes
    connection delays at start with Direct VPC egress), within Cloud Run's 240 s window."""
    for name, doc in cloudrun_manifests(renders.of(combo).root).items():
        if doc["kind"] != "Service":
            continue
        (container,) = cloudrun_containers(doc)
        probe = container["startupProbe"]
        path = "/readyz" if name == "service-api.yaml" else "/healthz"
        assert probe["httpGet"]["path"] == path
        window = probe["periodSeconds"] * probe["failureThreshold"]
        assert 60 <= window <= 240 if path == "/readyz" else window <= 240, (name, window)
        assert probe["timeoutSeconds"] <= probe["periodSeconds"]


@pytest.mark.parametrize("combo", matrix.CLOUDRUN, ids=str)
def test_metrics_and_docs_stay_private(renders, combo):
    """Every path of a public Cloud Run service is reachable: the api runs without /metrics and
    /docs (METRICS_ENABLED=false, APP_ENV=production)."""
    docs = cloudrun_manifests(renders.of(combo).root)
    if "service-api.yaml" not in docs:
        return
    (container,) = cloudrun_containers(docs["service-api.yaml"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["METRICS_ENABLED"] == "false" and env["APP_ENV"] == "production"


# ------------------------------------------------------------------ deploy script
def deploy(project: pathlib.Path, gcloud: tuple[dict[str, str], pathlib.Path], *args: str, **env: str):
    """Run cloudrun/deploy.sh with the stand-in gcloud; (the process, the gcloud calls)."""
    shim, log = gcloud
    proc = run(["bash", str(project / "cloudrun" / "deploy.sh"), *args], env={**shim, **env}, check=False)
    return proc, gcloud_calls(log)


@pytest.mark.parametrize("combo", matrix.CLOUDRUN_SCRIPT, ids=str)
@pytest.mark.parametrize("mode", ["replace", "--rollback"])
def test_every_gcloud_command_parses(renders, tmp_path, gcloud, combo, mode):
    project = renders.of(combo).copy_to(tmp_path / "p")
    web = len({"api", "frontend"} & set(combo.services))
    args = ["--rollback"] if mode == "--rollback" else ["1.4.0"]
    proc, made = deploy(project, gcloud, *args)
    bad = [c for c in made if not c["ok"]]
    assert not bad, "\n".join(" ".join(c["args"]) + "\n" + c["stderr"] for c in bad)
    assert proc.returncode == 0, proc.stderr
    for call in made:
        assert not [a for a in call["args"] if any(word in a for word in CONNECTOR)], call["args"]
    commands = [" ".join(a for a in c["args"][3:] if not a.startswith("-"))[:40] for c in made]
    joined = "\n".join(commands)
    if mode == "replace":
        assert joined.count("run services replace") == web
        if combo.has("api") and combo.has("db"):
            assert "run jobs replace" in joined and "run jobs execute" in joined
    else:
        assert joined.count("run services update-traffic") == web


def test_a_failing_migration_job_stops_the_deploy(renders, tmp_path, gcloud):
    """The migration job runs with --wait (gcloud exits non-zero when the execution fails) and
    no retries; deploy.sh (`set -e`) then stops before the api gets a new revision."""
    project = renders.of(Combo(matrix.DEFAULT_SERVICES, ("cloudrun",))).copy_to(tmp_path / "p")
    job = cloudrun_manifests(project)["job-migrate.yaml"]["spec"]["template"]["spec"]["template"]["spec"]
    assert job["maxRetries"] == 0
    proc, made = deploy(project, gcloud, "1.4.0", GCLOUD_FAIL="run jobs execute")
    assert proc.returncode != 0, "deploy.sh went on after the migration job failed"
    calls = [c["args"] for c in made]
    executed = [i for i, a in enumerate(calls) if a[3:6] == ["run", "jobs", "execute"]]
    assert len(executed) == 1, calls
    assert "--wait" in calls[executed[0]], "without --wait gcloud returns before the job ends"
    after = calls[executed[0] + 1 :]
    assert not after, f"gcloud called after the failed migration: {after}"


def deployed_images(made: list[dict]) -> dict[str, str]:
    """container name → image of every manifest `gcloud run ... replace` was given."""
    out = {}
    for call in made:
        for text in call["files"].values():
            for container in cloudrun_containers(yaml.safe_load(text)):
                out[container["name"]] = container["image"]
    return out


@pytest.mark.parametrize("combo", matrix.CLOUDRUN_SCRIPT, ids=str)
def test_deploys_by_digest_when_the_workflow_gives_one(renders, tmp_path, gcloud, combo):
    render = renders.of(combo)
    project = render.copy_to(tmp_path / "p")
    digests = {f"{i['name'].upper()}_DIGEST": DIGEST for i in render.context["project_images"]}
    proc, made = deploy(project, gcloud, "1.4.0", **digests)
    assert proc.returncode == 0, proc.stderr
    images = deployed_images(made)
    repos = {"api": render.context["api_image"], "migrate": render.context["api_image"]}
    repos["frontend"] = render.context["frontend_image"]
    assert images and all(image == f"{repos[name]}@{DIGEST}" for name, image in images.items()), images
    # without digests: the tag
    (gcloud[1]).unlink()
    proc, made = deploy(project, gcloud, "1.4.0")
    assert all(image == f"{repos[name]}:1.4.0" for name, image in deployed_images(made).items())


@pytest.mark.parametrize("digest", ["ab" * 32, "sha256:xyz", "sha256:" + "AB" * 32, "latest"])
def test_deploy_script_refuses_a_bad_digest(renders, gcloud, digest):
    project = renders.of(Combo(("api",), ("cloudrun",))).root
    proc, made = deploy(project, gcloud, "1.4.0", API_DIGEST=digest)
    assert proc.returncode != 0 and not made
    assert "is not an image digest" in proc.stderr


def test_gcloud_check_rejects_a_bad_manifest(renders, tmp_path, gcloud):
    """The check is real: gcloud parses the YAML into Cloud Run's messages before auth."""
    project = renders.of(Combo(("api",), ("cloudrun",))).copy_to(tmp_path / "p")
    path = project / "cloudrun" / "service-api.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["template"]["spec"]["containers"][0]["startupProbe"]["httpGett"] = {}
    path.write_text(yaml.safe_dump(doc))
    proc, made = deploy(project, gcloud, "1.4.0")
    assert proc.returncode != 0
    (bad,) = [c for c in made if not c["ok"]]
    assert "httpGett" in bad["stderr"]


@pytest.mark.parametrize("args", [["latest"], [""], ["a b"], ["-x"], ["1.4.0", "--flags"]], ids=repr)
def test_deploy_script_refuses_unpinned_tags(renders, gcloud, args):
    """Refused before any gcloud call: an unpinned tag, or a second argument (the YAML in
    cloudrun/ is the one description of the services; no flag-by-flag variant restates it)."""
    project = renders.of(Combo(("api",), ("cloudrun",))).root
    proc, made = deploy(project, gcloud, *args)
    assert proc.returncode != 0 and not made


@pytest.mark.parametrize("combo", [Combo(("frontend",), ("cloudrun",)), *matrix.CLOUDRUN_SCRIPT], ids=str)
def test_usage_from_another_directory_names_only_what_exists(renders, tmp_path, gcloud, combo):
    """The usage text is read from the script itself (whatever the working directory), and names
    only this project's images: a frontend-only project has no api image, no database."""
    render = renders.of(combo)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = os.path.relpath(render.root / "cloudrun" / "deploy.sh", elsewhere)
    proc = run(["bash", script], cwd=elsewhere, env=gcloud[0], check=False)
    assert proc.returncode == 2 and "can't read" not in proc.stderr, proc.stderr
    assert "cloudrun/deploy.sh TAG" in proc.stderr and "--rollback" in proc.stderr
    names = {image["name"] for image in render.context["project_images"]}
    for image in ("api", "frontend"):
        assert (f"{image.upper()}_DIGEST" in proc.stderr) == (image in names), proc.stderr
    text = (render.root / "cloudrun" / "deploy.sh").read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert bool(re.search(r"\bapi\b", header, re.I)) == combo.has("api"), header
    assert ("Cloud SQL" in header) == combo.has("db") and ("Memorystore" in header) == combo.has("cache")


@pytest.mark.parametrize("combo", matrix.CLOUDRUN, ids=str)
def test_script_is_shellcheck_clean(renders, combo):
    script = renders.of(combo).root / "cloudrun" / "deploy.sh"
    run(["bash", "-n", str(script)])
    run([tool("shellcheck"), str(script)])
