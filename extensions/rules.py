"""Answer validation shared by copier.yml validators (through filters.py) and the tests.

Each function returns "" when the answer is fine, else one sentence telling the user what to type.
Copier shows that sentence and asks again (or exits 1 with --defaults/--data, creating nothing).
"""

from __future__ import annotations

import pathlib
import re

import yaml

# Copier renders from a clone of the template repository; copier.yml sits at its root, one folder
# up from this file, exactly as in a checkout.
COPIER_YML = pathlib.Path(__file__).resolve().parent.parent / "copier.yml"


def choices(question: str) -> tuple[str, ...]:
    """The values of a choice question of copier.yml, in its order: the one list of them."""
    return tuple(yaml.safe_load(COPIER_YML.read_text())[question]["choices"].values())


SERVICES = choices("services")
TARGETS = choices("deploy_targets")

# DNS-1123 label, kept to 40 characters so that derived names ("<slug>-frontend", "<slug>-prod",
# Kubernetes object names with suffixes) stay under the 63-character limit.
SLUG_RE = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN_RE = re.compile(rf"^({LABEL}\.)*{LABEL}$")
GCP_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
GCP_REGION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]$")
# host[:port]/path, lowercase, as docker accepts for a repository prefix
REGISTRY_RE = re.compile(rf"^({LABEL}(\.{LABEL})*)(:[0-9]{{1,5}})?(/[a-z0-9]+([._-][a-z0-9]+)*)+$")


def project_name(value: str) -> str:
    value = value or ""
    if not value.strip():
        return "Type a name for the project, for example: My App"
    if len(value) > 64:
        return "Keep the project name to 64 characters or fewer"
    if not value.isprintable() or value != value.strip():
        return "Use printable characters without leading or trailing spaces"
    return ""


def slug(value: str, what: str = "project_slug") -> str:
    if not SLUG_RE.match(value or ""):
        return (
            f"{what} must be a DNS-1123 label of at most 40 characters: lowercase a-z, 0-9 and '-',"
            " starting with a letter and not ending with '-', for example: my-app"
        )
    return ""


def email(value: str, what: str = "author_email") -> str:
    if not EMAIL_RE.match(value or ""):
        return f"{what} must be an e-mail address such as you@example.org"
    return ""


def domain(value: str, what: str = "domain") -> str:
    value = value or ""
    if value.endswith(".") or len(value) > 253 or not DOMAIN_RE.match(value):
        return (
            f"{what} must be a lowercase DNS name (letters, digits, '-' and dots, no scheme, no port,"
            " no trailing dot), for example: example.com or localhost"
        )
    return ""


def registry(value: str, what: str = "registry") -> str:
    if what == "registry" and value == "ghcr.io":
        return ""  # this GitHub repository's path on ghcr.io, resolved by CI (extensions/context.py)
    if not REGISTRY_RE.match(value or "") or len(value) > 200:
        alone = " (or ghcr.io alone: this GitHub repository's path)" if what == "registry" else ""
        return (
            f"{what} must be an image repository prefix host[:port]/path in lowercase, without a tag"
            f" or scheme, for example: ghcr.io/my-org/my-app{alone}"
        )
    return ""


def gcp_project(value: str) -> str:
    if not GCP_PROJECT_RE.match(value or ""):
        return (
            "gcp_project must be a Google Cloud project ID: 6-30 characters, lowercase letters, digits"
            " and '-', starting with a letter, for example: my-app-prod"
        )
    return ""


def gcp_region(value: str) -> str:
    if not GCP_REGION_RE.match(value or ""):
        return "gcp_region must be a Google Cloud region such as europe-west1 or us-central1"
    return ""


def services(selected: list[str]) -> str:
    chosen = set(selected or [])
    unknown = chosen - set(SERVICES)
    if unknown:
        return f"Unknown service(s) {sorted(unknown)}: choose among {', '.join(SERVICES)}"
    if not chosen:
        return "Select at least one service (the default set is api, db, cache, frontend, proxy)"
    served = chosen & {"api", "frontend", "nginx"}
    if "proxy" in chosen and not served:
        return "proxy has nothing to route: add api, frontend or nginx, or drop proxy"
    for backing in ("db", "cache"):
        if backing in chosen and "api" not in chosen:
            return f"{backing} is only used by the api: add api, or drop {backing}"
    if "observability" in chosen and "api" not in chosen:
        return (
            "observability has nothing to scrape: Prometheus and the Grafana dashboard watch the"
            " api's /metrics, so add api, or drop observability"
        )
    return ""


def targets(selected: list[str]) -> str:
    chosen = set(selected or [])
    unknown = chosen - set(TARGETS)
    if unknown:
        return f"Unknown deploy target(s) {sorted(unknown)}: choose among {', '.join(TARGETS)}"
    if not chosen:
        return "Select at least one deploy target (vps is the default: compose on a single server)"
    return ""


def targets_with_services(selected_targets: list[str], selected_services: list[str]) -> str:
    chosen = set(selected_services or [])
    tgt = set(selected_targets or [])
    if tgt & {"cloudrun", "gke", "private"} and not chosen & {"api", "frontend"}:
        # nginx and the observability stack are compose-only (docs/deploy-*.md say what to use instead)
        return (
            "Cloud Run and Kubernetes targets deploy the api and the frontend: select at least one of"
            " them, or deploy with vps only"
        )
    return targets(selected_targets)
