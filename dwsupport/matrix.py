"""Every combination of answers dockwright's tooling renders, named here once, with one id scheme.

The services and deploy targets are the `choices` of copier.yml's questions (not a retyped list),
in copier.yml's order; the defaults are its `default`s. A combination's id reads

    <services>@<targets>[~<variant>]

services: joined with `+` in copier.yml's order, or `defaults` (the questionnaire's default set)
or `everything` (all of them); targets: joined with `+`, or `all-targets`; a variant names extra
answers (`~py3.15`, `~pg17`, `~other-registry`) or how a smoke stack runs (`~dev`: with compose-dev.yml).
Targets on Google Cloud always get a realistic project ID (GCP), not the derived default.

Who uses which list: the render sweeps (SWEEP), the CI-workflow tests (WORKFLOWS), the deployment
tests (deploy() and the lists after it), the Docker smoke suite (SMOKE), the update tests
(UPDATES), the security gate (SUPPORTED, `nox -s security`), and the checks of derive() alone
(answer_space(): every accepted answer set, too many to render). tests/test_matrix.py checks that
every combination is an accepted set of answers and that the lists cover every service and target.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from dwsupport import REPO
from extensions import rules


def _ordered(names: Iterable[str], order: Sequence[str]) -> tuple[str, ...]:
    chosen = set(names)
    unknown = chosen - set(order)
    if unknown:
        raise ValueError(f"not a choice in copier.yml: {sorted(unknown)} (choices: {', '.join(order)})")
    return tuple(n for n in order if n in chosen)


_QUESTIONS: dict[str, Any] = yaml.safe_load((REPO / "copier.yml").read_text())
SERVICES: tuple[str, ...] = tuple(_QUESTIONS["services"]["choices"].values())
TARGETS: tuple[str, ...] = tuple(_QUESTIONS["deploy_targets"]["choices"].values())
DEFAULT_SERVICES = _ordered(_QUESTIONS["services"]["default"], SERVICES)
DEFAULT_TARGETS = _ordered(_QUESTIONS["deploy_targets"]["default"], TARGETS)
# each target alone, and all of them together
TARGET_SETS: tuple[tuple[str, ...], ...] = (*((t,) for t in TARGETS), TARGETS)
# Targets on Google Cloud ask for a project ID: give a realistic one, not the derived default.
GCP_TARGETS = frozenset({"cloudrun", "gke"})
GCP = {"gcp_project": "acme-prod-123", "gcp_region": "europe-west1"}


@dataclasses.dataclass(frozen=True)
class Combo:
    """A set of answers: services, deploy targets and, for a variant, more answers."""

    services: tuple[str, ...]
    targets: tuple[str, ...] = DEFAULT_TARGETS
    variant: str = ""
    more: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # copier.yml's order, whatever order they were given in: one combination, one id
        object.__setattr__(self, "services", _ordered(self.services, SERVICES))
        object.__setattr__(self, "targets", _ordered(self.targets, TARGETS))

    @property
    def id(self) -> str:
        services = {DEFAULT_SERVICES: "defaults", SERVICES: "everything"}.get(self.services)
        targets = "all-targets" if self.targets == TARGETS else "+".join(self.targets)
        variant = f"~{self.variant}" if self.variant else ""
        return f"{services or '+'.join(self.services)}@{targets}{variant}"

    def __str__(self) -> str:
        return self.id

    def has(self, service: str) -> bool:
        return service in self.services

    def answers(self) -> dict[str, Any]:
        """Copier answers (every key a question of copier.yml; render.answers() checks that)."""
        out: dict[str, Any] = {"services": list(self.services), "deploy_targets": list(self.targets)}
        if GCP_TARGETS & set(self.targets):
            out.update(GCP)
        out.update(self.more)
        return out

    def problems(self) -> str:
        """The questionnaire's verdict on these services and targets ("" when accepted)."""
        return str(
            rules.services(list(self.services))
            or rules.targets_with_services(list(self.targets), list(self.services))
        )


def product(service_sets: Iterable[Sequence[str]], target_sets: Iterable[Sequence[str]]) -> tuple[Combo, ...]:
    """Every service set with every target set."""
    return tuple(Combo(tuple(s), tuple(t)) for s, t in itertools.product(service_sets, list(target_sets)))


def accepted_service_sets() -> list[tuple[str, ...]]:
    """Every non-empty subset of services that the questionnaire accepts."""
    subsets = (c for n in range(1, len(SERVICES) + 1) for c in itertools.combinations(SERVICES, n))
    return [s for s in subsets if not rules.services(list(s))]


def answer_space() -> list[Combo]:
    """Every set of services with every set of deploy targets that the questionnaire accepts
    (for checks of derive() alone: far too many to render)."""
    target_sets = [t for n in range(1, len(TARGETS) + 1) for t in itertools.combinations(TARGETS, n)]
    return [c for c in product(accepted_service_sets(), target_sets) if not c.problems()]


def by_id(combos: Iterable[Combo]) -> dict[str, Combo]:
    return {c.id: c for c in combos}


DEFAULTS = Combo(DEFAULT_SERVICES)
EVERYTHING = Combo(SERVICES)
EVERYTHING_ALL = Combo(SERVICES, TARGETS)

# ------------------------------------------------------------------ the render sweep
# Each accepted service set with the default target, and each other target (alone and all
# together) with the default services, plus everything@all-targets: every static check of a
# render (tests/test_render.py, test_compose.py, test_vps.py) runs on each.
SWEEP: tuple[Combo, ...] = (
    *(Combo(s) for s in accepted_service_sets()),
    *(Combo(DEFAULT_SERVICES, (t,)) for t in TARGETS if (t,) != DEFAULT_TARGETS),
    Combo(DEFAULT_SERVICES, TARGETS),
    EVERYTHING_ALL,
    # a licence: LICENSE and the packages' `license` (tests/test_license.py checks each licence)
    Combo(DEFAULT_SERVICES, variant="mit", more={"license": "MIT", "copyright_year": 2024}),
)

# ------------------------------------------------------------------ CI workflows
# The workflows depend on use_api/use_db/use_cache/use_frontend, the targets and the registry's
# host (GitHub, Artifact Registry or another registry): these cover each branch of their templates.
WORKFLOWS: tuple[Combo, ...] = (
    DEFAULTS,
    EVERYTHING_ALL,
    *product([("api",), ("api", "db"), ("api", "cache"), ("frontend", "nginx"), ("nginx",)], [("vps",)]),
    *product([DEFAULT_SERVICES], [(t,) for t in TARGETS if (t,) != DEFAULT_TARGETS]),
    Combo(DEFAULT_SERVICES, variant="other-registry", more={"registry": "registry.example.com/team/app"}),
    Combo(DEFAULT_SERVICES, ("cloudrun",), variant="ghcr", more={"registry": "ghcr.io/acme/app"}),
    # a domain only /etc/hosts sends to 127.0.0.1: the e2e job writes those lines
    Combo(DEFAULT_SERVICES, variant="example.org", more={"domain": "example.org"}),
)
NO_ACTIONS = Combo(DEFAULT_SERVICES, variant="no-actions", more={"github_actions": False})

# ------------------------------------------------------------------ deployment targets
# The service sets every deployment test covers, each with the target sets it is given.
DEPLOY_SERVICE_SETS: tuple[tuple[str, ...], ...] = (
    DEFAULT_SERVICES,
    SERVICES,
    ("api",),
    ("frontend", "nginx"),
)


def deploy(*target_sets: Sequence[str]) -> tuple[Combo, ...]:
    return product(DEPLOY_SERVICE_SETS, target_sets)


# The private target with a Gateway implementation other than GKE's (its proxies in a namespace
# of their own): Envoy Gateway's names.
PRIVATE_IN_CLUSTER = Combo(
    DEFAULT_SERVICES,
    ("private",),
    variant="envoy-gateway",
    more={"private_gateway_class": "eg", "private_gateway_namespace": "envoy-gateway-system"},
)
KUBERNETES = (*deploy(("gke",), ("private",), TARGETS), PRIVATE_IN_CLUSTER)
GKE = deploy(("gke",))
PRIVATE = (*deploy(("private",)), PRIVATE_IN_CLUSTER)
CLOUDRUN = (*deploy(("cloudrun",), TARGETS), *product([("api", "db"), ("api", "cache")], [("cloudrun",)]))
# The gcloud commands of cloudrun/deploy.sh: with and without the api, the database and the frontend.
CLOUDRUN_SCRIPT = product([DEFAULT_SERVICES, ("api",), ("frontend", "nginx")], [("cloudrun",)])
# The production compose layer: every render with the vps target.
VPS = (*(c for c in SWEEP if "vps" in c.targets), *(c for c in deploy(TARGETS) if c not in SWEEP))
TRAEFIK_PROD = (
    *(c for c in deploy(("vps",)) if c.has("proxy")),
    *product([("api", "proxy"), ("frontend", "nginx", "proxy")], [("vps",)]),
)
# The default services with each target alone and all targets.
EACH_TARGET = product([DEFAULT_SERVICES], TARGET_SETS)
# Services that do not deploy to Cloud Run or Kubernetes (nginx, observability) beside ones that do.
EDGE_DEPLOYS = product(
    [("frontend", "nginx"), ("frontend",), ("api", "observability")], [("gke", "private"), ("cloudrun",)]
)
# The deploy guides' gcloud commands (tests/test_deploy_docs.py): every guide, with db and cache.
DEPLOY_DOCS = (EVERYTHING_ALL,)
GKE_MANAGED = product([("api", "db", "cache"), ("api", "db"), ("api", "cache")], [("gke",)])
INTERNAL_TLS = product([("api", "frontend"), ("api",), ("frontend", "nginx")], [("private",)])

# ------------------------------------------------------------------ single services and images
OBSERVABILITY = (EVERYTHING, Combo(tuple(s for s in SERVICES if s != "proxy")))
# every offered Python version: the default one (EVERYTHING) and the others
PYTHONS: dict[str, dict[str, Any]] = {
    f"py{v}": {"python_version": v}
    for v in _QUESTIONS["python_version"]["choices"].values()
    if v != _QUESTIONS["python_version"]["default"]
}
DOCKERFILES = (EVERYTHING, *(Combo(SERVICES, variant=name, more=more) for name, more in PYTHONS.items()))
# a project that keeps PostgreSQL 17 (postgres_version, recorded for projects from before 0.3.0)
PG17 = {"postgres_version": "17"}

# ------------------------------------------------------------------ backups
# The VPS's backup service with its off-site copy to restic (backup_offsite), and the targets that
# back up a database: every service set with db on the VPS (the backup service), each Kubernetes
# target (the CronJob), Cloud Run (no in-cluster database: no scheduled dump of its own).
OFFSITE = {"backup_offsite": "restic"}
DEFAULTS_OFFSITE = Combo(DEFAULT_SERVICES, variant="offsite", more=OFFSITE)
BACKUPS: tuple[Combo, ...] = (
    *product([("api", "db"), DEFAULT_SERVICES, SERVICES], [("vps",), ("gke",), ("private",), ("cloudrun",)]),
    DEFAULTS_OFFSITE,
    Combo(("api", "db"), variant="offsite", more=OFFSITE),
    Combo(SERVICES, TARGETS, variant="offsite", more=OFFSITE),
)

# ------------------------------------------------------------------ Docker smoke (tests/smoke)
# The defaults first: they build the api and the proxied frontend that later ones reuse.
SMOKE: tuple[Combo, ...] = (
    DEFAULTS,
    *product([("api", "db"), ("api", "cache"), ("frontend", "nginx"), SERVICES], [("vps",)]),
    Combo(SERVICES, variant="dev"),  # run with compose-dev.yml
)

# ------------------------------------------------------------------ the local loop (test_devloop)
# The Makefile, README commands, compose layers and dev layer of a project: with and without the
# proxy, the api, the frontend and the database, and nginx alone (nothing to build or watch).
DEVLOOP: tuple[Combo, ...] = (
    DEFAULTS,
    EVERYTHING,
    Combo(("api", "db")),
    Combo(("api", "frontend")),
    Combo(("api", "cache", "observability")),
    Combo(("frontend", "nginx", "proxy")),
    Combo(("nginx",)),
)

# ------------------------------------------------------------------ the end-to-end spec (test_e2e_spec)
# One per scope of frontend/e2e: no api (the page says so), an api without a database (its status
# only), api and database (status and items). tests/smoke/test_e2e.py runs the defaults' in Chromium.
E2E: tuple[Combo, ...] = (Combo(("frontend",)), Combo(("api", "frontend")), DEFAULTS)

# ------------------------------------------------------------------ copier update (test_update)
UPDATES: tuple[Combo, ...] = (
    DEFAULTS,
    Combo(SERVICES, TARGETS, variant="example.org", more={"domain": "example.org"}),
)

# ------------------------------------------------------------------ the security gate
# Every service alone or with only what it needs (extensions/rules.py: proxy needs something to
# route, db/cache/observability need the api, Cloud Run and Kubernetes targets need the api or the
# frontend), every target with the default services and with a minimal set, plus the default
# answers and everything@all-targets. README.md publishes some of their rows.
SUPPORTED: tuple[Combo, ...] = (
    # the default answers, and everything
    DEFAULTS,
    EVERYTHING,
    EVERYTHING_ALL,
    # each service alone, or with only what it needs (target vps)
    *product(
        [("api",), ("api", "db"), ("api", "cache"), ("api", "observability"), ("frontend",), ("nginx",)],
        [("vps",)],
    ),
    Combo(("nginx", "proxy")),
    Combo(("api",), variant="py3.15", more=PYTHONS["py3.15"]),
    Combo(("api", "db"), ("vps", "private"), variant="pg17", more=PG17),
    DEFAULTS_OFFSITE,
    # each target with the default services, and all of them together
    *product([DEFAULT_SERVICES], [("cloudrun",), ("gke",), ("private",), TARGETS]),
    # each cloud/Kubernetes target with the smallest service sets it accepts
    *product([("api",), ("frontend",)], [("cloudrun",)]),
    *product([("api",), ("api", "db", "cache"), ("frontend",)], [("gke",)]),
    Combo(("api",), ("private",)),
    Combo(("frontend", "nginx"), ("vps", "private")),
    PRIVATE_IN_CLUSTER,
)

# Every list above, for the checks that run over all of them (tests/test_matrix.py).
NAMED: dict[str, tuple[Combo, ...]] = {
    "SWEEP": SWEEP,
    "WORKFLOWS": (*WORKFLOWS, NO_ACTIONS),
    "KUBERNETES": KUBERNETES,
    "GKE": GKE,
    "PRIVATE": PRIVATE,
    "CLOUDRUN": CLOUDRUN,
    "CLOUDRUN_SCRIPT": CLOUDRUN_SCRIPT,
    "VPS": VPS,
    "TRAEFIK_PROD": TRAEFIK_PROD,
    "EACH_TARGET": EACH_TARGET,
    "EDGE_DEPLOYS": EDGE_DEPLOYS,
    "GKE_MANAGED": GKE_MANAGED,
    "DEPLOY_DOCS": DEPLOY_DOCS,
    "INTERNAL_TLS": INTERNAL_TLS,
    "OBSERVABILITY": OBSERVABILITY,
    "DOCKERFILES": DOCKERFILES,
    "SMOKE": SMOKE,
    "DEVLOOP": DEVLOOP,
    "E2E": E2E,
    "UPDATES": UPDATES,
    "SUPPORTED": SUPPORTED,
    "BACKUPS": BACKUPS,
}
