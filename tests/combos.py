"""The supported combinations of answers, with readable ids: defined once, used by the tests
(tests/test_security.py) and by the security gate (tools/security_gate.py, `nox -s security`).

Every service appears alone or with only what it needs (extensions/rules.py: proxy needs something
to route, db/cache/observability need the api, Cloud Run and Kubernetes targets need the api or
the frontend), every target appears with the default services and with a minimal set, plus the
default answers and everything@all-targets. Ids read `<services>@<targets>`; `defaults` is the
questionnaire's default service set, `everything` all seven, `all-targets` all four targets.

This module imports nothing from pytest: the gate runs it outside the test suite.
"""

from __future__ import annotations

import pathlib
import sys
from dataclasses import dataclass, field

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "extensions"))
import rules

DEFAULTS = ("api", "db", "cache", "frontend", "proxy")
EVERYTHING = tuple(rules.SERVICES)
ALL_TARGETS = tuple(rules.TARGETS)
# Targets on Google Cloud ask for a project ID: give a realistic one, not the derived default.
GCP = {"gcp_project": "acme-prod-123", "gcp_region": "europe-west1"}


@dataclass(frozen=True)
class Combo:
    id: str
    services: tuple[str, ...]
    targets: tuple[str, ...] = ("vps",)
    more: dict = field(default_factory=dict, hash=False, compare=False)

    def answers(self) -> dict:
        """Copier answers (keys are questions in copier.yml; conftest.answers() checks them)."""
        out = {"services": list(self.services), "deploy_targets": list(self.targets)}
        if {"cloudrun", "gke"} & set(self.targets):
            out.update(GCP)
        out.update(self.more)
        return out

    def problems(self) -> str:
        """The questionnaire's verdict on these answers ("" when accepted)."""
        return rules.services(list(self.services)) or rules.targets_with_services(
            list(self.targets), list(self.services)
        )


def _c(id_: str, services, targets=("vps",), **more) -> Combo:
    return Combo(id_, tuple(services), tuple(targets), more)


SUPPORTED: tuple[Combo, ...] = (
    # the default answers, and everything
    _c("defaults@vps", DEFAULTS),
    _c("everything@vps", EVERYTHING),
    _c("everything@all-targets", EVERYTHING, ALL_TARGETS),
    # each service alone, or with only what it needs (target vps)
    _c("api@vps", ["api"]),
    _c("api+db@vps", ["api", "db"]),
    _c("api+cache@vps", ["api", "cache"]),
    _c("api+observability@vps", ["api", "observability"]),
    _c("frontend@vps", ["frontend"]),
    _c("nginx@vps", ["nginx"]),
    _c("nginx+proxy@vps", ["nginx", "proxy"]),
    _c("api-py3.15@vps", ["api"], python_version="3.15"),
    _c("api+db-pg17@vps+private", ["api", "db"], ["vps", "private"], postgres_version="17"),
    # each target with the default services, and all of them together
    _c("defaults@cloudrun", DEFAULTS, ["cloudrun"]),
    _c("defaults@gke", DEFAULTS, ["gke"]),
    _c("defaults@private", DEFAULTS, ["private"]),
    _c("defaults@all-targets", DEFAULTS, ALL_TARGETS),
    # each cloud/Kubernetes target with the smallest service sets it accepts
    _c("api@cloudrun", ["api"], ["cloudrun"]),
    _c("frontend@cloudrun", ["frontend"], ["cloudrun"]),
    _c("api@gke", ["api"], ["gke"]),
    _c("api+db+cache@gke", ["api", "db", "cache"], ["gke"]),
    _c("frontend@gke", ["frontend"], ["gke"]),
    _c("api@private", ["api"], ["private"]),
    _c("frontend+nginx@vps+private", ["frontend", "nginx"], ["vps", "private"]),
)
BY_ID = {c.id: c for c in SUPPORTED}
DEFAULT = BY_ID["defaults@vps"]
EVERYTHING_ALL = BY_ID["everything@all-targets"]
