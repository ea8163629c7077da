"""Security scanners on generated projects: checkov (Dockerfiles, built Kubernetes overlays, GitHub
workflows, secrets), trivy (Kubernetes misconfigurations), compose-lint (the merged production
compose model). Zero findings, except the ones excused in tests/security_exceptions.yml."""

from __future__ import annotations

import json
import pathlib

import pytest
import yaml
from conftest import ALL_SERVICES, ALL_TARGETS, DEFAULT_SERVICES, REPO, compose_binary, run, tool

EXCEPTIONS = yaml.safe_load((REPO / "tests" / "security_exceptions.yml").read_text())
COMBOS = {
    "defaults@vps": (DEFAULT_SERVICES, ["vps"]),
    "everything@all-targets": (ALL_SERVICES, ALL_TARGETS),
    "api@gke": (["api"], ["gke"]),
    "frontend+nginx@vps+private": (["frontend", "nginx"], ["vps", "private"]),
}


@pytest.fixture(params=list(COMBOS), scope="module")
def project(request, renders):
    services, targets = COMBOS[request.param]
    return renders.combo(services, targets)


def built_overlays(project: pathlib.Path, out: pathlib.Path) -> list[pathlib.Path]:
    overlays = project / "kubernetes" / "overlays"
    files = []
    for overlay in sorted(overlays.iterdir()) if overlays.is_dir() else []:
        target = out / f"{overlay.name}.yaml"
        target.write_text(run(["kubectl", "kustomize", str(overlay)]).stdout)
        files.append(target)
    return files


def checkov(*args: str) -> list[dict]:
    proc = run(
        [
            tool("checkov"),
            *args,
            "--skip-download",
            "--compact",
            "--quiet",
            "-o",
            "json",
            "--skip-check",
            ",".join(EXCEPTIONS["checkov"]),
        ],
        check=False,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    reports = json.loads(proc.stdout) if proc.stdout.strip() else []
    return reports if isinstance(reports, list) else [reports]


def failures(reports: list[dict]) -> list[str]:
    return [
        f"{f['check_id']} {f['check_name']} {f['file_path']} {f.get('resource', '')}"
        for r in reports
        for f in r.get("results", {}).get("failed_checks", [])
    ]


def test_checkov_project_files(project):
    reports = checkov(
        "-d",
        str(project),
        "--framework",
        "dockerfile",
        "github_actions",
        "secrets",
        "--skip-path",
        "secrets",
        "--skip-path",
        "kubernetes",
        "--skip-path",
        "node_modules",
    )
    assert not failures(reports), "\n".join(failures(reports))
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    assert passed > 0, "checkov checked nothing"


def test_checkov_kubernetes(project, tmp_path):
    if not built_overlays(project, tmp_path):
        pytest.skip("no Kubernetes target in this combination")
    reports = checkov("-d", str(tmp_path), "--framework", "kubernetes")
    assert not failures(reports), "\n".join(failures(reports))
    assert sum(r.get("summary", {}).get("passed", 0) for r in reports) > 0


def test_trivy_kubernetes(project, tmp_path):
    if not built_overlays(project, tmp_path):
        pytest.skip("no Kubernetes target in this combination")
    ignore = tmp_path / ".trivyignore"
    ignore.write_text("\n".join(EXCEPTIONS["trivy"]) + "\n")
    report = tmp_path / "trivy.json"
    run(
        [
            tool("trivy"),
            "config",
            "--skip-check-update",
            "--quiet",
            "--severity",
            "MEDIUM,HIGH,CRITICAL",
            "--ignorefile",
            str(ignore),
            "--exit-code",
            "1",
            "--format",
            "json",
            "--output",
            str(report),
            str(tmp_path),
        ]
    )


def test_compose_lint_production(project, tmp_path):
    if not (project / "compose.prod.yml").exists():
        pytest.skip("no vps target in this combination")
    layers = next(x for x in (project / ".env").read_text().splitlines() if x.startswith("COMPOSE_FILE="))
    env = {
        "COMPOSE_FILE": layers.split("=", 1)[1] + ":compose.prod.yml",
        "COMPOSE_PATH_SEPARATOR": ":",
        "API_TAG": "0" * 40,
        "FRONTEND_TAG": "0" * 40,
    }
    merged = tmp_path / "compose.yml"
    merged.write_text(run([compose_binary(), "config"], cwd=project, env=env).stdout)
    config = tmp_path / ".compose-lint.yml"
    config.write_text(
        yaml.safe_dump({"rules": {rule: {"enabled": False} for rule in EXCEPTIONS["compose-lint"]}})
    )
    run(
        [
            tool("compose-lint"),
            "check",
            "--fail-on",
            "medium",
            "--config",
            str(config),
            "--no-env",
            "--strict-config",
            str(merged),
        ]
    )
