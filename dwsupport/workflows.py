"""GitHub Actions workflows and composite actions, parsed: their steps, the `uses:` references and
their `with:` inputs checked against each pinned action's own action.yml (vendored in
tests/data/action_inputs.yml), the settings (`vars.X`, `secrets.X`) they read, and the deploy
steps' order (signature verification before anything changes the target).

Used by the tests of the generated workflows (tests/test_ci_workflows.py, test_deploy_signatures.py,
test_action_inputs.py, test_settings_docs.py) and of this repository's own (.github/,
tests/test_template_ci.py).
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterable, Iterator
from typing import Any

import yaml

from dwsupport import REPO

ACTION_INPUTS = REPO / "tests" / "data" / "action_inputs.yml"
# `owner/repo[/path]@<40 hex>` and its `# vX.Y.Z` comment, as written on a `uses:` line
SHA_USES = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
VERSION_COMMENT = re.compile(r"^\s+#\s+v\d+\.\d+\.\d+\s*$")
# `vars.NAME` / `secrets.NAME` inside a workflow expression
SETTING = re.compile(r"\b(vars|secrets)\.([A-Za-z_][A-Za-z0-9_]*)")
Step = dict[str, Any]


def load(path: pathlib.Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def on_(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` block as a map (PyYAML reads the bare key `on` as True)."""
    value: Any = workflow.get("on", workflow.get(True))
    if isinstance(value, dict):
        return value
    return {k: None for k in ([value] if isinstance(value, str) else value)}


def steps(job: dict[str, Any]) -> list[Step]:
    found: list[Step] = job.get("steps") or []
    return found


def all_steps(files: Iterable[pathlib.Path]) -> Iterator[tuple[pathlib.Path, str | None, Step]]:
    """(file, job id or None for a composite action, step) for every step of every file."""
    for path in files:
        data = load(path)
        if "jobs" in data:
            for job_id, job in data["jobs"].items():
                for step in steps(job):
                    yield path, job_id, step
        else:
            for step in data.get("runs", {}).get("steps", []):
                yield path, None, step


def uses_lines(path: pathlib.Path) -> list[tuple[str, str]]:
    """(reference, rest of the line) of every `uses:` line, as written (comments included)."""
    return [(m["ref"], m["rest"]) for m in map(USES_LINE.match, path.read_text().splitlines()) if m]


# ------------------------------------------------------------------ inputs
def vendored_inputs() -> dict[str, dict[str, dict[str, Any]]]:
    """action (owner/repo[/path]) → commit → {version, source, licence, inputs}."""
    data: dict[str, dict[str, dict[str, Any]]] = yaml.safe_load(ACTION_INPUTS.read_text())
    return data


def declared_inputs(step: Step, root: pathlib.Path, vendored: dict[str, Any]) -> dict[str, Any] | str:
    """The inputs the action a step uses declares ({name: {required, default, deprecated}}), or
    why they are unknown. Local actions (`$/...`, `./...`) are read from root."""
    ref: str = step["uses"]
    if ref.startswith(("$/", "./")):
        action = root / ref[2:] / "action.yml"
        if not action.exists():
            return f"{ref}: no {action.relative_to(root)}"
        return {
            k: {"required": bool((v or {}).get("required")), "default": "default" in (v or {})}
            for k, v in (load(action).get("inputs") or {}).items()
        }
    name, _, commit = ref.partition("@")
    entry = vendored.get(name, {}).get(commit)
    if entry is None:
        return (
            f"{ref}: its inputs are not vendored; run `python -m tools.vendor_action_inputs "
            f"<clone of {'/'.join(name.split('/')[:2])}> {name} {commit} <version>`"
        )
    inputs: dict[str, Any] = entry["inputs"]
    return inputs


def input_problems(step: Step, root: pathlib.Path, vendored: dict[str, Any]) -> list[str]:
    """What is wrong with a step's `with:` for the action version it pins: an input that version
    lacks, a required input (without a default) left out, a deprecated input."""
    declared = declared_inputs(step, root, vendored)
    if isinstance(declared, str):
        return [declared]
    given = set(step.get("with") or {})
    ref = step["uses"]
    problems = [f"{ref}: no input `{k}` in that version" for k in sorted(given - set(declared))]
    problems += [
        f"{ref}: required input `{k}` missing"
        for k, spec in declared.items()
        if spec["required"] and not spec["default"] and k not in given
    ]
    problems += [
        f"{ref}: input `{k}` is deprecated" for k in sorted(given) if declared.get(k, {}).get("deprecated")
    ]
    return problems


# ------------------------------------------------------------------ settings
def settings_read(value: Any) -> set[str]:
    """Every `vars.X` / `secrets.X` (as "vars.X") a parsed workflow reads, GITHUB_TOKEN aside."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            found |= settings_read(k) | settings_read(v)
    elif isinstance(value, list):
        for v in value:
            found |= settings_read(v)
    elif isinstance(value, str):
        found |= {f"{kind}.{name}" for kind, name in SETTING.findall(value) if name != "GITHUB_TOKEN"}
    return found


# ------------------------------------------------------------------ deploys
# A step that changes a deploy target: SSH to the server, a deploy script, kubectl or gcloud
# writing something, an image copied into a registry.
CHANGES_TARGET = re.compile(
    r"\bssh\b|deploy\.sh|kubectl\s+(apply|create|replace|patch|delete|set|scale|rollout\s+(undo|restart))"
    r"|gcloud\s[^\n]*\b(deploy|replace|create|update|delete|execute|add-iam-policy-binding)\b"
    r"|imagetools\s+create|docker\s+push|crane\s+(copy|push)|skopeo\s+copy"
)
VERIFY = re.compile(r"\bcosign\s+verify\b")


def changes_target(step: Step) -> bool:
    return bool(CHANGES_TARGET.search(str(step.get("run", ""))))


def verify_problems(job: dict[str, Any], images: list[str]) -> list[str]:
    """The signature checks of a deploy job: one `cosign verify` per image of the project, in one
    step that runs before the first step changing the target."""
    job_steps = steps(job)
    verifying = [i for i, s in enumerate(job_steps) if VERIFY.search(str(s.get("run", "")))]
    changing = [i for i, s in enumerate(job_steps) if changes_target(s)]
    problems = []
    if not changing:
        problems.append("no step deploys anything")
    if not verifying:
        return [*problems, "no step verifies the images' signatures (cosign verify)"]
    if len(verifying) > 1:
        problems.append(f"{len(verifying)} verify steps: one verifies every image")
    script = str(job_steps[verifying[0]]["run"])
    count = len(VERIFY.findall(script))
    if count != len(images):
        problems.append(f"{count} `cosign verify` for {len(images)} images ({', '.join(images)})")
    if changing and changing[0] < verifying[0]:
        name = job_steps[changing[0]].get("name", changing[0])
        problems.append(f"step {name!r} changes the target before the signatures are verified")
    return problems


# ------------------------------------------------------------------ pins and jobs
def pin_problems(path: pathlib.Path, root: pathlib.Path) -> list[str]:
    """Every `uses:` of a workflow or action file pinned to a full commit SHA with its `# vX.Y.Z`
    comment (local `$/...`/`./...` references must exist under root)."""
    problems = []
    for ref, rest in uses_lines(path):
        if ref.startswith(("$/", "./")):
            if not (root / ref[2:]).exists():
                problems.append(f"{path.name}: {ref} does not exist")
        elif not SHA_USES.match(ref):
            problems.append(f"{path.name}: {ref} is not pinned to a full commit SHA")
        elif not VERSION_COMMENT.match(rest):
            problems.append(f"{path.name}: {ref} has no '# vX.Y.Z' comment")
    return problems


def job_problems(name: str, workflow: dict[str, Any]) -> list[str]:
    """Least privilege and bounded runs: no token scope at the top (`permissions: {}`), a
    permissions map and a timeout on every job (a reusable-workflow call takes the callee's)."""
    problems = [] if workflow.get("permissions") == {} else [f"{name}: top-level permissions must be {{}}"]
    for job_id, job in workflow["jobs"].items():
        if not isinstance(job.get("permissions"), dict):
            problems.append(f"{name}/{job_id}: no permissions map")
        if "uses" not in job and not isinstance(job.get("timeout-minutes"), int):
            problems.append(f"{name}/{job_id}: no timeout-minutes")
    return problems
