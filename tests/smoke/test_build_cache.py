"""Build-cache behaviour, checked rather than assumed: after a change to app code only, a rebuild
takes the dependency layer (uv sync / npm ci) from the cache and re-runs only the layers after
the code COPY. Read from BuildKit's plain progress output (`#N [stage i/n] STEP` … `#N CACHED`).
"""

from __future__ import annotations

import re
import uuid

import pytest

from dwsupport import matrix, smoke
from dwsupport.render import copy

pytestmark = pytest.mark.docker

# service → (file changed, line appended, the dependency step, the steps that must re-run)
CASES = {
    "api": ("api/app/main.py", "# smoke cache probe {}\n", "uv sync", ["COPY api/app", "compileall"]),
    "frontend": (
        "frontend/src/main.ts",
        "// smoke cache probe {}\n",
        "npm ci",
        ["COPY . .", "npm run build"],
    ),
}


def build_steps(output: str) -> dict[str, str]:
    """{step description: CACHED | DONE | ERROR | …} from `--progress plain` output."""
    names: dict[str, str] = {}
    states: dict[str, str] = {}
    for line in output.splitlines():
        m = re.match(r"#(\d+) (\[.*)$", line)
        if m:
            names.setdefault(m[1], m[2])
            continue
        m = re.match(r"#(\d+) (CACHED|DONE\b|ERROR|CANCELED)", line)
        if m:
            states[m[1]] = m[2]
    return {names[n]: states.get(n, "?") for n in names}


def find(steps: dict[str, str], needle: str) -> tuple[str, str]:
    hits = [(name, state) for name, state in steps.items() if needle in name]
    assert len(hits) == 1, f"expected one build step containing {needle!r}, got {hits}\nall: {list(steps)}"
    return hits[0]


@pytest.mark.parametrize("service", list(CASES))
def test_code_change_reuses_dependency_layer(service, tmp_path, stacks, smoke_record, step):
    path, line, dependency, rerun = CASES[service]
    smoke_record["config"] = f"build cache: {service}"
    step("render")
    project = copy(tmp_path / "project", **matrix.DEFAULTS.answers())  # api and frontend
    smoke.tag_standins(project)

    step("first build")
    first = stacks(project)
    out = first.build(service, progress="plain")
    steps = build_steps(out.stdout + out.stderr)
    find(steps, dependency)  # the dependency step exists (whether cached or not)

    step("code-only change, rebuild")
    with (project / path).open("a") as f:
        f.write(line.format(uuid.uuid4().hex))
    second = stacks(project)  # new content → new content-addressed tag: shared tags untouched
    tag_var = "API_TAG" if service == "api" else "FRONTEND_TAG"
    assert second.env[tag_var] != first.env[tag_var]
    try:
        out = second.build(service, progress="plain")
        smoke_record["build"] = second.timings["build"]
        steps = build_steps(out.stdout + out.stderr)
        name, state = find(steps, dependency)
        assert state == "CACHED", f"dependency layer rebuilt after a code-only change: {name} → {state}"
        for needle in rerun:
            name, state = find(steps, needle)
            assert state == "DONE", f"{name} should re-run after a code change, got {state}"
        step("done")
    finally:
        image = f"{'api' if service == 'api' else 'frontend'}:{second.env[tag_var]}"
        for img in second.client.images.list():
            for tag in img.tags:
                if tag.endswith("/" + image):
                    second.client.images.remove(tag, noprune=False)
