"""Every question validates its input with a message that says what to type; `when:` hides what
does not apply; bad answers create nothing."""

from __future__ import annotations

import ast
import datetime
import pathlib
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
import yaml
from pytest_copie.plugin import Result

from dwsupport import matrix
from dwsupport.render import QUESTIONS, answers, copy
from extensions import rules

BAD = [
    # (question, bad value, fragment of the message)
    ("project_name", "", "Type a name"),
    ("project_name", "   ", "Type a name"),
    ("project_name", "x" * 65, "64 characters"),
    ("project_slug", "My App", "DNS-1123 label"),
    ("project_slug", "my_app", "DNS-1123 label"),
    ("project_slug", "Myapp", "DNS-1123 label"),
    ("project_slug", "1app", "DNS-1123 label"),
    ("project_slug", "app-", "DNS-1123 label"),
    ("project_slug", "appé", "DNS-1123 label"),
    ("project_slug", "a" * 41, "DNS-1123"),
    ("description", "  ", "one-line description"),
    ("author_name", "", "Type a name"),
    ("author_email", "not-an-email", "e-mail address"),
    ("author_email", "me@localhost", "e-mail address"),
    ("author_email", "me@exa mple.org", "e-mail address"),
    ("domain", "https://example.com", "lowercase DNS name"),
    ("domain", "Example.com", "lowercase DNS name"),
    ("domain", "example.com.", "lowercase DNS name"),
    ("domain", "exa_mple.com", "lowercase DNS name"),
    ("domain", "example.com:443", "lowercase DNS name"),
    ("registry", "ghcr.io/Org/app", "lowercase host/path"),
    ("registry", "ghcr.io/org/app:1.0", "lowercase host/path"),
    ("registry", "https://ghcr.io/org/app", "lowercase host/path"),
    ("registry", "docker.io", "lowercase host/path"),
]

BAD_WITH_TARGETS = [
    ({"deploy_targets": ["cloudrun"], "gcp_project": "abc"}, "Google Cloud project ID"),
    ({"deploy_targets": ["gke"], "gcp_project": "My-Project"}, "Google Cloud project ID"),
    ({"deploy_targets": ["cloudrun"], "gcp_region": "europe"}, "Google Cloud region"),
    ({"deploy_targets": ["gke"], "k8s_namespace": "Prod_NS"}, "k8s_namespace: type a DNS-1123"),
    ({"deploy_targets": ["private"], "internal_domain": "corp..internal"}, "internal_domain: type"),
    ({"deploy_targets": ["private"], "private_registry": "Registry/app"}, "private_registry: type"),
    ({"acme_email": "nope"}, "acme_email: type an e-mail"),
    ({"license": "MIT", "copyright_year": 1969}, "Type a year from 1970"),
    ({"license": "BSD-3-Clause", "copyright_year": datetime.date.today().year + 1}, "Type a year from 1970"),
    ({"deploy_targets": ["cloudrun"], "gcp_network": "My_Net"}, "gcp_network: type a Compute Engine name"),
    ({"deploy_targets": ["gke"], "gcp_network": "n" * 64}, "gcp_network: type a Compute Engine name"),
    ({"deploy_targets": ["cloudrun"], "gcp_subnet": "run-"}, "gcp_subnet: type a Compute Engine name"),
    ({"deploy_targets": ["private"], "private_gateway_class": "GKE_L7"}, "private_gateway_class: type a"),
    (
        {"deploy_targets": ["private"], "private_proxy_subnet": "10.129.0.1/23"},
        "private_proxy_subnet: type a CIDR",
    ),
    (
        {"deploy_targets": ["private"], "private_proxy_subnet": "10.129.0.0/27"},
        "private_proxy_subnet: type a CIDR",
    ),
    ({"deploy_targets": ["private"], "private_proxy_subnet": "0.0.0.0/0"}, "private_proxy_subnet: type a"),
    ({"deploy_targets": ["private"], "private_proxy_subnet": "10.129.0.0"}, "private_proxy_subnet: type a"),
    (
        {
            "deploy_targets": ["private"],
            "private_gateway_class": "eg",
            "private_gateway_namespace": "Gateways",
        },
        "private_gateway_namespace: type a DNS-1123",
    ),
]

BAD_COMBINATIONS = [
    ([], "Select at least one service"),
    (["proxy"], "proxy has nothing to route"),
    (["proxy", "db"], "proxy has nothing to route"),
    (["db"], "db is only used by the api"),
    (["cache", "frontend"], "cache is only used by the api"),
    (["observability"], "observability has nothing to scrape"),
    (["frontend", "observability"], "observability has nothing to scrape"),
    (["api", "bogus"], "'bogus' is not in"),  # copier refuses unknown choices itself
]


def assert_ok(result: Result) -> None:
    """pytest-copie catches a crash into result.exception: check it, not only the exit code."""
    assert result.exception is None, repr(result.exception)
    assert result.exit_code == 0


def expect_refusal(tmp_path: pathlib.Path, message: str, **overrides: Any) -> None:
    dst = tmp_path / "project"
    with pytest.raises(ValueError, match=r"Validation error|Invalid choice") as info:
        copy(dst, **overrides)
    assert message in str(info.value), str(info.value)
    assert not dst.exists(), "a refused answer must create nothing"


@pytest.mark.parametrize(("question", "value", "message"), BAD, ids=lambda v: str(v)[:20])
def test_bad_free_text_is_refused(tmp_path, question, value, message):
    expect_refusal(tmp_path, message, **{question: value})


@pytest.mark.parametrize(("overrides", "message"), BAD_WITH_TARGETS, ids=lambda v: str(v)[:40])
def test_bad_target_answers_are_refused(tmp_path, overrides, message):
    expect_refusal(tmp_path, message, **overrides)


@pytest.mark.parametrize(("services", "message"), BAD_COMBINATIONS, ids=lambda v: str(v)[:30])
def test_impossible_service_sets_are_refused(tmp_path, services, message):
    expect_refusal(tmp_path, message, services=services)


@pytest.mark.parametrize("target", ["cloudrun", "gke", "private"])
def test_compose_only_services_cannot_go_to_cloud_targets(tmp_path, target):
    expect_refusal(tmp_path, "deploy api or frontend", services=["nginx"], deploy_targets=[target])


def test_empty_deploy_targets_are_refused(tmp_path):
    expect_refusal(tmp_path, "at least one deploy target", deploy_targets=[])


def test_kubernetes_targets_need_something_to_deploy():
    # The service rules already refuse every set without api/frontend/nginx, so this rule can
    # only be reached directly; it guards against a service rule being relaxed later.
    assert "deploy api or frontend" in rules.targets_with_services(["gke"], ["db"])
    assert rules.targets_with_services(["gke"], ["api"]) == ""


def test_defaults_render(copie):
    result = copie.copy()
    assert_ok(result)
    recorded = yaml.safe_load((result.project_dir / ".copier-answers.yml").read_text())
    assert recorded["services"] == ["api", "db", "cache", "frontend", "proxy"]  # as README.md says
    assert recorded["deploy_targets"] == ["vps"]
    assert recorded["project_slug"] == "my-app"


SLUGS = [
    # (project_name, the slug copier.yml's default makes of it)
    ("Café Zürich Ölmühle", "cafe-zurich-olmuhle"),
    ("Über Shop 2!", "uber-shop-2"),
    ("Ølmühle", "olmuhle"),
    ("Straße & Söhne", "strasse-sohne"),
    ("Łódź Æble", "lodz-aeble"),
    ("Þór's Forge", "thor-s-forge"),
    ("2048 Game", "game"),  # a DNS label starts with a letter
    ("🚀 Rocket", "rocket"),
    ("東京アプリ", "app"),  # nothing Latin left: the fallback, a valid slug still
    ("Ünïcödé " * 8, "unicode-unicode-unicode-unicode-unicode"),  # 40 characters, no trailing '-'
]


@pytest.mark.parametrize(("name", "slug"), SLUGS, ids=[s for _, s in SLUGS])
def test_slug_default_spells_the_name_in_ascii(name, slug):
    assert rules.slugify(name) == slug
    assert not rules.slug(slug), "the default must pass the slug validator"


@pytest.mark.parametrize(("name", "slug"), SLUGS[:2], ids=[s for _, s in SLUGS[:2]])
def test_slug_default_is_derived_from_the_name(copie, name, slug):
    result = copie.copy(extra_answers=answers(project_name=name))
    assert_ok(result)
    recorded = yaml.safe_load((result.project_dir / ".copier-answers.yml").read_text())
    assert recorded["project_slug"] == slug


# Regions listed by Google (the tables of https://cloud.google.com/memorystore/docs/redis/regions
# and https://cloud.google.com/workload-manager/docs/evaluate/locations, read 2026-12-02).
GCP_REGIONS = [
    "africa-south1", "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2",
    "asia-northeast3", "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2",
    "australia-southeast1", "australia-southeast2", "europe-central2", "europe-north1",
    "europe-north2", "europe-southwest1", "europe-west1", "europe-west2", "europe-west3",
    "europe-west4", "europe-west6", "europe-west8", "europe-west9", "europe-west10",
    "europe-west12", "me-central1", "me-central2", "me-west1", "northamerica-northeast1",
    "northamerica-northeast2", "northamerica-south1", "southamerica-east1", "southamerica-west1",
    "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2",
    "us-west3", "us-west4",
]  # fmt: skip
NOT_GCP_REGIONS = [
    "europe", "europe-west", "europe-west0", "Europe-west1", "eu-west-1", "westeurope",
    "europe-west1-b", "europe-wst1", "mars-north1", " europe-west1", "us-central123",
]  # fmt: skip


def test_every_listed_gcp_region_is_accepted():
    assert [r for r in GCP_REGIONS if rules.gcp_region(r)] == []


@pytest.mark.parametrize("region", NOT_GCP_REGIONS)
def test_a_region_that_is_not_googles_is_refused(region):
    assert rules.gcp_region(region) == "gcp_region: type a Google Cloud region such as europe-west1"


def test_a_new_region_is_accepted_by_copier(copie):
    result = copie.copy(extra_answers=answers(deploy_targets=["cloudrun"], gcp_region="europe-west12"))
    assert_ok(result)


# Every refusal of extensions/rules.py, one call each (with the longest question name a message
# can start with); test_every_refusal_is_exercised keeps this list complete.
REFUSALS: list[tuple[Callable[..., str], tuple[Any, ...]]] = [
    (rules.project_name, ("",)),
    (rules.project_name, ("x" * 65,)),
    (rules.project_name, (" x",)),
    (rules.description, ("",)),
    (rules.description, ("x" * 201,)),
    (rules.author_name, ("",)),
    (rules.slug, ("X", "k8s_namespace")),
    (rules.email, ("x", "acme_email")),
    (rules.domain, ("X", "internal_domain")),
    (rules.registry, ("X", "private_registry")),
    (rules.gcp_project, ("x",)),
    (rules.gcp_region, ("x",)),
    (rules.copyright_year, (1969,)),
    (rules.services, (["api", "observability-x"],)),
    (rules.services, ([],)),
    (rules.services, (["proxy"],)),
    (rules.services, (["cache", "frontend"],)),
    (rules.services, (["frontend", "observability"],)),
    (rules.targets, (["vps", "heroku"],)),
    (rules.targets, ([],)),
    (rules.targets_with_services, (["private"], ["nginx"])),
]


def refusal_sites() -> set[int]:
    """Line numbers of rules.py's `return <message>` statements (a non-empty string)."""
    tree = ast.parse(pathlib.Path(rules.__file__).read_text())
    return {
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Return)
        and isinstance(node.value, ast.JoinedStr | ast.Constant)
        and (
            not isinstance(node.value, ast.Constant)
            or (isinstance(node.value.value, str) and node.value.value)
        )
    }


def test_every_refusal_is_exercised():
    hit: set[int] = set()

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename == rules.__file__ and event == "return" and arg:
            hit.add(frame.f_lineno)
        return trace

    sys.settrace(trace)
    try:
        for rule, args in REFUSALS:
            rule(*args)
    finally:
        sys.settrace(None)
    assert refusal_sites() - hit == set(), "a refusal message that REFUSALS does not reach"


@pytest.mark.parametrize(("rule", "args"), REFUSALS, ids=[f"{r.__name__}{a}"[:40] for r, a in REFUSALS])
def test_validator_messages_fit_on_one_short_line(rule, args):
    # The interactive prompt shows the message on one line, cut at the terminal's width: what to
    # type comes first and fits; the rules behind it are in the question's help.
    message = rule(*args)
    assert message, "a refusal"
    assert "\n" not in message
    assert len(message) <= rules.MESSAGE_MAX, f"{len(message)} characters: {message}"


def test_every_validator_is_a_rule_of_extensions():
    # so that every message is among those checked above (no message written inline in copier.yml)
    for name, question in QUESTIONS.items():
        if "validator" in question:
            assert question["validator"].startswith(f"{{{{ {name} | check_"), name


@pytest.mark.parametrize(
    ("overrides", "present", "absent"),
    [
        (
            {},
            {"acme_email", "backup_offsite"},
            {
                "gcp_project",
                "gcp_region",
                "gcp_network",
                "k8s_namespace",
                "internal_domain",
                "private_registry",
            },
        ),
        ({"services": ["api"]}, set(), {"acme_email", "backup_offsite"}),
        (
            {"deploy_targets": ["cloudrun"]},
            {"gcp_project", "gcp_region", "gcp_network", "gcp_subnet"},
            {"acme_email", "k8s_namespace", "backup_offsite"},
        ),
        # Cloud Run without a cache reaches nothing private: no network to name
        (
            {"deploy_targets": ["cloudrun"], "services": ["api", "db"]},
            {"gcp_project"},
            {"gcp_network", "gcp_subnet"},
        ),
        (
            {"deploy_targets": ["gke"]},
            {"gcp_project", "k8s_namespace", "gcp_network"},
            {"internal_domain", "gcp_subnet", "backup_offsite"},
        ),
        (
            {"deploy_targets": ["private"]},
            {
                "k8s_namespace",
                "internal_domain",
                "private_registry",
                "private_gateway_class",
                "private_proxy_subnet",
            },
            {"gcp_project", "private_gateway_namespace"},
        ),
        (
            {"deploy_targets": ["private"], "private_gateway_class": "eg"},
            {"private_gateway_class", "private_gateway_namespace"},
            {"private_proxy_subnet"},
        ),
    ],
    ids=["defaults", "no-proxy", "cloudrun", "cloudrun-no-cache", "gke", "private", "private-other-class"],
)
def test_when_hides_questions_that_do_not_apply(copie, overrides, present, absent):
    result = copie.copy(extra_answers=answers(**overrides))
    assert_ok(result)
    recorded = set(yaml.safe_load((result.project_dir / ".copier-answers.yml").read_text()))
    assert present <= recorded
    assert not (absent & recorded)


def test_registry_default_follows_the_target(copie):
    result = copie.copy(
        extra_answers=answers(deploy_targets=["cloudrun"], gcp_project="acme-prod", gcp_region="us-central1")
    )
    assert_ok(result)
    recorded = yaml.safe_load((result.project_dir / ".copier-answers.yml").read_text())
    assert recorded["registry"] == "us-central1-docker.pkg.dev/acme-prod/my-app"


def test_every_question_has_help_default_and_type():
    for name, question in QUESTIONS.items():
        assert question.get("help"), name
        assert "default" in question, name
        assert "type" in question, name
        if question["type"] == "str" and "choices" not in question:
            assert "validator" in question, f"free-text question {name} has no validator"


def test_answers_helper_refuses_typos():
    with pytest.raises(KeyError, match="servics"):
        answers(servics=["api"])


def test_every_accepted_service_set_contains_something_to_run():
    for services in matrix.accepted_service_sets():
        assert set(services) & {"api", "frontend", "nginx"}, services
    assert len(matrix.SERVICES) == 7
