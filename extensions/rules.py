"""Answer validation shared by copier.yml validators (through filters.py) and the tests.

Each function returns "" when the answer is fine, else one sentence telling the user what to type.
Copier shows that sentence and asks again (or exits 1 with --defaults/--data, creating nothing).
"""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
import re
import unicodedata

import yaml
from packaging.version import InvalidVersion, Version

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
SLUG_MAX = 40
SLUG_FALLBACK = "app"  # when a name has no Latin letter at all (CJK, emoji): still a valid slug
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN_RE = re.compile(rf"^({LABEL}\.)*{LABEL}$")
GCP_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# Google Cloud regions are <geography>-<direction><number>: europe-west1, europe-west12,
# me-central2, northamerica-northeast2, us-east5, africa-south1 (the region tables of
# https://cloud.google.com/memorystore/docs/redis/regions and
# https://cloud.google.com/workload-manager/docs/evaluate/locations, read 2026-12-02). A pattern
# over Google's geography and direction words accepts every region listed there and the ones
# Google adds under the same scheme, and refuses AWS/Azure names (eu-west-1, westeurope) and typos.
GCP_GEOGRAPHIES = ("africa", "asia", "australia", "europe", "me", "northamerica", "southamerica", "us")
GCP_DIRECTIONS = (
    *("central", "north", "south", "east", "west"),
    *("northeast", "northwest", "southeast", "southwest"),
)
GCP_REGION_RE = re.compile(rf"^({'|'.join(GCP_GEOGRAPHIES)})-({'|'.join(GCP_DIRECTIONS)})[1-9][0-9]?$")
# Compute Engine resource names (networks, subnets): RFC 1035 labels of 1-63 characters
GCP_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
# Kubernetes object names: DNS-1123 subdomains (GatewayClass) and labels (Namespace)
K8S_NAME_RE = re.compile(rf"^{LABEL}(\.{LABEL})*$")
K8S_LABEL_RE = re.compile(rf"^{LABEL}$")
# host[:port]/path, lowercase, as docker accepts for a repository prefix
REGISTRY_RE = re.compile(rf"^({LABEL}(\.{LABEL})*)(:[0-9]{{1,5}})?(/[a-z0-9]+([._-][a-z0-9]+)*)+$")

# Letters that Unicode does not decompose into a base letter plus marks, spelt as their languages
# spell them in ASCII (NFKD turns é into e + a combining accent, but leaves ß, æ, ø, ł alone).
TRANSLITERATE = str.maketrans(
    {
        "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
        "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th",
        "ı": "i", "ħ": "h", "Ħ": "H", "ŋ": "ng", "Ŋ": "Ng",  # noqa: RUF001 (a Turkish letter, on purpose)
    }
)  # fmt: skip

# Validator messages. Copier shows the message on one line under the prompt, cut at the terminal
# width: so each is one short line telling what to type (at most MESSAGE_MAX characters); the
# rules behind it are in the question's `help`, printed above the prompt (copier.yml).
MESSAGE_MAX = 70


def is_release(commit: str) -> bool:
    """Whether Copier's `_commit` names a release tag (v<PEP 440 version>), not a bare commit
    (a checkout without tags) or a commit past a tag (`v0.2.0-3-gabc1234`)."""
    try:
        Version(commit)
    except (InvalidVersion, TypeError):
        return False
    return str(commit).startswith("v")


def slugify(name: str) -> str:
    """project_name -> project_slug's default: ASCII transliteration, lowercase, '-' between
    words, starting with a letter, at most 40 characters ("Café Zürich Ölmühle" -> cafe-zurich-olmuhle)."""
    text = unicodedata.normalize("NFKD", (name or "").translate(TRANSLITERATE))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[^a-z0-9]+", "-", text)
    text = re.sub(r"^[^a-z]+", "", text)  # a DNS label for Kubernetes starts with a letter
    text = text[:SLUG_MAX].rstrip("-")
    return text or SLUG_FALLBACK


def project_name(value: str) -> str:
    value = value or ""
    if not value.strip():
        return "Type a name for the project, for example: My App"
    if len(value) > 64:
        return "Keep the project name to 64 characters or fewer"
    if not value.isprintable() or value != value.strip():
        return "Use printable characters, no leading or trailing spaces"
    return ""


def description(value: str) -> str:
    value = value or ""
    if not value.strip():
        return "Type a one-line description"
    if len(value) > 200:
        return "Keep the description to 200 characters or fewer"
    return ""


def author_name(value: str) -> str:
    if not (value or "").strip():
        return "Type a name, for example: Platform Team"
    return ""


def slug(value: str, what: str = "project_slug") -> str:
    if not SLUG_RE.match(value or ""):
        return f"{what}: type a DNS-1123 label such as my-app (see the help)"
    return ""


def email(value: str, what: str = "author_email") -> str:
    if not EMAIL_RE.match(value or ""):
        return f"{what}: type an e-mail address such as you@example.org"
    return ""


def domain(value: str, what: str = "domain") -> str:
    value = value or ""
    if value.endswith(".") or len(value) > 253 or not DOMAIN_RE.match(value):
        return f"{what}: type a lowercase DNS name such as example.com"
    return ""


def registry(value: str, what: str = "registry") -> str:
    if what == "registry" and value == "ghcr.io":
        return ""  # this GitHub repository's path on ghcr.io, resolved by CI (extensions/context.py)
    if not REGISTRY_RE.match(value or "") or len(value) > 200:
        alone = " or ghcr.io" if what == "registry" else ""
        return f"{what}: type a lowercase host/path such as ghcr.io/org/app{alone}"
    return ""


def gcp_project(value: str) -> str:
    if not GCP_PROJECT_RE.match(value or ""):
        return "gcp_project: type a Google Cloud project ID such as my-app-prod"
    return ""


def gcp_region(value: str) -> str:
    if not GCP_REGION_RE.match(value or ""):
        return "gcp_region: type a Google Cloud region such as europe-west1"
    return ""


def copyright_year(value: object) -> str:
    year = str(value)
    if not (year.isdigit() and 1970 <= int(year) <= datetime.date.today().year):
        return f"Type a year from 1970 to {datetime.date.today().year}, e.g. the current one"
    return ""


def gcp_name(value: str, what: str) -> str:
    if not GCP_NAME_RE.match(value or ""):
        return f"{what}: type a Compute Engine name such as my-app-vpc"
    return ""


def k8s_name(value: str, what: str) -> str:
    if len(value or "") > 253 or not K8S_NAME_RE.match(value or ""):
        return f"{what}: type a Kubernetes name such as gke-l7-rilb"
    return ""


def k8s_label(value: str, what: str) -> str:
    if not K8S_LABEL_RE.match(value or ""):
        return f"{what}: type a DNS-1123 label (see the help)"
    return ""


def proxy_subnet(value: str) -> str:
    """An IPv4 network in CIDR form, of at least 64 addresses (Google's minimum for a proxy-only
    subnet), and not the whole address space."""
    message = "private_proxy_subnet: type a CIDR from /8 to /26, e.g. 10.129.0.0/23"
    try:
        network = ipaddress.IPv4Network(value or "", strict=True)
    except ValueError:
        return message
    return "" if 8 <= network.prefixlen <= 26 and "/" in value else message


def services(selected: list[str]) -> str:
    chosen = set(selected or [])
    unknown = chosen - set(SERVICES)
    if unknown:
        return f"Unknown service(s) {', '.join(sorted(unknown))}: the help lists the choices"
    if not chosen:
        return "Select at least one service, for example api"
    served = chosen & {"api", "frontend", "nginx"}
    if "proxy" in chosen and not served:
        return "proxy has nothing to route: add api, frontend or nginx, or drop proxy"
    for backing in ("db", "cache"):
        if backing in chosen and "api" not in chosen:
            return f"{backing} is only used by the api: add api, or drop {backing}"
    if "observability" in chosen and "api" not in chosen:
        # Prometheus and the Grafana dashboard watch the api's /metrics (copier.yml's help says so)
        return "observability has nothing to scrape: add api, or drop observability"
    return ""


def targets(selected: list[str]) -> str:
    chosen = set(selected or [])
    unknown = chosen - set(TARGETS)
    if unknown:
        return f"Unknown deploy target(s) {', '.join(sorted(unknown))}: the help lists the choices"
    if not chosen:
        return "Select at least one deploy target, for example vps"
    return ""


def targets_with_services(selected_targets: list[str], selected_services: list[str]) -> str:
    chosen = set(selected_services or [])
    tgt = set(selected_targets or [])
    if tgt & {"cloudrun", "gke", "private"} and not chosen & {"api", "frontend"}:
        # nginx and the observability stack are compose-only (docs/deploy-*.md say what to use instead)
        return "cloudrun, gke and private deploy api or frontend: add one, or use vps"
    return targets(selected_targets)
