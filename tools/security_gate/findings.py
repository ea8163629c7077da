"""Findings, and the one place where a finding is accepted: security/accepted.yml.

Inline suppressions are not honoured (hadolint pragmas, zizmor ignore comments, .trivyignore):
each entry of security/accepted.yml accepts a finding, with a reason:

    - tool: checkov             # one of SCANNERS
      rule: CKV_K8S_43          # the scanner's rule id
      files: [kustomize/*.yaml] # fnmatch globs on the finding's path (see tools/security_gate/)
      resource: "*"             # optional glob on the resource (compose service, k8s object…)
      reason: >-
        why this is right for every project the template generates

An entry that matches no finding is stale: a full run fails on it, so the list cannot rot.
"""

from __future__ import annotations

import fnmatch
import pathlib
from dataclasses import dataclass, field

import yaml

from dwsupport import REPO
from dwsupport.tools import ToolError

ACCEPTED = REPO / "security" / "accepted.yml"
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
BLOCKING = {"CRITICAL", "HIGH"}
SCANNERS = (
    "hadolint",
    "compose-lint",
    "checkov",
    "trivy-config",
    "trivy-secret",
    "zizmor",
    "kubernetes-validate",
    "pod-security",
)


class GateError(ToolError):
    """A scanner could not do its job (crash, unreadable output, nothing scanned)."""


@dataclass
class Finding:
    tool: str
    rule: str
    severity: str
    combo: str
    file: str
    message: str
    resource: str = ""
    line: int | None = None
    accepted: str | None = None  # the reason, when security/accepted.yml accepts it

    @property
    def blocking(self) -> bool:
        return self.severity in BLOCKING and not self.accepted

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        res = f" [{self.resource}]" if self.resource else ""
        return f"{self.severity:<8} {self.tool} {self.rule} {self.combo} {where}{res}: {self.message}"


@dataclass
class Accepted:
    tool: str
    rule: str
    files: tuple[str, ...]
    reason: str
    resource: str | None = None
    matched: int = field(default=0, compare=False)

    def matches(self, f: Finding) -> bool:
        return (
            f.tool == self.tool
            and f.rule == self.rule
            and any(fnmatch.fnmatchcase(f.file, glob) for glob in self.files)
            and (self.resource is None or fnmatch.fnmatchcase(f.resource, self.resource))
        )

    def __str__(self) -> str:
        res = f" resource {self.resource}" if self.resource else ""
        return f"{self.tool} {self.rule} on {', '.join(self.files)}{res}"


def load_accepted(path: pathlib.Path = ACCEPTED) -> list[Accepted]:
    entries = yaml.safe_load(path.read_text()) or []
    out = []
    for i, e in enumerate(entries):
        where = f"{path.name} entry {i + 1}"
        unknown = set(e) - {"tool", "rule", "files", "resource", "reason"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        if e.get("tool") not in SCANNERS:
            raise ValueError(f"{where}: tool must be one of {', '.join(SCANNERS)}")
        if not str(e.get("rule", "")).strip() or not str(e.get("reason", "")).strip():
            raise ValueError(f"{where}: needs a rule and a reason")
        files = e.get("files")
        files = [files] if isinstance(files, str) else files
        if not files:
            raise ValueError(f"{where}: needs files (a glob or a list of globs)")
        out.append(
            Accepted(
                e["tool"], str(e["rule"]), tuple(files), " ".join(e["reason"].split()), e.get("resource")
            )
        )
    return out


def apply_accepted(findings: list[Finding], accepted: list[Accepted]) -> list[Accepted]:
    """Mark the findings accepted entries match (first entry wins); return the stale entries."""
    for f in findings:
        for entry in accepted:
            if entry.matches(f):
                entry.matched += 1
                f.accepted = entry.reason
                break
    return [e for e in accepted if not e.matched]
