"""Security scanners on generated projects, through the security gate's own functions
(tools/security_gate/, run in full by `nox -s security`):

- the gate's logic on synthetic findings: severity mapping, accepted-matching, stale entries, verdict;
- four combinations scanned for real, as before the gate existed: checkov (Dockerfiles, workflows,
  secrets; built Kubernetes overlays), trivy (built overlays, MEDIUM and up), compose-lint (the
  merged production model, MEDIUM and up). Zero findings, except the ones security/accepted.yml
  accepts.
(The supported combinations themselves are checked in tests/test_matrix.py.)
"""

from __future__ import annotations

import pathlib

import pytest

from dwsupport import REPO, matrix
from dwsupport.render import Renders
from tools.security_gate import collect, parsers, report, runners
from tools.security_gate.collect import Collected
from tools.security_gate.findings import (
    SCANNERS,
    SEVERITIES,
    Accepted,
    Finding,
    apply_accepted,
    load_accepted,
)

ACCEPTED = load_accepted()
SCANNED = ["defaults@vps", "everything@all-targets", "api@gke", "frontend+nginx@vps+private"]


# ------------------------------------------------------------------ the gate's logic
def finding(**kw) -> Finding:
    base = {"tool": "checkov", "rule": "CKV_X", "severity": "HIGH", "combo": "c@vps", "file": "Dockerfile"}
    return Finding(**{**base, "message": "m", **kw})


def test_severity_mapping():
    hadolint = parsers.parse_hadolint(
        [
            {"file": "c@vps/Dockerfile", "code": f"DL{i}", "level": level, "line": 1, "message": "m"}
            for i, level in enumerate(["error", "warning", "info", "style"])
        ]
    )
    assert [f.severity for f in hadolint] == ["HIGH", "MEDIUM", "LOW", "LOW"]
    assert {(f.combo, f.file) for f in hadolint} == {("c@vps", "Dockerfile")}
    check = {"check_id": "CKV_K8S_1", "check_name": "n", "file_path": "/c@vps/kustomize/gke.yaml"}
    checkov, checked = parsers.parse_checkov(
        [
            {
                "check_type": "kubernetes",
                "summary": {"passed": 3, "failed": 1},
                "results": {"failed_checks": [{**check, "severity": "LOW"}], "skipped_checks": [check]},
            }
        ]
    )
    assert [f.severity for f in checkov] == ["HIGH", "HIGH"]  # no severity offline: strict; inline skips too
    assert checkov[0].file == "kustomize/gke.yaml" and checked["kubernetes"] == 4
    zizmor = parsers.parse_zizmor(
        [
            {
                "ident": "some-audit",
                "desc": "d",
                "determinations": {"severity": sev},
                "locations": [
                    {
                        "symbolic": {
                            "key": {"Local": {"verbatim_path": "c@vps/.github/workflows/ci.yml"}},
                            "kind": "Primary",
                        }
                    }
                ],
            }
            for sev in ("High", "Medium", "Low", "Informational")
        ]
    )
    assert [f.severity for f in zizmor] == ["HIGH", "MEDIUM", "LOW", "LOW"]
    trivy, _ = parsers.parse_trivy(
        {"Results": [{"Target": "c@vps/Dockerfile", "Class": "config", "Misconfigurations": [
            {"ID": "DS-0002", "Severity": "HIGH", "Status": "FAIL"},
            {"ID": "DS-0001", "Severity": "UNKNOWN", "Status": "FAIL"},
            {"ID": "DS-0003", "Severity": "CRITICAL", "Status": "PASS"},
        ]}]},
        "trivy-config",
    )  # fmt: skip
    assert [(f.rule, f.severity) for f in trivy] == [("DS-0002", "HIGH"), ("DS-0001", "HIGH")]
    lint = parsers.parse_compose_lint(
        {
            "findings": [
                {"file": "c@vps/compose/prod.yml", "rule_id": "CL-1", "severity": "medium", "service": "db"}
            ]
        }
    )
    assert (lint[0].severity, lint[0].resource, lint[0].file) == ("MEDIUM", "db", "compose/prod.yml")


def test_kubernetes_schema_and_pod_security_severities():
    pod = {
        "containers": [
            {
                "name": "app",
                "image": "nginx:1.27.0",
                "securityContext": {"privileged": True, "runAsUser": 0},
            }
        ]
    }
    docs = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod},
        {"apiVersion": "cloud.google.com/v1", "kind": "BackendConfig", "metadata": {"name": "b"}, "spec": {}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "dat": {}},
    ]
    found = {
        (f.tool, f.rule, f.resource.split(" ")[0]): f.severity
        for f in parsers.k8s_findings("c", "k.yaml", docs)
    }
    # a GKE kind the overlays no longer use (Ingress era): no vendored schema, so as unknown as any
    assert found[("kubernetes-validate", "no-schema", "BackendConfig/b")] == "HIGH"
    assert found[("kubernetes-validate", "no-schema", "Widget/w")] == "HIGH"
    assert found[("kubernetes-validate", "schema", "ConfigMap/c")] == "HIGH"  # strict: unknown field
    pss = {rule for (tool, rule, _), sev in found.items() if tool == "pod-security" and sev == "HIGH"}
    assert {"pss/privileged", "pss/run-as-non-root-user", "pss/privilege-escalation", "pss/seccomp"} <= pss


def test_accepted_matching_stale_entries_and_verdict():
    accepted = [
        Accepted("checkov", "CKV_A", ("kustomize/*.yaml",), "images are pinned"),
        Accepted("compose-lint", "CL-1", ("compose/prod.yml",), "entry point", resource="proxy"),
        Accepted("trivy-config", "KSV-1", ("kustomize/*.yaml",), "matches nothing"),
    ]
    findings = [
        finding(rule="CKV_A", file="kustomize/gke.yaml"),
        finding(rule="CKV_A", file="Dockerfile"),  # same rule, other file: not accepted
        finding(
            tool="compose-lint", rule="CL-1", severity="MEDIUM", file="compose/prod.yml", resource="proxy"
        ),
        finding(tool="compose-lint", rule="CL-1", severity="HIGH", file="compose/prod.yml", resource="db"),
        finding(rule="CKV_B", severity="LOW"),
    ]
    stale = apply_accepted(findings, accepted)
    assert [f.accepted for f in findings] == ["images are pinned", None, "entry point", None, None]
    assert [e.rule for e in stale] == ["KSV-1"]
    assert [(f.rule, f.file, f.resource) for f in findings if f.blocking] == [
        ("CKV_A", "Dockerfile", ""),
        ("CL-1", "compose/prod.yml", "db"),
    ]
    text, ok = report.summarize(findings, stale, ["c@vps"], full=True)
    assert not ok and "FAIL: 2 CRITICAL/HIGH" in text and "stale" in text
    assert report.cell([f for f in findings if f.tool == "checkov"]) == "0/1/0/1"  # open C/H/M/L
    assert "0/1/0/1" in text.splitlines()[3] and text.splitlines()[3].startswith("c@vps")
    # only LOW/MEDIUM and accepted findings left: it passes; a stale entry fails the full run only
    rest = [f for f in findings if not f.blocking]
    assert report.summarize(rest, [], ["c@vps"], full=True)[1]
    assert not report.summarize(rest, stale, ["c@vps"], full=True)[1]
    assert report.summarize(rest, stale, ["c@vps"], full=False)[1]


def test_accepted_file_is_well_formed(tmp_path):
    assert ACCEPTED, "security/accepted.yml is empty"
    assert not (REPO / "tests" / "security_exceptions.yml").exists(), "one file: security/accepted.yml"
    for entry in ACCEPTED:
        assert entry.tool in SCANNERS and len(entry.reason) > 30, entry
    broken = tmp_path / "accepted.yml"
    broken.write_text("- {tool: checkov, rule: CKV_A, files: [Dockerfile]}\n")
    with pytest.raises(ValueError, match="reason"):
        load_accepted(broken)
    broken.write_text("- {tool: chekov, rule: CKV_A, files: [Dockerfile], reason: typo in the tool}\n")
    with pytest.raises(ValueError, match="tool"):
        load_accepted(broken)


# ------------------------------------------------------------------ real scans
@pytest.fixture(params=SCANNED, scope="module")
def scanned(
    request: pytest.FixtureRequest, renders: Renders, tmp_path_factory: pytest.TempPathFactory
) -> tuple[pathlib.Path, Collected]:
    """(scan root, what the gate collected) for one combination: tree/<id>/ and built/<id>/."""
    combo = matrix.by_id(matrix.SUPPORTED)[request.param]
    out = tmp_path_factory.mktemp("security")
    return out, collect.collect(combo.id, renders.of(combo).root, out)


def unaccepted(findings: list[Finding], minimum: str = "LOW") -> list[str]:
    apply_accepted(findings, load_accepted())
    worst = SEVERITIES.index(minimum)
    return [str(f) for f in findings if not f.accepted and SEVERITIES.index(f.severity) <= worst]


def test_checkov_project_files(scanned):
    # raises GateError when a framework checked nothing; secrets scans every file
    out, meta = scanned
    problems = unaccepted(runners.run_checkov(out, [meta], "tree"))
    assert not problems, "\n".join(problems)


# the gate's runners on the built overlays, and the lowest severity that fails the test
@pytest.mark.parametrize(("runner", "minimum"), [("checkov-built", "LOW"), ("trivy-config", "MEDIUM")])
def test_kubernetes_scanners(scanned, runner, minimum):
    out, meta = scanned
    if not meta["manifests"]:
        pytest.skip("no Kubernetes target in this combination")
    problems = unaccepted(runners.RUNNERS[runner](out, [meta]), minimum=minimum)
    assert not problems, "\n".join(problems)


def test_compose_lint_production(scanned):
    out, meta = scanned
    if "compose/prod.yml" not in meta["compose"]:
        pytest.skip("no vps target in this combination")
    prod = [f for f in runners.run_compose_lint(out, [meta]) if f.file == "compose/prod.yml"]
    problems = unaccepted(prod, minimum="MEDIUM")
    assert not problems, "\n".join(problems)


def test_readme_rows_must_match_the_run(tmp_path):
    """README.md publishes some combinations' counts; a full run fails when they drift."""
    findings = [
        finding(combo="defaults@vps", tool="compose-lint", severity="MEDIUM"),
        finding(combo="defaults@vps", tool="checkov", severity="HIGH", accepted="a reason"),
    ]
    zeros = ["0/0/0/0"] * len(SCANNERS)
    row = dict(zip(SCANNERS, zeros, strict=True)) | {"compose-lint": "0/0/1/0"}
    readme = tmp_path / "README.md"
    readme.write_text("| `defaults@vps` | " + " | ".join(row.values()) + " | 1 |\n| `nope` | x |\n")
    known = ["defaults@vps"]
    assert report.readme_drift(findings, known, readme) == []
    readme.write_text("| `defaults@vps` | " + " | ".join(zeros) + " | 0 |\n")
    assert report.readme_drift(findings, known, readme) == [
        "defaults@vps compose-lint: README.md says 0/0/0/0, this run 0/0/1/0",
        "defaults@vps accepted: README.md says 0, this run 1",
    ]
    text, ok = report.summarize(findings, [], known, True, report.readme_drift(findings, known, readme))
    assert not ok and "README.md's Security table is out of date" in text
