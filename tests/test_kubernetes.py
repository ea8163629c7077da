"""Promise: the GKE and private-network targets generate kustomize overlays that build, pass the
Kubernetes schemas strictly (two versions), meet Pod Security "restricted", and wire the
namespace, probes, autoscaling, network policies, ingress and images as documented."""

from __future__ import annotations

import base64
import subprocess

import pytest
import yaml
from _deploy import (
    ALL,
    GKE_CRDS,
    K8S_VERSIONS,
    by_kind,
    combos,
    copy_project,
    image_tag,
    kustomize,
    overlays,
    pod_specs,
)
from conftest import derived, load_yaml_all, run, tool
from pod_security import violations

K8S_COMBOS = combos(("gke",), ("private",), ALL)


@pytest.fixture(scope="module")
def built(renders):
    """(services, targets) → {overlay: [manifests]} built with kubectl kustomize (cached)."""
    cache = {}

    def build(services, targets):
        key = (services, targets)
        if key not in cache:
            project = renders.combo(services, targets)
            cache[key] = (project, {o: kustomize(project, o) for o in overlays(targets)})
        return cache[key]

    return build


def context(project):
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return answers, derived(
        **{
            k: answers[k]
            for k in ("project_slug", "services", "deploy_targets", "domain", "registry")
            if k in answers
        }
    )


# ------------------------------------------------------------------ files
@pytest.mark.parametrize(
    "targets", [("vps",), ("cloudrun",), ("gke",), ("private",), ALL], ids=lambda t: "+".join(t)
)
def test_overlays_exist_only_for_their_targets(renders, targets):
    project = renders.combo(("api", "db", "cache", "frontend", "proxy"), targets)
    k8s = project / "kubernetes"
    if not {"gke", "private"} & set(targets):
        assert not k8s.exists()
        return
    present = sorted(p.name for p in (k8s / "overlays").iterdir())
    assert present == sorted(overlays(targets))
    assert (k8s / "components").exists() == ("gke" in targets)
    assert ((project / "deploy" / "private" / "internal-tls.sh").exists()) == ("private" in targets)


# ------------------------------------------------------------------ validators
@pytest.mark.parametrize(("services", "targets"), K8S_COMBOS)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_validate_strict(built, tmp_path, services, targets, version):
    _, built_overlays = built(services, targets)
    for overlay, docs in built_overlays.items():
        path = tmp_path / f"{overlay}.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        proc = run([tool("kubernetes-validate"), "--strict", "-k", version, str(path)], check=False)
        assert proc.returncode == 0, f"{overlay}:\n{proc.stdout}\n{proc.stderr}"
        # Only the GKE CRDs may lack a schema; everything else must have passed.
        for line in (proc.stdout + proc.stderr).splitlines():
            if line.startswith("WARN"):
                assert any(f"kind {kind} " in line for kind in GKE_CRDS), line
            else:
                assert "INFO" in line and "passed" in line, line


def test_kubernetes_validate_catches_an_unknown_field(built, tmp_path):
    """The validator really is strict (a typo in a container is an error)."""
    _, built_overlays = built(tuple(["api"]), ("private",))
    docs = built_overlays["private"]
    deployment = by_kind(docs, "Deployment")["api"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/"}}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    proc = run([tool("kubernetes-validate"), "--strict", "-k", "1.33", str(path)], check=False)
    assert proc.returncode != 0


@pytest.mark.parametrize(("services", "targets"), K8S_COMBOS)
def test_pod_security_restricted(built, services, targets):
    # the rules live in tests/pod_security.py, shared with the security gate (nox -s security)
    _, built_overlays = built(services, targets)
    for overlay, docs in built_overlays.items():
        problems = violations(docs)
        assert not problems, f"{overlay}:\n" + "\n".join(map(str, problems))


@pytest.mark.parametrize(("services", "targets"), K8S_COMBOS)
def test_namespace_hpa_pdb_and_service_accounts(built, services, targets):
    project, built_overlays = built(services, targets)
    answers, _ = context(project)
    for overlay, docs in built_overlays.items():
        namespaces = by_kind(docs, "Namespace")
        assert list(namespaces) == [answers["k8s_namespace"]], overlay
        labels = namespaces[answers["k8s_namespace"]]["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        for doc in docs:
            if doc["kind"] != "Namespace":
                assert doc["metadata"].get("namespace") == answers["k8s_namespace"], doc["metadata"]
        hpas, pdbs = by_kind(docs, "HorizontalPodAutoscaler"), by_kind(docs, "PodDisruptionBudget")
        for name in ("api", "frontend"):
            assert (name in hpas) == (name in services) == (name in pdbs), (overlay, name)
        accounts = by_kind(docs, "ServiceAccount")
        for _label, spec in pod_specs(docs):
            assert accounts[spec["serviceAccountName"]]["automountServiceAccountToken"] is False
        assert not by_kind(docs, "Secret"), "Secrets are created in the cluster, never built"


@pytest.mark.parametrize(("services", "targets"), K8S_COMBOS)
def test_a_failing_migration_keeps_the_new_api_out_of_service(built, services, targets):
    """The api pod's initContainer runs the migrations: Kubernetes starts the api container only
    after it exited 0 (`python -m app.migrate` exits 1 when a migration fails; the generated api's
    tests prove that), retries it with back-off, and the pod never becomes Ready. With
    maxUnavailable 0 the rollout then stalls while the previous pods keep serving."""
    _, built_overlays = built(services, targets)
    for overlay, docs in built_overlays.items():
        migrating = [
            (label, c)
            for label, spec in pod_specs(docs)
            for c in spec.get("initContainers", []) + spec["containers"]
            if "app.migrate" in c.get("command", []) + c.get("args", [])
        ]
        if not {"api", "db"} <= set(services):
            assert not migrating, (overlay, migrating)
            continue
        assert [(label, c["name"]) for label, c in migrating] == [("Deployment/api", "migrate")], overlay
        deployment = by_kind(docs, "Deployment")["api"]
        spec = deployment["spec"]["template"]["spec"]
        (init,) = spec["initContainers"]
        (api,) = spec["containers"]
        assert init["command"] == ["python", "-m", "app.migrate"], init["command"]
        # an init container with restartPolicy Always is a sidecar: the api would not wait for it
        assert "restartPolicy" not in init, init
        assert spec.get("restartPolicy", "Always") == "Always"
        assert init["image"] == api["image"], "migrations must come from the release being deployed"
        assert init["envFrom"] == api["envFrom"], "the same database settings as the api"
        assert {"name": "DATABASE_PASSWORD_FILE", "value": "/run/secrets/postgres_password"} in init["env"]
        assert deployment["spec"]["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        }
        assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize(("services", "targets"), K8S_COMBOS)
def test_network_policies(built, services, targets):
    _, built_overlays = built(services, targets)
    for overlay, docs in built_overlays.items():
        policies = by_kind(docs, "NetworkPolicy")
        deny = policies["default-deny-all"]["spec"]
        assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
        assert "ingress" not in deny and "egress" not in deny
        for name, policy in policies.items():
            for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", []):
                assert rule.get("ports"), f"{overlay}: {name} opens every port"
        # every api/db/cache flow in the stack has both of its directions open
        if "db" in services and overlay != "gke-managed":
            assert {"db-from-api", "api-to-db"} <= set(policies)
        if "cache" in services and overlay != "gke-managed":
            assert {"cache-from-api", "api-to-cache"} <= set(policies)
        # the overlays narrow who may reach the web services
        for name in ("api", "frontend"):
            if name not in services:
                continue
            sources = policies[f"{name}-ingress"]["spec"]["ingress"][0].get("from")
            assert sources, f"{overlay}: {name} is reachable from anywhere"
            if overlay == "private":
                assert sources[0]["namespaceSelector"]
                dns = policies["allow-dns-egress"]["spec"]["egress"][0]
                assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
            else:
                assert {s["ipBlock"]["cidr"] for s in sources} == {"35.191.0.0/16", "130.211.0.0/22"}


# ------------------------------------------------------------------ ingress
@pytest.mark.parametrize(("services", "targets"), combos(("gke",)))
def test_gke_ingress_certificate_and_redirect(built, services, targets):
    project, built_overlays = built(services, targets)
    _answers, ctx = context(project)
    docs = built_overlays["gke"]
    ingress = by_kind(docs, "Ingress")["web"]
    annotations = ingress["metadata"]["annotations"]
    certificate = by_kind(docs, "ManagedCertificate")[annotations["networking.gke.io/managed-certificates"]]
    frontend_config = by_kind(docs, "FrontendConfig")[annotations["networking.gke.io/v1beta1.FrontendConfig"]]
    assert frontend_config["spec"]["redirectToHttps"]["enabled"] is True
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    expected = [r["host"] for r in ctx["routes"] if r["name"] in ("api", "frontend")]
    assert hosts == expected
    assert certificate["spec"]["domains"] == hosts
    services_by_name = by_kind(docs, "Service")
    for rule in ingress["spec"]["rules"]:
        backend = rule["http"]["paths"][0]["backend"]["service"]
        service = services_by_name[backend["name"]]
        assert backend["port"]["number"] in [p["port"] for p in service["spec"]["ports"]]
        assert "cloud.google.com/neg" in service["metadata"]["annotations"]
        config = service["metadata"]["annotations"]["cloud.google.com/backend-config"]
        assert by_kind(docs, "BackendConfig")[yaml.safe_load(config)["default"]]


@pytest.mark.parametrize(("services", "targets"), combos(("private",)))
def test_private_ingress_registry_and_tls(built, services, targets):
    project, built_overlays = built(services, targets)
    answers, _ctx = context(project)
    docs = built_overlays["private"]
    registry = answers["private_registry"]
    for label, spec in pod_specs(docs):
        for c in spec.get("initContainers", []) + spec["containers"]:
            assert c["image"].startswith(registry + "/"), (label, c["image"])
            assert image_tag(c["image"]) not in ("", "latest"), c["image"]
    ingresses = by_kind(docs, "Ingress")
    if not {"api", "frontend"} & set(services):
        return
    ingress = ingresses["web"]["spec"]
    assert ingress["ingressClassName"] == "internal"
    hosts = [rule["host"] for rule in ingress["rules"]]
    assert all(h.endswith("." + answers["internal_domain"]) for h in hosts)
    assert ingress["tls"] == [{"secretName": f"{answers['project_slug']}-internal-tls", "hosts": hosts}]


@pytest.mark.parametrize(("services", "targets"), combos(("gke",)))
def test_gke_images_are_pinned_upstream_or_ours(built, services, targets):
    project, built_overlays = built(services, targets)
    _, ctx = context(project)
    pins = set(ctx["images"].values())
    for _overlay, docs in built_overlays.items():
        for _label, spec in pod_specs(docs):
            for c in spec.get("initContainers", []) + spec["containers"]:
                image = c["image"]
                assert image_tag(image) not in ("", "latest"), image
                assert image in pins or image.rpartition(":")[0] in (
                    ctx["api_image"],
                    ctx["frontend_image"],
                ), image


@pytest.mark.parametrize("services", [("api", "db", "cache"), ("api", "db"), ("api", "cache")], ids="+".join)
def test_gke_managed_swaps_statefulsets_for_endpoints(built, services):
    _, built_overlays = built(services, ("gke",))
    docs = built_overlays["gke-managed"]
    statefulsets, slices = by_kind(docs, "StatefulSet"), by_kind(docs, "EndpointSlice")
    policies = by_kind(docs, "NetworkPolicy")
    for name, port in (("db", 5432), ("cache", 6379)):
        if name not in services:
            continue
        assert name not in statefulsets
        service = by_kind(docs, "Service")[name]
        assert "selector" not in service["spec"]
        (slice_,) = [
            s for s in slices.values() if s["metadata"]["labels"]["kubernetes.io/service-name"] == name
        ]
        assert slice_["ports"][0]["name"] == service["spec"]["ports"][0]["name"]
        address = slice_["endpoints"][0]["addresses"][0]
        egress = policies[f"api-to-{name}"]["spec"]["egress"][0]
        assert egress["to"] == [{"ipBlock": {"cidr": f"{address}/32"}}]
        assert egress["ports"][0]["port"] == port


# ------------------------------------------------------------------ secrets and TLS
@pytest.mark.parametrize(("services", "targets"), combos(("gke",), ("private",)))
def test_secret_templates_hold_no_values(renders, tmp_path, services, targets):
    project = renders.combo(services, targets)
    docs = load_yaml_all(project / "kubernetes" / "base" / "secrets.template.yaml")
    expected = {
        secret
        for service, secret in (("db", "postgres-password"), ("cache", "redis-password"))
        if service in services
    }
    assert {d["metadata"]["name"] for d in docs} == expected
    for doc in docs:
        assert doc["kind"] == "Secret" and set(doc["stringData"].values()) == {""}
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump_all(docs) if docs else "")
    if docs:
        run([tool("kubernetes-validate"), "--strict", "-k", "1.33", str(path)])


@pytest.mark.parametrize("services", [("api", "frontend"), ("api",), ("frontend", "nginx")], ids="+".join)
def test_internal_tls_script_issues_a_valid_secret(renders, tmp_path, services):
    project = copy_project(renders.combo(services, ("private",)), tmp_path / "p")
    answers, _ = context(project)
    script = project / "deploy" / "private" / "internal-tls.sh"
    run(["bash", "-n", str(script)])
    run([tool("shellcheck"), str(script)])
    proc = run(["bash", str(script), "--print"], cwd=project)
    (secret,) = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert secret["kind"] == "Secret" and secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["name"] == f"{answers['project_slug']}-internal-tls"
    assert secret["metadata"]["namespace"] == answers["k8s_namespace"]
    path = tmp_path / "secret.yaml"
    path.write_text(proc.stdout)
    run([tool("kubernetes-validate"), "--strict", "-k", "1.33", str(path)])
    cert = base64.b64decode(secret["data"]["tls.crt"])
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName"], input=cert, capture_output=True, check=True
    ).stdout.decode()
    ingress = load_yaml_all(project / "kubernetes" / "overlays" / "private" / "ingress.yaml")[0]
    for rule in ingress["spec"]["rules"]:
        assert f"DNS:{rule['host']}" in text
    ca = project / ".internal-ca" / "ca.crt"
    leaf = tmp_path / "leaf.crt"
    leaf.write_bytes(cert)
    run(["openssl", "verify", "-CAfile", str(ca), str(leaf)])
    # a second run reuses the key and the CA
    key = (project / ".internal-ca" / "tls.key").read_bytes()
    run(["bash", str(script), "--print"], cwd=project)
    assert (project / ".internal-ca" / "tls.key").read_bytes() == key
