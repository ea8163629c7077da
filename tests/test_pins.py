"""The image pins (extensions/images.yml) and what upstream changed with them.

Every pin names the release and where it was seen (`source`). The upstream changes the bumps
brought are held here: Grafana's image is `grafana/grafana` (`grafana-oss` gets no new tags) and
its file provisioning loads classic dashboard JSON only (Grafana 13 refuses the v2 schema there);
Prometheus keeps its busybox image (the healthcheck's wget; `-distroless` has none); Node is the
trixie variant of the LTS line the frontend declares; the api's base is Debian trixie; the uv
image is the uv the template's own tooling runs.
"""

from __future__ import annotations

import json
import pathlib
import re
import tomllib
from typing import Any

import pytest
import yaml

from dwsupport import REPO, matrix
from dwsupport.compose import compose_config
from dwsupport.render import COPIER_YML, Renders

PINS: dict[str, dict[str, str]] = yaml.safe_load((REPO / "extensions" / "images.yml").read_text())
FRONTEND = REPO / "template" / "{% if use_frontend %}frontend{% endif %}"


def tag(key: str) -> str:
    return PINS[key]["ref"].rsplit(":", 1)[1]


@pytest.mark.parametrize("key", list(PINS))
def test_every_pin_says_where_its_release_was_seen(key):
    entry = PINS[key]
    assert set(entry) == {"ref", "why", "source"}, key
    match = re.match(r"v?(\d+\.\d+(?:\.\d+)?)", tag(key))
    assert match, f"{key}: no version in {entry['ref']}"
    version = match.group(1)
    assert version in entry["source"], f"{key}: the source must name the version it saw ({version})"


def test_a_pin_for_every_offered_python_and_postgres():
    pythons = set(COPIER_YML["python_version"]["choices"].values())
    majors = set(COPIER_YML["postgres_version"]["choices"].values())
    keys = {f"python_{v.replace('.', '_')}" for v in pythons} | {f"postgres_{m}" for m in majors}
    assert keys <= set(PINS)
    assert not {k for k in PINS if k.startswith(("python_", "postgres_"))} - keys, "a pin nothing offers"
    for major in majors:
        assert tag(f"postgres_{major}").startswith(f"{major}."), major


def test_grafana_is_the_renamed_image():
    assert PINS["grafana"]["ref"].startswith("grafana/grafana:"), "grafana-oss is frozen at 12.4"


def test_node_is_the_trixie_variant_of_the_line_the_frontend_declares():
    engines = json.loads(
        (FRONTEND / "package.json.jinja").read_text().replace("{{ npm_license | tojson }}", '"MIT"')
    )["engines"]["node"]
    major = tag("node").split(".")[0]
    assert tag("node").endswith("-trixie-slim"), "node:24-slim is bookworm: name trixie explicitly"
    assert engines == f"^{major}.0.0", (engines, major)
    types = json.loads(
        (FRONTEND / "package.json.jinja").read_text().replace("{{ npm_license | tojson }}", '"MIT"')
    )["devDependencies"]["@types/node"]
    assert types.split(".")[0] == major, "@types/node follows the Node major"


def test_uv_image_is_the_uv_of_the_template_tooling():
    tooling = tomllib.loads((REPO / "pyproject.toml").read_text())["dependency-groups"]["test"]
    assert f"uv=={tag('uv')}" in tooling


@pytest.fixture(scope="module")
def observability(renders: Renders) -> tuple[pathlib.Path, dict[str, Any]]:
    project = renders.of(matrix.EVERYTHING).root
    return project, compose_config(project)


def test_prometheus_image_has_the_healthchecks_wget(observability):
    _, config = observability
    prometheus = config["services"]["prometheus"]
    assert prometheus["healthcheck"]["test"][1] == "wget"
    assert "distroless" not in prometheus["image"], "the -distroless image has no wget"
    flags = {arg.split("=", 1)[0] for arg in prometheus["command"]}
    # Prometheus 3 removed --storage.tsdb.retention, the agent/remote-write feature flags, …:
    # the smoke suite runs these flags on Prometheus 3; here, only flags still documented for it.
    assert flags <= {"--config.file", "--storage.tsdb.path", "--storage.tsdb.retention.time"}, flags


def test_dashboards_are_classic_json_that_file_provisioning_loads(observability):
    project, _ = observability
    for path in (project / "grafana" / "dashboards").glob("*.json"):
        dashboard = json.loads(path.read_text())
        # Grafana 13's file provisioning refuses the v2 schema (`elements`/`layout`, the shape the
        # UI exports in 13): keep dashboards classic, or they silently vanish from Grafana.
        assert not {"elements", "layout", "apiVersion", "spec"} & set(dashboard), path.name
        assert isinstance(dashboard["schemaVersion"], int) and dashboard["panels"], path.name
        assert all("gridPos" in panel for panel in dashboard["panels"]), path.name
