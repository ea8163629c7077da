"""Promise: the GKE and private-network targets generate kustomize overlays that build, pass the
Kubernetes schemas strictly (two versions), meet Pod Security "restricted", and wire the
namespace, probes, autoscaling, network policies, ingress and images as documented."""

from __future__ import annotations

import base64
import dataclasses
import re
import subprocess
from collections.abc import Callable

import pytest
import yaml

from dwsupport import matrix
from dwsupport.compose import load_yaml_all
from dwsupport.k8s import (
    GKE_CRDS,
    K8S_VERSIONS,
    Manifest,
    by_kind,
    containers,
    image_tag,
    kustomize,
    overlays,
    pod_specs,
)
from dwsupport.matrix import Combo
from dwsupport.pod_security import violations
from dwsupport.render import Render, Renders
from dwsupport.tools import run, tool


@dataclasses.dataclass(frozen=True)
class Built:
    combo: Combo
    render: Render
    overlays: dict[str, list[Manifest]]  # overlay → its manifests, built with kubectl kustomize


# The web services Kubernetes runs and the host each is served at (README.md: the frontend at
# <domain>, the api at api.<domain>; nginx and Grafana are compose-only).
WEB_HOSTS = {"frontend": "{domain}", "api": "api.{domain}"}


@pytest.fixture(scope="module")
def built(renders: Renders) -> Callable[[Combo], Built]:
    """combo → its render and overlays, built once per module."""
    cache: dict[Combo, Built] = {}

    def build(combo: Combo) -> Built:
        if combo not in cache:
            render = renders.of(combo)
            cache[combo] = Built(
                combo, render, {o: kustomize(render.root, o) for o in overlays(combo.targets)}
            )
        return cache[combo]

    return build


@pytest.fixture(params=matrix.KUBERNETES, ids=str, scope="module")
def k8s(request: pytest.FixtureRequest, built: Callable[[Combo], Built]) -> Built:
    """Each combination with a Kubernetes target, built."""
    return built(request.param)


# ------------------------------------------------------------------ files
@pytest.mark.parametrize("combo", matrix.EACH_TARGET, ids=str)
def test_overlays_exist_only_for_their_targets(renders, combo):
    project = renders.of(combo).root
    targets = set(combo.targets)
    k8s = project / "kubernetes"
    if not {"gke", "private"} & targets:
        assert not k8s.exists()
        return
    present = sorted(p.name for p in (k8s / "overlays").iterdir())
    assert present == sorted(overlays(targets))
    assert (k8s / "components").exists() == ("gke" in targets)
    assert ((project / "deploy" / "private" / "internal-tls.sh").exists()) == ("private" in targets)


# ------------------------------------------------------------------ validators
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_validate_strict(k8s, tmp_path, version):
    for overlay, docs in k8s.overlays.items():
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
    docs = built(Combo(("api",), ("private",))).overlays["private"]
    deployment = by_kind(docs, "Deployment")["api"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/"}}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    proc = run([tool("kubernetes-validate"), "--strict", "-k", "1.33", str(path)], check=False)
    assert proc.returncode != 0


def test_pod_security_restricted(k8s):
    # the rules live in dwsupport/pod_security.py, shared with the security gate (nox -s security)
    for overlay, docs in k8s.overlays.items():
        problems = violations(docs)
        assert not problems, f"{overlay}:\n" + "\n".join(map(str, problems))


def test_namespace_hpa_pdb_and_service_accounts(k8s):
    answers = k8s.render.answers
    for overlay, docs in k8s.overlays.items():
        namespaces = by_kind(docs, "Namespace")
        assert list(namespaces) == [answers["k8s_namespace"]], overlay
        labels = namespaces[answers["k8s_namespace"]]["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        for doc in docs:
            if doc["kind"] != "Namespace":
                assert doc["metadata"].get("namespace") == answers["k8s_namespace"], doc["metadata"]
        hpas, pdbs = by_kind(docs, "HorizontalPodAutoscaler"), by_kind(docs, "PodDisruptionBudget")
        for name in ("api", "frontend"):
            assert (name in hpas) == k8s.combo.has(name) == (name in pdbs), (overlay, name)
        accounts = by_kind(docs, "ServiceAccount")
        for _label, spec in pod_specs(docs):
            assert accounts[spec["serviceAccountName"]]["automountServiceAccountToken"] is False
        assert not by_kind(docs, "Secret"), "Secrets are created in the cluster, never built"


def test_network_policies(k8s):
    combo = k8s.combo
    for overlay, docs in k8s.overlays.items():
        policies = by_kind(docs, "NetworkPolicy")
        deny = policies["default-deny-all"]["spec"]
        assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
        assert "ingress" not in deny and "egress" not in deny
        for name, policy in policies.items():
            for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", []):
                assert rule.get("ports"), f"{overlay}: {name} opens every port"
        # every api/db/cache flow in the stack has both of its directions open
        if combo.has("db") and overlay != "gke-managed":
            assert {"db-from-api", "api-to-db"} <= set(policies)
        if combo.has("cache") and overlay != "gke-managed":
            assert {"cache-from-api", "api-to-cache"} <= set(policies)
        # the overlays narrow who may reach the web services
        for name in WEB_HOSTS:
            if not combo.has(name):
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
def traefik_routes(render: Render) -> dict[str, str]:
    """host → service of each router in the proxy's routes.yml (compose)."""
    routes = yaml.safe_load((render.root / "traefik" / "dynamic" / "routes.yml").read_text())
    out = {}
    for router in routes["http"]["routers"].values():
        # one Host(), minus the path prefixes the proxy never routes (the api's /metrics, docs)
        match = re.fullmatch(r"Host\(`([^`]+)`\)(?: && !PathPrefix\(`/[^`]*`\))*", router["rule"])
        assert match, f"a router rule that is not one Host(): {router['rule']}"
        out[match[1]] = router["service"]
    return out


@pytest.mark.parametrize("combo", matrix.GKE, ids=str)
def test_gke_ingress_certificate_and_redirect(built, combo):
    render, docs = built(combo).render, built(combo).overlays["gke"]
    ingress = by_kind(docs, "Ingress")["web"]
    annotations = ingress["metadata"]["annotations"]
    certificate = by_kind(docs, "ManagedCertificate")[annotations["networking.gke.io/managed-certificates"]]
    frontend_config = by_kind(docs, "FrontendConfig")[annotations["networking.gke.io/v1beta1.FrontendConfig"]]
    assert frontend_config["spec"]["redirectToHttps"]["enabled"] is True
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    routed = {
        rule["host"]: rule["http"]["paths"][0]["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
    }
    domain = render.answers["domain"]
    assert routed == {host.format(domain=domain): name for name, host in WEB_HOSTS.items() if combo.has(name)}
    if combo.has("proxy"):  # Traefik routes the same hosts to the same services
        assert {h: s for h, s in traefik_routes(render).items() if s in WEB_HOSTS} == routed
    assert certificate["spec"]["domains"] == hosts
    services_by_name = by_kind(docs, "Service")
    for rule in ingress["spec"]["rules"]:
        backend = rule["http"]["paths"][0]["backend"]["service"]
        service = services_by_name[backend["name"]]
        assert backend["port"]["number"] in [p["port"] for p in service["spec"]["ports"]]
        assert "cloud.google.com/neg" in service["metadata"]["annotations"]
        config = service["metadata"]["annotations"]["cloud.google.com/backend-config"]
        assert by_kind(docs, "BackendConfig")[yaml.safe_load(config)["default"]]


@pytest.mark.parametrize("combo", matrix.PRIVATE, ids=str)
def test_private_ingress_registry_and_tls(built, combo):
    answers, docs = built(combo).render.answers, built(combo).overlays["private"]
    registry = answers["private_registry"]
    for label, spec in pod_specs(docs):
        for c in containers(spec):
            assert c["image"].startswith(registry + "/"), (label, c["image"])
            assert image_tag(c["image"]) not in ("", "latest"), c["image"]
    ingresses = by_kind(docs, "Ingress")
    if not (combo.has("api") or combo.has("frontend")):
        return
    ingress = ingresses["web"]["spec"]
    assert ingress["ingressClassName"] == "internal"
    hosts = [rule["host"] for rule in ingress["rules"]]
    assert all(h.endswith("." + answers["internal_domain"]) for h in hosts)
    assert ingress["tls"] == [{"secretName": f"{answers['project_slug']}-internal-tls", "hosts": hosts}]


@pytest.mark.parametrize("combo", matrix.GKE, ids=str)
def test_gke_images_are_pinned_upstream_or_ours(built, combo):
    render, built_overlays = built(combo).render, built(combo).overlays
    pins = set(render.context["images"].values())
    ours = {f"{render.answers['registry']}/{name}" for name in ("api", "frontend")}
    for _overlay, docs in built_overlays.items():
        for _label, spec in pod_specs(docs):
            for c in containers(spec):
                image = c["image"]
                assert image_tag(image) not in ("", "latest"), image
                assert image in pins or image.rpartition(":")[0] in ours, image


@pytest.mark.parametrize("combo", matrix.GKE_MANAGED, ids=str)
def test_gke_managed_swaps_statefulsets_for_endpoints(built, combo):
    docs = built(combo).overlays["gke-managed"]
    statefulsets, slices = by_kind(docs, "StatefulSet"), by_kind(docs, "EndpointSlice")
    policies = by_kind(docs, "NetworkPolicy")
    for name, port in (("db", 5432), ("cache", 6379)):
        if not combo.has(name):
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
@pytest.mark.parametrize("combo", [*matrix.GKE, *matrix.PRIVATE], ids=str)
def test_secret_templates_hold_no_values(renders, tmp_path, combo):
    project = renders.of(combo).root
    docs = load_yaml_all(project / "kubernetes" / "base" / "secrets.template.yaml")
    expected = {
        secret
        for service, secret in (("db", "postgres-password"), ("cache", "redis-password"))
        if combo.has(service)
    }
    assert {d["metadata"]["name"] for d in docs} == expected
    for doc in docs:
        assert doc["kind"] == "Secret" and set(doc["stringData"].values()) == {""}
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump_all(docs) if docs else "")
    if docs:
        run([tool("kubernetes-validate"), "--strict", "-k", "1.33", str(path)])


@pytest.mark.parametrize("combo", matrix.INTERNAL_TLS, ids=str)
def test_internal_tls_script_issues_a_valid_secret(renders, tmp_path, combo):
    render = renders.of(combo)
    project, answers = render.copy_to(tmp_path / "p"), render.answers
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
