"""The scanners' JSON reports → findings, each with a severity on one scale.

Severity mapping (to CRITICAL / HIGH / MEDIUM / LOW):
  hadolint             error → HIGH, warning → MEDIUM, info and style → LOW
  checkov              without the Prisma platform API checks carry no severity: every failed
                       check counts as HIGH (strict); inline `checkov:skip` suppressions too
  trivy (config/secret) its own severity; UNKNOWN → HIGH
  compose-lint         its own severity (critical/high/medium/low)
  zizmor               its own severity (high/medium/low); informational → LOW
  kubernetes-validate  schema errors → HIGH; a kind without a schema → HIGH. The Gateway API and
                       GKE policy kinds (no schema in kubernetes-validate) are checked against the
                       CRD schemas in tests/schemas/ instead, and by the CEL rules and references
                       of dwsupport/gateway.py: rules crd-schema and crd-rule, HIGH
  pod-security         every violation → HIGH, and NetworkPolicy rules that open every port or an
                       address block wider than a /8 (house/network-policy)

Paths in a report are relative to the scan root: `<combination id>/<file>`.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from dwsupport import gateway, pod_security
from dwsupport.k8s import K8S_VERSIONS, open_network_policies
from tools.security_gate.findings import SEVERITIES, Finding, GateError

Report = dict[str, Any]


def split(path: str) -> tuple[str, str]:
    """'<combo>/<file>' (as a tool reports it, relative to the scan root) → (combo, file)."""
    path = path.replace("\\", "/").lstrip("/")
    if path.startswith("./"):
        path = path[2:]
    combo, _, rel = path.partition("/")
    return combo, rel


HADOLINT_LEVELS = {"error": "HIGH", "warning": "MEDIUM", "info": "LOW", "style": "LOW"}


def parse_hadolint(items: list[dict]) -> list[Finding]:
    out = []
    for item in items:
        combo, rel = split(item["file"])
        sev = HADOLINT_LEVELS.get(item.get("level", ""), "HIGH")
        out.append(Finding("hadolint", item["code"], sev, combo, rel, item["message"], line=item.get("line")))
    return out


def parse_checkov(reports: list[dict] | dict) -> tuple[list[Finding], Counter]:
    """Findings, and how many checks ran per framework (a scan that checked nothing is an error)."""
    reports = reports if isinstance(reports, list) else [reports]
    out: list[Finding] = []
    checked: Counter[str] = Counter()
    for report in reports:
        summary = report.get("summary", {})
        framework = report.get("check_type", "?")
        checked[framework] += summary.get("passed", 0) + summary.get("failed", 0)
        results = report.get("results", {})
        failed = [(c, "") for c in results.get("failed_checks", [])]
        skipped = [(c, " (suppressed inline: not honoured)") for c in results.get("skipped_checks", [])]
        for check, note in failed + skipped:
            combo, rel = split(check["file_path"])
            lines = check.get("file_line_range") or [None]
            out.append(
                Finding(
                    "checkov",
                    check["check_id"],
                    "HIGH",
                    combo,
                    rel,
                    f"{check.get('check_name', '')}{note}",
                    resource=(check.get("resource") or "").removeprefix(f"/{combo}/"),
                    line=lines[0],
                )
            )
        for path in results.get("parsing_errors", []):
            combo, rel = split(path)
            out.append(Finding("checkov", "parse-error", "HIGH", combo, rel, "checkov could not parse it"))
    return out, checked


def _trivy_severity(value: str | None) -> str:
    value = (value or "UNKNOWN").upper()
    return value if value in SEVERITIES else "HIGH"


def parse_trivy(doc: dict, tool: str) -> tuple[list[Finding], set[str]]:
    """Findings (misconfigurations and secrets) and the targets trivy reported on."""
    out, targets = [], set()
    for result in doc.get("Results") or []:
        target = result.get("Target", "")
        if result.get("Class") in ("config", "secret"):
            targets.add(target)
        combo, rel = split(target)
        for m in result.get("Misconfigurations") or []:
            if m.get("Status", "FAIL") != "FAIL":
                continue
            cause = m.get("CauseMetadata") or {}
            out.append(
                Finding(
                    tool,
                    m.get("ID") or m.get("AVDID", "?"),
                    _trivy_severity(m.get("Severity")),
                    combo,
                    rel,
                    f"{m.get('Title', '')}: {m.get('Message', '')}",
                    resource=cause.get("Resource") or "",
                    line=cause.get("StartLine") or None,
                )
            )
        for s in result.get("Secrets") or []:
            out.append(
                Finding(
                    tool,
                    s.get("RuleID", "?"),
                    _trivy_severity(s.get("Severity")),
                    combo,
                    rel,
                    s.get("Title", "secret"),
                    line=s.get("StartLine"),
                )
            )
    return out, targets


def parse_compose_lint(doc: dict) -> list[Finding]:
    out = []
    for item in doc.get("findings", []):
        combo, rel = split(item["file"])
        out.append(
            Finding(
                "compose-lint",
                item["rule_id"],
                _trivy_severity(item.get("severity")),
                combo,
                rel,
                item.get("message", ""),
                resource=item.get("service") or "",
                line=item.get("line"),
            )
        )
    for error in doc.get("errors", []):
        raise GateError(f"compose-lint: {error}")
    return out


ZIZMOR_LEVELS = {"high": "HIGH", "medium": "MEDIUM", "low": "LOW", "informational": "LOW", "unknown": "HIGH"}


def parse_zizmor(items: list[dict]) -> list[Finding]:
    out = []
    for item in items:
        primary = next(
            (loc for loc in item["locations"] if loc["symbolic"].get("kind") == "Primary"),
            item["locations"][0],
        )
        key = primary["symbolic"]["key"]
        path = key.get("Local", {}).get("verbatim_path") or json.dumps(key)
        combo, rel = split(path)
        route = primary["symbolic"].get("route", {}).get("route", [])
        resource = ".".join(str(next(iter(step.values()))) for step in route)
        sev = ZIZMOR_LEVELS.get(str(item["determinations"].get("severity", "")).lower(), "HIGH")
        row = primary.get("concrete", {}).get("location", {}).get("start_point", {}).get("row")
        out.append(
            Finding(
                "zizmor",
                item["ident"],
                sev,
                combo,
                rel,
                f"{item.get('desc', '')}: {primary['symbolic'].get('annotation', '')}",
                resource=resource,
                line=row + 1 if isinstance(row, int) else None,
            )
        )
    return out


def k8s_findings(combo: str, rel: str, docs: list[dict]) -> list[Finding]:
    """kubernetes-validate (strict, every K8S_VERSION) or the vendored CRD schemas, and Pod
    Security, on one built overlay."""
    import kubernetes_validate

    problems: dict[tuple, list[str]] = {}  # (rule, severity, object, message) → versions
    out = []
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if gateway.covered(doc):
            for error in gateway.schema_errors(doc):
                out.append(Finding("kubernetes-validate", "crd-schema", "HIGH", combo, rel, error, name))
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                problems.setdefault(("no-schema", "HIGH", name, "no schema for this kind"), []).append(
                    version
                )
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                key = ("schema", "HIGH", name, f"{path}: {e.message}")
                problems.setdefault(key, []).append(version)
    out += [
        Finding(
            "kubernetes-validate", rule, sev, combo, rel, f"{msg} (Kubernetes {', '.join(versions)})", name
        )
        for (rule, sev, name, msg), versions in problems.items()
    ]
    for message in gateway.rule_violations(docs):
        resource, _, text = message.partition(": ")
        out.append(Finding("kubernetes-validate", "crd-rule", "HIGH", combo, rel, text, resource))
    for v in pod_security.violations(docs):
        out.append(Finding("pod-security", v.rule, "HIGH", combo, rel, v.message, resource=v.where))
    for message in open_network_policies(docs):
        resource, _, text = message.partition(": ")
        out.append(
            Finding(
                "pod-security", "house/network-policy", "HIGH", combo, rel, text, f"NetworkPolicy/{resource}"
            )
        )
    return out
