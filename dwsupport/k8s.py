"""Kubernetes and Cloud Run output of a render: kustomize builds, pod specs, objects by kind,
image references, the Cloud Run manifests."""

from __future__ import annotations

import ipaddress
import pathlib
from collections.abc import Iterable, Iterator
from typing import Any

import yaml

from dwsupport.tools import run

Manifest = dict[str, Any]

# The Kubernetes versions every build is validated against (kubernetes-validate, strict).
K8S_VERSIONS = ("1.31", "1.33")
# Kinds that hold a pod template in spec.template.
WORKLOADS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet", "ReplicationController"}
)


def overlays(targets: Iterable[str]) -> list[str]:
    """The kustomize overlays a project with these deploy targets has."""
    chosen = set(targets)
    out = []
    if "gke" in chosen:
        out += ["gke", "gke-managed"]
    if "private" in chosen:
        out.append("private")
    return out


def kustomize(project: pathlib.Path, overlay: str) -> list[Manifest]:
    """`kubectl kustomize kubernetes/overlays/<overlay>`, parsed."""
    proc = run(["kubectl", "kustomize", str(project / "kubernetes" / "overlays" / overlay)])
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def pod_specs(docs: Iterable[Any]) -> Iterator[tuple[str, Manifest]]:
    """("Kind/name", pod spec) of every workload in a list of manifests."""
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
        if kind in WORKLOADS:
            yield f"{kind}/{name}", doc["spec"]["template"]["spec"]
        elif kind == "CronJob":
            yield f"{kind}/{name}", doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif kind == "Pod":
            yield f"{kind}/{name}", doc["spec"]


def containers(spec: Manifest) -> list[Manifest]:
    """A pod spec's init containers and containers."""
    return [*spec.get("initContainers", []), *spec["containers"]]


def by_kind(docs: Iterable[Manifest], kind: str) -> dict[str, Manifest]:
    """The objects of one kind, by name."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def open_network_policies(docs: Iterable[Manifest]) -> list[str]:
    """NetworkPolicy rules that open too much: every port (a rule without `ports`), or an
    address block wider than a /8 (0.0.0.0/0 is the whole internet)."""
    out = []
    for doc in docs:
        if doc.get("kind") != "NetworkPolicy":
            continue
        name = doc["metadata"]["name"]
        for direction, peers in (("ingress", "from"), ("egress", "to")):
            for rule in doc["spec"].get(direction) or []:
                if not rule.get("ports"):
                    out.append(f"{name}: an {direction} rule opens every port")
                for peer in rule.get(peers) or []:
                    cidr = (peer.get("ipBlock") or {}).get("cidr")
                    if cidr and ipaddress.ip_network(cidr, strict=False).prefixlen < 8:
                        out.append(f"{name}: {direction} {peers} {cidr}, wider than a /8")
    return out


def image_repo(image: str) -> str:
    """The image reference without its tag (a registry port's ':' is kept)."""
    name, _, tag = image.rpartition(":")
    return name if name and "/" not in tag else image


def image_tag(image: str) -> str:
    name, _, tag = image.rpartition(":")
    return tag if name and "/" not in tag else ""


def cloudrun_manifests(project: pathlib.Path) -> dict[str, Manifest]:
    """cloudrun/*.yaml by file name."""
    folder = project / "cloudrun"
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))}


def cloudrun_containers(doc: Manifest) -> list[Manifest]:
    spec = doc["spec"]["template"]["spec"]
    if doc["kind"] == "Job":  # run.googleapis.com/v1 Job: execution template → task template
        spec = spec["template"]["spec"]
    containers: list[Manifest] = spec["containers"]
    return containers
