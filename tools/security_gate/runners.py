"""Each scanner run once over every combination (paths `<id>/<file>` under tree/ or built/), its
report parsed into findings; scan() runs them all, concurrently.

| scanner             | runs on                                   | how (one invocation for all combos)   |
|---------------------|-------------------------------------------|---------------------------------------|
| hadolint            | every Dockerfile                          | -f json --disable-ignore-pragma       |
| compose-lint        | compose/{base,prod,dev}.yml               | --format json --no-env                |
| checkov             | tree: dockerfile, github_actions, secrets | --skip-download -o json               |
|                     | built: kubernetes (kustomize/*.yaml)      |                                       |
| trivy-config        | built: Dockerfiles + kustomize/*.yaml     | trivy config --skip-check-update      |
| trivy-secret        | tree                                      | trivy fs --scanners secret (offline)  |
| zizmor              | tree/<id>/ (workflows + actions)          | --offline --no-ignores --format json  |
| kubernetes-validate | kustomize/*.yaml, strict, K8S_VERSIONS    | the library's validate() in-process   |
|                     | Gateway API / GKE kinds: tests/schemas/   | dwsupport/gateway.py in-process       |
| pod-security        | every pod spec (and NetworkPolicy) in     | dwsupport/pod_security.py in-process  |
|                     | kustomize/*.yaml                          |                                       |

A scanner that crashes, reports a parse error or scans nothing fails the gate, and so does a
secret scanner that misses the fake credential planted in every full run (the canary).
"""

from __future__ import annotations

import concurrent.futures
import json
import pathlib
import subprocess
from collections.abc import Callable
from typing import Any

import yaml

from dwsupport.tools import ToolError, run, tool
from tools.security_gate.collect import Collected
from tools.security_gate.findings import Finding, GateError
from tools.security_gate.parsers import (
    k8s_findings,
    parse_checkov,
    parse_compose_lint,
    parse_hadolint,
    parse_trivy,
    parse_zizmor,
)

TIMEOUT = 900  # seconds for one scanner over every combination


def _json(proc: subprocess.CompletedProcess[str], what: str) -> Any:
    try:
        return json.loads(proc.stdout) if proc.stdout.strip() else []
    except json.JSONDecodeError as e:
        raise GateError(f"{what}: unreadable JSON ({e})\n{proc.stdout[:2000]}\n{proc.stderr[-2000:]}") from e


def run_hadolint(out: pathlib.Path, metas: list[Collected]) -> list[Finding]:
    files = [f"{m['id']}/{d}" for m in metas for d in m["dockerfiles"]]
    if not files:
        return []
    cmd = [tool("hadolint"), "-f", "json", "--no-fail", "--disable-ignore-pragma", *files]
    return parse_hadolint(_json(run(cmd, cwd=out / "tree", timeout=TIMEOUT), "hadolint"))


def run_compose_lint(out: pathlib.Path, metas: list[Collected]) -> list[Finding]:
    files = [f"{m['id']}/{c}" for m in metas for c in m["compose"]]
    cmd = [tool("compose-lint"), "check", "--format", "json", "--fail-on", "critical", "--no-env"]
    cmd += ["--no-merge-overrides", *files]
    return parse_compose_lint(_json(run(cmd, cwd=out / "built", ok=(0, 1), timeout=TIMEOUT), "compose-lint"))


def run_checkov(out: pathlib.Path, metas: list[Collected], part: str) -> list[Finding]:
    """part "tree": dockerfile, github_actions, secrets; part "built": kubernetes (kustomize/)."""
    if part == "tree":
        root, frameworks = out / "tree", ["dockerfile", "github_actions", "secrets"]
        # secrets: every file, not only the IaC ones (checkov's default). It reports nothing when
        # it finds nothing, so the canary (see scan()) is what proves that it ran.
        extra = ["--enable-secret-scan-all-files"]
        expected = {"dockerfile"} if any(m["dockerfiles"] for m in metas) else set()
        expected |= {"github_actions"} if any(m["workflows"] for m in metas) else set()
    else:
        if not any(m["manifests"] for m in metas):
            return []
        root, frameworks, extra, expected = out / "built", ["kubernetes"], [], {"kubernetes"}
    cmd = [tool("checkov"), "-d", ".", "--framework", *frameworks, *extra, "--skip-download"]
    cmd += ["--compact", "--quiet", "-o", "json"]
    proc = run(cmd, cwd=root, ok=(0, 1), env={"LOG_LEVEL": "WARNING"}, timeout=TIMEOUT)
    findings, checked = parse_checkov(_json(proc, f"checkov ({part})"))
    idle = sorted(f for f in expected if not checked[f])
    if idle:
        raise GateError(f"checkov ({part}) checked nothing for {idle}: {proc.stderr[-2000:]}")
    return findings


def _trivy(out: pathlib.Path, args: list[str], what: str) -> dict[str, Any]:
    report = out / f"{what}.json"
    cmd: list[str | pathlib.Path] = [tool("trivy"), *args, "--quiet", "--format", "json", "--output", report]
    cmd += ["--ignorefile", "", "--cache-dir", out / ".trivy-cache", "--skip-version-check"]
    cmd += ["--disable-telemetry", "."]
    run(cmd, cwd=out / ("built" if what == "trivy-config" else "tree"), timeout=TIMEOUT)
    doc: dict[str, Any] = json.loads(report.read_text())
    return doc


def run_trivy_config(out: pathlib.Path, metas: list[Collected]) -> list[Finding]:
    args = ["config", "--skip-check-update", "--misconfig-scanners", "dockerfile,kubernetes"]
    findings, targets = parse_trivy(_trivy(out, args, "trivy-config"), "trivy-config")
    expected = {f"{m['id']}/{f}" for m in metas for f in m["dockerfiles"] + m["manifests"]}
    if expected - targets:
        raise GateError(f"trivy config did not scan {sorted(expected - targets)}")
    return findings


def run_trivy_secret(out: pathlib.Path, metas: list[Collected]) -> list[Finding]:
    args = ["fs", "--scanners", "secret", "--secret-config", "", "--skip-db-update", "--offline-scan"]
    return parse_trivy(_trivy(out, args, "trivy-secret"), "trivy-secret")[0]


def run_zizmor(out: pathlib.Path, metas: list[Collected]) -> list[Finding]:
    inputs = [m["id"] for m in metas if m["workflows"]]
    if not inputs:
        return []
    cmd = [tool("zizmor"), "--offline", "--no-ignores", "--format", "json", *inputs]
    # zizmor exits 10-14 when it finds something (by the highest severity)
    proc = run(cmd, cwd=out / "tree", ok=(0, 10, 11, 12, 13, 14), env={"NO_COLOR": "1"}, timeout=TIMEOUT)
    return parse_zizmor(_json(proc, "zizmor"))


def run_k8s(out: pathlib.Path, metas: list[Collected]) -> list[Finding]:
    findings = []
    for m in metas:
        for rel in m["manifests"]:
            docs = [d for d in yaml.safe_load_all((out / "built" / m["id"] / rel).read_text()) if d]
            findings += k8s_findings(m["id"], rel, docs)
    return findings


def k8s_objects_by_line(path: pathlib.Path) -> list[tuple[int, int, str]]:
    """(first line, last line, "Kind/name") of each document of a multi-document manifest."""
    out = []
    for node in yaml.compose_all(path.read_text()):
        if isinstance(node, yaml.MappingNode):
            doc = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
            kind = getattr(doc.get("kind"), "value", "?")
            meta = {k.value: v for k, v in getattr(doc.get("metadata"), "value", [])}
            name = getattr(meta.get("name"), "value", "?")
            out.append((node.start_mark.line + 1, node.end_mark.line + 1, f"{kind}/{name}"))
    return out


def name_k8s_objects(out: pathlib.Path, findings: list[Finding]) -> None:
    """trivy names no object for Kubernetes findings: find it from the finding's line."""
    cache: dict[tuple[str, str], list] = {}
    for f in findings:
        if f.tool == "trivy-config" and f.file.startswith("kustomize/") and f.line and not f.resource:
            key = (f.combo, f.file)
            if key not in cache:
                cache[key] = k8s_objects_by_line(out / "built" / f.combo / f.file)
            f.resource = next((name for lo, hi, name in cache[key] if lo <= f.line <= hi), "")


RUNNERS: dict[str, Callable[[pathlib.Path, list[Collected]], list[Finding]]] = {
    "hadolint": run_hadolint,
    "compose-lint": run_compose_lint,
    "checkov-tree": lambda out, metas: run_checkov(out, metas, "tree"),
    "checkov-built": lambda out, metas: run_checkov(out, metas, "built"),
    "trivy-config": run_trivy_config,
    "trivy-secret": run_trivy_secret,
    "zizmor": run_zizmor,
    "kubernetes": run_k8s,
}


CANARY = "_canary"  # a fake combination holding a fake credential: the secret scanners must see it


def plant_canary(out: pathlib.Path) -> None:
    key = "AKIA" + "QX4RZ7T2MK9PLW3N"  # AWS access key id shape; split so this file holds none
    (out / "tree" / CANARY).mkdir(parents=True, exist_ok=True)
    (out / "tree" / CANARY / "settings.py").write_text(f'aws_access_key_id = "{key}"\n')


def check_canary(findings: list[Finding]) -> list[Finding]:
    """Drop the canary's findings after checking that each secret scanner reported it."""
    seen = {f.tool for f in findings if f.combo == CANARY}
    missing = {"checkov", "trivy-secret"} - seen
    if missing:
        raise GateError(
            f"{sorted(missing)} did not find the planted fake credential: secret scanning is broken"
        )
    return [f for f in findings if f.combo != CANARY]


def scan(out: pathlib.Path, metas: list[Collected], jobs: int, only: set[str] | None = None) -> list[Finding]:
    """Every scanner over every combination: one invocation per scanner, run concurrently."""
    findings: list[Finding] = []
    errors = []
    canary = only is None
    if canary:
        plant_canary(out)
    names = [n for n in RUNNERS if only is None or n in only]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(jobs, 2)) as pool:
        futures = {pool.submit(RUNNERS[n], out, metas): n for n in names}
        for future in concurrent.futures.as_completed(futures):
            try:
                findings += future.result()
            except ToolError as e:  # GateError included
                errors.append(f"{futures[future]}: {e}")
    if errors:
        raise GateError("\n\n".join(errors))
    name_k8s_objects(out, findings)
    return check_canary(findings) if canary else findings
