"""Promise: the GKE and private-network targets generate kustomize overlays that build, pass the
Kubernetes schemas strictly (two versions) and the upstream Gateway API / GKE policy CRD schemas,
meet Pod Security "restricted", and wire the namespace, probes, autoscaling, network policies, the
Gateway (routes, TLS, redirect, load-balancer health checks) and images as documented."""

from __future__ import annotations

import base64
import copy
import dataclasses
import os
import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from dwsupport import gateway, matrix
from dwsupport.compose import load_yaml_all
from dwsupport.k8s import (
    K8S_VERSIONS,
    Manifest,
    by_kind,
    containers,
    image_tag,
    kustomize,
    open_network_policies,
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
    # the gke-gateway component serves gke, and private with its default (GKE) Gateway class
    assert (k8s / "components").exists() == bool({"gke", "private"} & targets)
    assert (k8s / "components" / "cloud-sql").exists() == ("gke" in targets)
    assert ((project / "deploy" / "private" / "internal-tls.sh").exists()) == ("private" in targets)


# ------------------------------------------------------------------ validators
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_validate_strict(k8s, tmp_path, version):
    for overlay, docs in k8s.overlays.items():
        path = tmp_path / f"{overlay}.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        proc = run([tool("kubernetes-validate"), "--strict", "-k", version, str(path)], check=False)
        assert proc.returncode == 0, f"{overlay}:\n{proc.stdout}\n{proc.stderr}"
        # Only the Gateway API / GKE kinds may lack a schema here (tests/schemas/ has them: the
        # next test); everything else must have passed.
        for line in (proc.stdout + proc.stderr).splitlines():
            if line.startswith("WARN"):
                assert any(f"kind {kind} " in line for kind in gateway.CRD_KINDS), line
            else:
                assert "INFO" in line and "passed" in line, line


def test_gateway_objects_pass_the_upstream_crd_schemas(k8s):
    """Gateway, HTTPRoute and GKE's policies against the vendored CRD schemas (tests/schemas/),
    then the CRDs' CEL rules and the references between the objects (dwsupport/gateway.py)."""
    for overlay, docs in k8s.overlays.items():
        kinds = {d["kind"] for d in docs if gateway.covered(d)}
        assert {"Gateway", "HTTPRoute"} <= kinds, overlay
        assert kinds <= gateway.CRD_KINDS, f"{overlay}: no schema for {kinds - gateway.CRD_KINDS}"
        problems = gateway.problems(docs)
        assert not problems, f"{overlay}:\n" + "\n".join(problems)


def test_no_superseded_gke_apis(k8s):
    """GKE Ingress is in maintenance mode and ManagedCertificate, FrontendConfig and
    BackendConfig work only with it: none of them, nor their annotations, is generated."""
    legacy = {"Ingress", "ManagedCertificate", "FrontendConfig", "BackendConfig"}
    for overlay, docs in k8s.overlays.items():
        assert not legacy & {d["kind"] for d in docs}, overlay
        for doc in docs:
            annotations = (doc["metadata"].get("annotations") or {}).keys()
            assert not [a for a in annotations if a.startswith("cloud.google.com/")], (overlay, doc["kind"])
    # nor in any file of kubernetes/ (a resource no overlay lists would still be applied by hand)
    for path in (k8s.render.root / "kubernetes").rglob("*.yaml"):
        for doc in load_yaml_all(path):
            assert doc.get("kind") not in legacy, path


def gke_docs(built: Callable[[Combo], Built]) -> list[Manifest]:
    return built(Combo(matrix.DEFAULT_SERVICES, ("gke",))).overlays["gke"]


def mutated(docs: list[Manifest], kind: str, name: str, change: Callable[[Manifest], Any]) -> list[Manifest]:
    """A deep copy of the manifests with one object changed (or removed, when change returns None)."""
    out = []
    for doc in copy.deepcopy(docs):
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            changed = change(doc)
            if changed is None:
                continue
        out.append(doc)
    return out


def _parent(doc: Manifest, path: str) -> tuple[Any, str]:
    """The node that holds the last key of a dotted path (numbers index lists), and that key."""
    node: Any = doc
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    return node, last


def _set(path: str, value: Any) -> Callable[[Manifest], Manifest]:
    def change(doc: Manifest) -> Manifest:
        node, last = _parent(doc, path)
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return doc

    return change


def _rename(path: str, new: str) -> Callable[[Manifest], Manifest]:
    def change(doc: Manifest) -> Manifest:
        node, last = _parent(doc, path)
        node[new] = node.pop(last)
        return doc

    return change


# (what is broken, kind, name, the change, a fragment of the expected problem)
BREAKAGES = [
    (
        "typo hostnames",
        "HTTPRoute",
        "api",
        _rename("spec.hostnames", "hostname"),
        "'hostname' was unexpected",
    ),
    (
        "typo protocol",
        "Gateway",
        "web",
        _rename("spec.listeners.0.protocol", "protcol"),
        "'protcol' was unexpected",
    ),
    (
        "port as text",
        "HTTPRoute",
        "api",
        _set("spec.rules.0.backendRefs.0.port", "8000"),
        "is not of type 'integer'",
    ),
    (
        "redirect code",
        "HTTPRoute",
        "http-to-https",
        _set("spec.rules.0.filters.0.requestRedirect.statusCode", 300),
        "is not one of",
    ),
    (
        "health check type",
        "HealthCheckPolicy",
        "api",
        _set("spec.default.config.type", "http"),
        "is not one of",
    ),
    (
        "redirect with backend",
        "HTTPRoute",
        "http-to-https",
        _set("spec.rules.0.backendRefs", [{"name": "api", "port": 8000}]),
        "RequestRedirect filter must not be used together with backendRefs",
    ),
    (
        "backend without port",
        "HTTPRoute",
        "api",
        _set("spec.rules.0.backendRefs.0", {"name": "api"}),
        "must have port for Service reference",
    ),
    (
        "certmap and certificateRefs",
        "Gateway",
        "web",
        _set(
            "spec.listeners.0.tls",
            {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "x"}]},
        ),
        "a certificate map",
    ),
    ("no certificate", "Gateway", "web", _set("metadata.annotations", {}), "HTTPS without a certificate"),
    (
        "wrong Service port",
        "HTTPRoute",
        "frontend",
        _set("spec.rules.0.backendRefs.0.port", 80),
        "no such Service port",
    ),
    (
        "unknown listener",
        "HTTPRoute",
        "api",
        _set("spec.parentRefs.0.sectionName", "htps"),
        "no listener htps",
    ),
    (
        "fixed port without USE_FIXED_PORT",
        "HealthCheckPolicy",
        "api",
        _set("spec.default.config.httpHealthCheck.port", 8000),
        "USE_FIXED_PORT",
    ),
    ("missing HealthCheckPolicy", "HealthCheckPolicy", "api", lambda doc: None, "has no HealthCheckPolicy"),
    ("missing GCPBackendPolicy", "GCPBackendPolicy", "frontend", lambda doc: None, "has no GCPBackendPolicy"),
]


@pytest.mark.parametrize(
    ("what", "kind", "name", "change", "expected"), BREAKAGES, ids=[b[0] for b in BREAKAGES]
)
def test_gateway_checks_catch(built, what, kind, name, change, expected):
    """Each check above is real: break one thing in a good overlay and it is reported."""
    docs = gke_docs(built)
    assert not gateway.problems(docs)
    problems = gateway.problems(mutated(docs, kind, name, change))
    assert any(expected in p for p in problems), f"{what}: {problems}"


def test_check_jsonschema_agrees(built, tmp_path):
    """The same schemas through the check-jsonschema CLI (one document per file)."""
    docs = gke_docs(built)
    for doc in docs:
        if not gateway.covered(doc):
            continue
        schema = gateway.schema_files()[(doc["apiVersion"], doc["kind"])]
        path = tmp_path / f"{doc['kind']}-{doc['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(doc))
        run([tool("check-jsonschema"), "--schemafile", str(schema), str(path)])
    route = copy.deepcopy(by_kind(docs, "HTTPRoute")["api"])  # the built overlays are shared
    route["spec"]["hostname"] = route["spec"].pop("hostnames")
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(route))
    schema = gateway.schema_files()[(route["apiVersion"], "HTTPRoute")]
    proc = run([tool("check-jsonschema"), "--schemafile", str(schema), str(path)], check=False)
    assert proc.returncode == 1 and "hostname" in proc.stdout + proc.stderr


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


def test_a_failing_migration_keeps_the_new_api_out_of_service(k8s):
    """The api pod's initContainer runs the migrations: Kubernetes starts the api container only
    after it exited 0 (`python -m app.migrate` exits 1 when a migration fails; the generated api's
    tests prove that), retries it with back-off, and the pod never becomes Ready. With
    maxUnavailable 0 the rollout then stalls while the previous pods keep serving."""
    services = k8s.combo.services
    for overlay, docs in k8s.overlays.items():
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


def expected_sources(render: Render, overlay: str) -> list[Manifest]:
    """Who may open HTTP connections to the api/frontend pods: the Gateway's proxies and health
    checks (docs/deploy-*.md)."""
    context = render.context
    google = [{"ipBlock": {"cidr": cidr}} for cidr in context["google_health_check_ranges"]]
    if overlay != "private":
        return google  # the global external load balancer: proxies and health checks alike
    if context["private_gateway_on_gke"]:  # regional internal: proxies in the proxy-only subnet
        return [{"ipBlock": {"cidr": render.answers["private_proxy_subnet"]}}, *google]
    namespace = render.answers["private_gateway_namespace"]
    return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}]


def test_network_policies(k8s):
    combo = k8s.combo
    for overlay, docs in k8s.overlays.items():
        policies = by_kind(docs, "NetworkPolicy")
        deny = policies["default-deny-all"]["spec"]
        assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
        assert "ingress" not in deny and "egress" not in deny
        assert not open_network_policies(docs), overlay
        # every api/db/cache flow in the stack has both of its directions open
        if combo.has("db") and overlay != "gke-managed":
            assert {"db-from-api", "api-to-db"} <= set(policies)
        if combo.has("cache") and overlay != "gke-managed":
            assert {"cache-from-api", "api-to-cache"} <= set(policies)
        # the overlays narrow who may reach the web services: the Gateway's proxies only
        for name in WEB_HOSTS:
            if not combo.has(name):
                continue
            (rule,) = policies[f"{name}-ingress"]["spec"]["ingress"]
            assert rule["from"] == expected_sources(k8s.render, overlay), (overlay, name)
            assert rule["ports"] == [{"protocol": "TCP", "port": k8s.render.context["ports"][name]}]
        if overlay == "private":
            dns = policies["allow-dns-egress"]["spec"]["egress"][0]
            assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}


@pytest.mark.parametrize(
    "peer",
    [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "10.0.0.0/7"}}],
    ids=["anywhere", "wider-than-8"],
)
def test_network_policy_check_catches_open_sources(built, peer):
    docs = gke_docs(built)
    assert not open_network_policies(docs)
    opened = mutated(docs, "NetworkPolicy", "api-ingress", _set("spec.ingress.0.from.0", peer))
    assert open_network_policies(opened)
    everything = mutated(docs, "NetworkPolicy", "api-ingress", _set("spec.ingress.0", {"from": [peer]}))
    assert "opens every port" in " ".join(open_network_policies(everything))


# ------------------------------------------------------------------ the Gateway
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


def routed(docs: list[Manifest]) -> dict[str, tuple[str, int]]:
    """host → (Service, port) of every HTTPRoute on the Gateway's https listener."""
    out = {}
    for route in by_kind(docs, "HTTPRoute").values():
        if route["spec"]["parentRefs"] != [{"name": "web", "sectionName": "https"}]:
            continue
        ((host,), (rule,)) = route["spec"]["hostnames"], route["spec"]["rules"]
        assert "matches" not in rule, "every path of the host goes to its Service"
        ((backend,),) = [rule["backendRefs"]]
        out[host] = (backend["name"], backend["port"])
    return out


def assert_redirect(docs: list[Manifest], hosts: list[str]) -> None:
    redirect = by_kind(docs, "HTTPRoute")["http-to-https"]["spec"]
    assert redirect["parentRefs"] == [{"name": "web", "sectionName": "http"}]
    assert sorted(redirect["hostnames"]) == sorted(hosts)
    assert redirect["rules"] == [
        {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}
    ]


@pytest.mark.parametrize("combo", matrix.GKE, ids=str)
def test_gke_gateway_certificate_map_and_redirect(built, combo):
    render, docs = built(combo).render, built(combo).overlays["gke"]
    gcp = render.context["gcp"]
    (web,) = by_kind(docs, "Gateway").values()
    assert web["spec"]["gatewayClassName"] == "gke-l7-global-external-managed"
    assert web["metadata"]["annotations"] == {"networking.gke.io/certmap": gcp["certmap"]}
    assert web["spec"]["addresses"] == [{"type": "NamedAddress", "value": gcp["static_ip"]}]
    listeners = {listener["name"]: listener for listener in web["spec"]["listeners"]}
    assert (listeners["https"]["protocol"], listeners["https"]["port"]) == ("HTTPS", 443)
    assert (listeners["http"]["protocol"], listeners["http"]["port"]) == ("HTTP", 80)
    for listener in listeners.values():
        assert listener["allowedRoutes"] == {"namespaces": {"from": "Same"}}
    ssl = by_kind(docs, "GCPGatewayPolicy")["web"]["spec"]
    assert ssl["default"] == {"sslPolicy": gcp["ssl_policy"]}
    domain = render.answers["domain"]
    expected = {host.format(domain=domain): name for name, host in WEB_HOSTS.items() if combo.has(name)}
    hosts = routed(docs)
    assert {host: service for host, (service, _) in hosts.items()} == expected
    if combo.has("proxy"):  # Traefik routes the same hosts to the same services
        assert {h: s for h, s in traefik_routes(render).items() if s in WEB_HOSTS} == expected
    assert_redirect(docs, list(expected))
    # the certificate the docs create covers exactly these hosts
    assert [h["host"] for h in render.context["gke_hosts"]] == list(expected)
    # the load balancer probes /healthz on the serving port, with GKE's policies
    for service in expected.values():
        check = by_kind(docs, "HealthCheckPolicy")[service]["spec"]
        assert check["targetRef"] == {"group": "", "kind": "Service", "name": service}
        assert check["default"]["config"] == {"type": "HTTP", "httpHealthCheck": {"requestPath": "/healthz"}}
        backend = by_kind(docs, "GCPBackendPolicy")[service]["spec"]["default"]
        assert backend["timeoutSec"] == render.context["request_timeouts"][service]


@pytest.mark.parametrize("combo", matrix.PRIVATE, ids=str)
def test_private_gateway_registry_and_tls(built, combo):
    render, docs = built(combo).render, built(combo).overlays["private"]
    answers, context = render.answers, render.context
    registry = answers["private_registry"]
    for label, spec in pod_specs(docs):
        for c in containers(spec):
            assert c["image"].startswith(registry + "/"), (label, c["image"])
            assert image_tag(c["image"]) not in ("", "latest"), c["image"]
    (web,) = by_kind(docs, "Gateway").values()
    assert web["spec"]["gatewayClassName"] == answers["private_gateway_class"]
    assert "annotations" not in web["metadata"], "no certificate map: TLS from the internal CA"
    https = next(listener for listener in web["spec"]["listeners"] if listener["name"] == "https")
    assert https["tls"] == {
        "mode": "Terminate",
        "certificateRefs": [{"kind": "Secret", "name": f"{answers['project_slug']}-internal-tls"}],
    }
    hosts = routed(docs)
    assert all(h.endswith("." + answers["internal_domain"]) for h in hosts)
    assert {service for service, _ in hosts.values()} == {n for n in WEB_HOSTS if combo.has(n)}
    assert_redirect(docs, list(hosts))
    # GKE's policies exist exactly when the class is GKE's (other clusters have no such CRDs)
    gke_kinds = {"HealthCheckPolicy", "GCPBackendPolicy"} & {d["kind"] for d in docs}
    assert bool(gke_kinds) == context["private_gateway_on_gke"]


def test_metrics_and_docs_stay_private(k8s):
    """The Gateway sends every path of api.<domain> to the api: /metrics and /docs must not exist
    there (METRICS_ENABLED=false, APP_ENV=production), and no route reaches another port."""
    for overlay, docs in k8s.overlays.items():
        services = by_kind(docs, "Service")
        for service, port in routed(docs).values():
            assert service in WEB_HOSTS and [p["port"] for p in services[service]["spec"]["ports"]] == [port]
        if not k8s.combo.has("api"):
            continue
        config = by_kind(docs, "ConfigMap")["api-config"]["data"]
        assert config["METRICS_ENABLED"] == "false" and config["APP_ENV"] == "production", overlay


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
    routes = load_yaml_all(project / "kubernetes" / "overlays" / "private" / "gateway.yaml")
    hosts = {host for route in routes if route["kind"] == "HTTPRoute" for host in route["spec"]["hostnames"]}
    assert hosts and all(f"DNS:{host}" in text for host in hosts)
    # the Gateway's HTTPS listener serves exactly this Secret
    (gateway_doc,) = [d for d in routes if d["kind"] == "Gateway"]
    refs = [
        ref
        for listener in gateway_doc["spec"]["listeners"]
        for ref in (listener.get("tls") or {}).get("certificateRefs", [])
    ]
    assert refs == [{"kind": "Secret", "name": secret["metadata"]["name"]}]
    ca = project / ".internal-ca" / "ca.crt"
    leaf = tmp_path / "leaf.crt"
    leaf.write_bytes(cert)
    run(["openssl", "verify", "-CAfile", str(ca), str(leaf)])
    # a second run reuses the key and the CA
    key = (project / ".internal-ca" / "tls.key").read_bytes()
    run(["bash", str(script), "--print"], cwd=project)
    assert (project / ".internal-ca" / "tls.key").read_bytes() == key


@pytest.mark.parametrize("args", [["--help"], ["--bogus"]])
def test_internal_tls_usage_from_another_directory(renders, tmp_path, args):
    """The usage text is read from the script itself: it works whatever the working directory and
    however the script is named (a relative path from elsewhere)."""
    project = renders.of(Combo(("api",), ("private",))).copy_to(tmp_path / "p")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = os.path.relpath(project / "deploy" / "private" / "internal-tls.sh", elsewhere)
    proc = run(["bash", script, *args], cwd=elsewhere, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "internal-tls.sh" in proc.stderr and "can't read" not in proc.stderr


def test_internal_tls_takes_ca_files_relative_to_the_caller(renders, tmp_path):
    """CA_CERT/CA_KEY name files relative to where the script is started, as the docs write them."""
    project = renders.of(Combo(("api",), ("private",))).copy_to(tmp_path / "p")
    pki = tmp_path / "pki"
    pki.mkdir()
    run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "corp-ca.key",
            "-out",
            "corp-ca.crt",
            "-days",
            "30",
            "-subj",
            "/CN=test corp CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
        cwd=pki,
    )
    script = os.path.relpath(project / "deploy" / "private" / "internal-tls.sh", pki)
    env = {"CA_CERT": "corp-ca.crt", "CA_KEY": "corp-ca.key"}
    proc = run(["bash", script, "--print"], cwd=pki, env=env)
    (secret,) = [d for d in yaml.safe_load_all(proc.stdout) if d]
    leaf = tmp_path / "leaf.crt"
    leaf.write_bytes(base64.b64decode(secret["data"]["tls.crt"]))
    run(["openssl", "verify", "-CAfile", str(pki / "corp-ca.crt"), str(leaf)])
    assert not (project / ".internal-ca" / "ca.key").exists(), "no local CA when one is given"
