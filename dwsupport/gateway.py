"""The Gateway API and GKE policy objects of a built overlay, checked the way a cluster would.

kubernetes-validate has no schemas for these kinds. tests/schemas/ holds the upstream CRD schemas
(Gateway API standard channel, GKE's policy CRDs; versions and licences in the NOTICE files),
converted to closed JSON Schema by tools/crd_schemas.py: `schema_errors()` validates against them.
The conversion drops the CRDs' CEL rules; `rule_violations()` checks the ones that matter for what
the template generates, plus the references between the objects (a route to a Service port that
exists, a policy for every Service behind a GKE Gateway, ...). Shared by tests/test_kubernetes.py
and the security gate (tools/security_gate/).
"""

from __future__ import annotations

import functools
import json
import pathlib
from collections.abc import Iterable
from typing import Any

import jsonschema

from dwsupport import REPO
from dwsupport.k8s import Manifest

SCHEMAS = REPO / "tests" / "schemas"
CERTMAP = "networking.gke.io/certmap"
GKE_CLASS_PREFIX = "gke-l7-"
# The API groups whose objects the template generates and tests/schemas/ covers.
GROUPS = frozenset({"gateway.networking.k8s.io", "networking.gke.io"})


@functools.cache
def schema_files() -> dict[tuple[str, str], pathlib.Path]:
    """(apiVersion, kind) → its vendored schema file."""
    out = {}
    for path in sorted(SCHEMAS.glob("*/*.json")):
        props = json.loads(path.read_text())["properties"]
        out[(props["apiVersion"]["const"], props["kind"]["const"])] = path
    return out


# Kinds with a vendored schema (and none in kubernetes-validate).
CRD_KINDS = frozenset(kind for _, kind in schema_files())


@functools.cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_files()[(api_version, kind)].read_text())
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def label(doc: Manifest) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def covered(doc: Manifest) -> bool:
    """An object of the API groups tests/schemas/ is for."""
    group = str(doc.get("apiVersion", "")).rpartition("/")[0]
    return group in GROUPS


def schema_errors(doc: Manifest) -> list[str]:
    """The vendored schema's errors for one object ("path: message"), or that there is none."""
    key = (str(doc.get("apiVersion")), str(doc.get("kind")))
    if key not in schema_files():
        return [f"no schema in tests/schemas/ for {key[0]} {key[1]}"]
    errors = sorted(_validator(*key).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]


def _by_kind(docs: Iterable[Manifest], kind: str) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


def _is_service(ref: Manifest) -> bool:
    return bool(ref.get("group", "") == "" and ref.get("kind", "Service") == "Service")


def _gateway_rules(gateway: Manifest) -> list[str]:
    out = []
    spec = gateway["spec"]
    listeners = spec.get("listeners") or []
    names = [listener.get("name") for listener in listeners]
    if len(names) != len(set(names)):
        out.append("listener names must be unique")
    certmap = CERTMAP in ((gateway.get("metadata") or {}).get("annotations") or {})
    for listener in listeners:
        tls, protocol, name = listener.get("tls"), listener.get("protocol"), listener.get("name")
        if protocol in ("HTTP", "TCP", "UDP") and tls is not None:
            out.append(f"listener {name}: tls must not be specified for protocol {protocol}")
        if protocol != "HTTPS":
            continue
        refs = (tls or {}).get("certificateRefs") or []
        if tls is not None and tls.get("mode", "Terminate") not in ("", "Terminate"):
            out.append(f"listener {name}: tls mode must be Terminate for protocol HTTPS")
        if tls is not None and not refs and not tls.get("options"):
            out.append(
                f"listener {name}: certificateRefs or options must be specified when mode is Terminate"
            )
        # exactly one TLS source: GKE's certificate map annotation, or certificateRefs
        if certmap and refs:
            out.append(f"listener {name}: a certificate map ({CERTMAP}) and certificateRefs on one Gateway")
        if not certmap and not refs and not (tls or {}).get("options"):
            out.append(f"listener {name}: HTTPS without a certificate (no {CERTMAP}, no certificateRefs)")
    return out


def _route_rules(route: Manifest, gateways: dict[str, Manifest], services: dict[str, Manifest]) -> list[str]:
    out = []
    spec = route["spec"]
    for parent in spec.get("parentRefs") or []:
        gateway = gateways.get(parent.get("name", ""))
        if gateway is None:
            out.append(f"parentRef {parent.get('name')}: no such Gateway")
            continue
        listeners = {listener["name"] for listener in gateway["spec"].get("listeners") or []}
        if parent.get("sectionName") is not None and parent["sectionName"] not in listeners:
            out.append(f"parentRef {parent['name']}: no listener {parent['sectionName']}")
    for i, rule in enumerate(spec.get("rules") or []):
        backends = rule.get("backendRefs") or []
        redirects = [f for f in rule.get("filters") or [] if f.get("type") == "RequestRedirect"]
        if backends and redirects:
            out.append(f"rules[{i}]: RequestRedirect filter must not be used together with backendRefs")
        if not backends and not redirects:
            out.append(f"rules[{i}]: neither backendRefs nor a redirect: every request would fail")
        for ref in backends:
            if not _is_service(ref):
                continue
            if "port" not in ref:
                out.append(f"rules[{i}]: backendRef {ref.get('name')}: must have port for Service reference")
                continue
            service = services.get(ref.get("name", ""))
            ports = [p.get("port") for p in ((service or {}).get("spec") or {}).get("ports") or []]
            if ref["port"] not in ports:
                out.append(f"rules[{i}]: backendRef {ref.get('name')}:{ref['port']}: no such Service port")
    return out


def _health_check_rules(policy: Manifest) -> list[str]:
    out = []
    default = policy["spec"].get("default") or {}
    if default.get("timeoutSec", 5) > default.get("checkIntervalSec", 5):
        out.append("timeoutSec cannot exceed checkIntervalSec")
    config = default.get("config") or {}
    kind = str(config.get("type", ""))
    field = {"HTTP2": "http2HealthCheck"}.get(kind, f"{kind.lower()}HealthCheck")
    if kind and field not in config:
        out.append(f"{field} must be specified for type {kind}")
    check = config.get(field) or {}
    spec_kind = check.get("portSpecification", "USE_SERVING_PORT")
    if ("port" in check) != (spec_kind == "USE_FIXED_PORT"):
        out.append("port must be set for portSpecification USE_FIXED_PORT, and only then")
    if ("portName" in check) != (spec_kind == "USE_NAMED_PORT"):
        out.append("portName must be set for portSpecification USE_NAMED_PORT, and only then")
    return out


def rule_violations(docs: list[Manifest]) -> list[str]:
    """CEL rules of the CRDs and references between the objects ("Kind/name: message")."""
    gateways, routes = _by_kind(docs, "Gateway"), _by_kind(docs, "HTTPRoute")
    services = _by_kind(docs, "Service")
    out = [f"{label(g)}: {m}" for g in gateways.values() for m in _gateway_rules(g)]
    out += [f"{label(r)}: {m}" for r in routes.values() for m in _route_rules(r, gateways, services)]
    targets: dict[str, set[str]] = {}  # policy kind → the Services (or Gateways) it targets
    for doc in docs:
        if doc.get("apiVersion", "").partition("/")[0] != "networking.gke.io":
            continue
        ref = doc["spec"].get("targetRef") or {}
        wanted = "Gateway" if doc["kind"] == "GCPGatewayPolicy" else "Service"
        pool = gateways if wanted == "Gateway" else services
        if ref.get("kind") != wanted or ref.get("name") not in pool:
            out.append(f"{label(doc)}: targetRef {ref.get('kind')}/{ref.get('name')}: no such {wanted} here")
        targets.setdefault(doc["kind"], set()).add(str(ref.get("name")))
        if doc["kind"] == "HealthCheckPolicy":
            out += [f"{label(doc)}: {m}" for m in _health_check_rules(doc)]
    # Behind a GKE Gateway, a Service without a HealthCheckPolicy is probed on "/" (the api
    # answers 404 there: every endpoint unhealthy), and without a GCPBackendPolicy it keeps
    # GKE's defaults (30 s timeout, no connection draining).
    gke = {
        name
        for name, g in gateways.items()
        if g["spec"].get("gatewayClassName", "").startswith(GKE_CLASS_PREFIX)
    }
    for route in routes.values():
        if not {p.get("name") for p in route["spec"].get("parentRefs") or []} & gke:
            continue
        for rule in route["spec"].get("rules") or []:
            for ref in rule.get("backendRefs") or []:
                for kind in ("HealthCheckPolicy", "GCPBackendPolicy"):
                    if _is_service(ref) and ref.get("name") not in targets.get(kind, set()):
                        out.append(
                            f"{label(route)}: Service {ref.get('name')} behind a GKE Gateway has no {kind}"
                        )
    return out


def problems(docs: list[Any]) -> list[str]:
    """Every schema error and rule violation of the Gateway API / GKE objects in a manifest list."""
    manifests = [d for d in docs if isinstance(d, dict)]
    errors = [f"{label(d)}: {e}" for d in manifests if covered(d) for e in schema_errors(d)]
    return errors + rule_violations(manifests)
