"""Helpers for the deployment-target tests (test_vps, test_cloudrun, test_kubernetes,
test_consistency): build the rendered manifests with the real tools and parse them."""

from __future__ import annotations

import json
import pathlib
import shutil

import pytest
import yaml
from conftest import ALL_SERVICES, ALL_TARGETS, DEFAULT_SERVICES, compose_binary, run

# Service sets every deployment test covers (each with every target alone and all together).
SERVICE_SETS = {
    "defaults": tuple(DEFAULT_SERVICES),
    "all": tuple(ALL_SERVICES),
    "api-only": ("api",),
    "frontend+nginx": ("frontend", "nginx"),
}
K8S_VERSIONS = ("1.31", "1.33")
# Kinds with no schema in kubernetes-validate (GKE CRDs): it only warns about them.
GKE_CRDS = {"BackendConfig", "ManagedCertificate", "FrontendConfig"}
# Kinds that hold a pod template, and where it is.
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


def combos(*target_sets):
    """(services, targets) pairs with readable ids, for pytest.mark.parametrize."""
    params = []
    for name, services in SERVICE_SETS.items():
        for targets in target_sets:
            params.append(pytest.param(services, tuple(targets), id=f"{name}@{'+'.join(targets)}"))
    return params


ALL = tuple(ALL_TARGETS)


def overlays(targets) -> list[str]:
    out = []
    if "gke" in targets:
        out += ["gke", "gke-managed"]
    if "private" in targets:
        out.append("private")
    return out


def kustomize(project: pathlib.Path, overlay: str) -> list[dict]:
    proc = run(["kubectl", "kustomize", str(project / "kubernetes" / "overlays" / overlay)])
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def pod_specs(docs: list[dict]):
    """(label, pod spec) of every workload in a list of manifests."""
    for doc in docs:
        if doc["kind"] in WORKLOADS:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]
        elif doc["kind"] == "CronJob":
            yield f"CronJob/{doc['metadata']['name']}", doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif doc["kind"] == "Pod":
            yield f"Pod/{doc['metadata']['name']}", doc["spec"]


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def image_repo(image: str) -> str:
    """The image reference without its tag (a registry port's ':' is kept)."""
    name, _, tag = image.rpartition(":")
    return name if name and "/" not in tag else image


def image_tag(image: str) -> str:
    name, _, tag = image.rpartition(":")
    return tag if name and "/" not in tag else ""


def compose_prod(project: pathlib.Path, tag: str = "0123abc") -> dict:
    """`docker compose config` of the production stack, as the server runs it: the layers
    from .env.prod.example (COMPOSE_FILE ending in compose.prod.yml) and pinned tags."""
    proc = run(
        [compose_binary(), "--env-file", ".env.prod.example", "config", "--format", "json"],
        cwd=project,
        env={"API_TAG": tag, "FRONTEND_TAG": tag},
    )
    return json.loads(proc.stdout)


def cloudrun_manifests(project: pathlib.Path) -> dict[str, dict]:
    folder = project / "cloudrun"
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))}


def cloudrun_containers(doc: dict) -> list[dict]:
    spec = doc["spec"]["template"]["spec"]
    if doc["kind"] == "Job":  # run.googleapis.com/v1 Job: execution template → task template
        spec = spec["template"]["spec"]
    return spec["containers"]


def copy_project(project: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
    """A private copy of a cached render, for tests that write into the project."""
    shutil.copytree(project, dst, symlinks=True)
    return dst
