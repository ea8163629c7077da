"""Every Python version the questionnaire offers builds the api image and runs it, for real.

For each `python_version` choice (copier.yml), the same answers otherwise (api + db, PostgreSQL
18): render → stand-ins tagged (offline-docker maps python:3.15* to Debian's CPython 3.15, etc.)
→ build → inside the image: the interpreter is that version, and every installed distribution is
the version uv.lock pins, compiled ones from a wheel the lock lists for that CPython (the WHEEL
file's tags among the lock's wheel names; every extension module's ABI tag is that CPython's or
abi3) → `up --wait` (migrations against PostgreSQL 18) → an item round-trip. The summary table
prints the image size, what it adds to its base, the build time and the health per version.
"""

from __future__ import annotations

import json
import pathlib
import tomllib
from typing import Any

import pytest

from dwsupport import probes, smoke
from dwsupport.render import COPIER_YML, copy

pytestmark = pytest.mark.docker

VERSIONS = list(COPIER_YML["python_version"]["choices"].values())

# Runs inside the api image: what is installed, from which wheel, with which extension modules.
PROBE = r"""
import importlib.metadata as md, json, sys, sysconfig
out = {"version": list(sys.version_info[:2]), "soabi": sysconfig.get_config_var("SOABI"), "dists": {}}
for dist in md.distributions():
    files = [str(f) for f in (dist.files or [])]
    wheel = dist.read_text("WHEEL") or ""
    out["dists"][dist.metadata["Name"].lower().replace("_", "-")] = {
        "version": dist.version,
        "tags": [l.split(":", 1)[1].strip() for l in wheel.splitlines() if l.startswith("Tag:")],
        "extensions": [f.rsplit("/", 1)[-1] for f in files if f.endswith(".so")],
    }
print(json.dumps(out))
"""


def locked_wheels(project: pathlib.Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, wheel file names) from the project's uv.lock."""
    lock = tomllib.loads((project / "api" / "uv.lock").read_text())
    return {
        p["name"]: (p["version"], [w["url"].rsplit("/", 1)[-1] for w in p.get("wheels", [])])
        for p in lock["package"]
    }


def wheel_tags(filename: str) -> set[str]:
    """Every python-abi-platform tag a wheel file name stands for (compressed tag sets expanded)."""
    python, abi, platform = filename.removesuffix(".whl").split("-")[-3:]
    return {f"{p}-{a}-{pl}" for p in python.split(".") for a in abi.split(".") for pl in platform.split(".")}


def built_for(tag: str, cp: str) -> bool:
    """A wheel tag for this CPython: cp314-cp314-…, or the stable ABI of an older or equal one."""
    python, abi, _ = tag.split("-")
    if abi == "abi3":
        return python.startswith("cp3") and int(python[3:]) <= int(cp[3:])
    return python == cp and abi == cp


def check_installed(probe: dict[str, Any], lock: dict[str, tuple[str, list[str]]], version: str) -> list[str]:
    cp = "cp" + version.replace(".", "")
    problems = []
    if probe["version"] != [int(x) for x in version.split(".")]:
        problems.append(f"interpreter is {probe['version']}, not {version}")
    compiled = 0
    for name, dist in probe["dists"].items():
        if name in ("pip", "setuptools"):  # the base image's own, outside the venv's lock
            continue
        if name not in lock:
            problems.append(f"{name} {dist['version']} is installed but not in uv.lock")
            continue
        locked_version, wheels = lock[name]
        if dist["version"] != locked_version:
            problems.append(f"{name} {dist['version']} installed, uv.lock pins {locked_version}")
        available = set().union(*map(wheel_tags, wheels)) if wheels else set()
        if not dist["tags"] or not set(dist["tags"]) <= available:
            problems.append(f"{name}: installed wheel tags {dist['tags']} are not a wheel of the lock")
        for module in dist["extensions"]:
            compiled += 1
            if f".cpython-{cp[2:]}-" not in module and ".abi3." not in module:
                problems.append(f"{name}: {module} is not built for CPython {version}")
        if dist["extensions"] and not all(built_for(tag, cp) for tag in dist["tags"]):
            problems.append(f"{name}: compiled, but its wheel is tagged {dist['tags']}, not {cp}")
    if compiled == 0:
        problems.append("no compiled extension found: the probe is not looking at the api's venv")
    return problems


@pytest.mark.parametrize("version", VERSIONS, ids=[f"py{v}" for v in VERSIONS])
def test_api_builds_and_runs_on_every_offered_python(version, tmp_path, stacks, smoke_record, docker_engine):
    record = smoke_record
    record["config"] = f"api+db python {version}"
    record["step"] = "render"
    project = copy(tmp_path / "project", services=["api", "db"], python_version=version)
    smoke.tag_standins(project)
    stack = stacks(project)

    record["step"] = "build"
    stack.build("api")
    record["build"] = stack.timings["build"]
    image = stack.config()["services"]["api"]["image"]
    base = next(
        line.split()[1]
        for line in reversed((project / "Dockerfile").read_text().splitlines())
        if line.startswith("FROM ")
    )
    assert base.startswith(f"python:{version}.") and base.endswith("-slim-trixie"), base
    size, base_size = (docker_engine.images.get(ref).attrs["Size"] / 1e6 for ref in (image, base))
    # the summary table prints the configuration's name: the sizes go there
    record["config"] = f"py{version} {size:.0f} MB = {base_size:.0f} + {size - base_size:.0f} MB"

    record["step"] = "interpreter and wheels"
    raw = stack.compose("run", "--rm", "--no-deps", "-T", "api", "python", "-c", PROBE)
    probe = json.loads(raw.stdout.strip().splitlines()[-1])
    problems = check_installed(probe, locked_wheels(project), version)
    assert not problems, "\n".join(problems)

    record["step"] = "up --wait (migrations on PostgreSQL 18)"
    record["up"] = stack.up()
    migrate = next(row for row in stack.ps() if row["Service"] == "migrate")
    assert migrate["State"] == "exited" and migrate["ExitCode"] == 0, migrate
    db_version = stack.exec("db", "psql", "-U", "my_app", "-d", "my_app", "-tAc", "SHOW server_version")
    assert db_version.stdout.strip().startswith("18"), db_version.stdout

    record["step"] = "item round-trip"
    port = stack.ports["API_PORT"]
    created = probes.http(port, "/items", method="POST", payload={"name": f"py{version}"})
    assert created.status == 201, str(created)
    listed = probes.http(port, "/items")
    assert [item["name"] for item in listed.json()] == [f"py{version}"], str(listed)
    assert probes.http(port, "/healthz").status == 200
    record["step"] = "done"
