"""Every question validates its input with a message that says what to type; `when:` hides what
does not apply; bad answers create nothing."""

from __future__ import annotations

import pathlib
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
    ("project_slug", "My App", "DNS-1123"),
    ("project_slug", "my_app", "DNS-1123"),
    ("project_slug", "Myapp", "DNS-1123"),
    ("project_slug", "1app", "DNS-1123"),
    ("project_slug", "app-", "DNS-1123"),
    ("project_slug", "appé", "DNS-1123"),
    ("project_slug", "a" * 41, "DNS-1123"),
    ("description", "  ", "one-line description"),
    ("author_name", "", "Type a name"),
    ("author_email", "not-an-email", "e-mail address"),
    ("author_email", "me@localhost", "e-mail address"),
    ("author_email", "me@exa mple.org", "e-mail address"),
    ("domain", "https://example.com", "DNS name"),
    ("domain", "Example.com", "DNS name"),
    ("domain", "example.com.", "DNS name"),
    ("domain", "exa_mple.com", "DNS name"),
    ("domain", "example.com:443", "DNS name"),
    ("registry", "ghcr.io/Org/app", "image repository prefix"),
    ("registry", "ghcr.io/org/app:1.0", "image repository prefix"),
    ("registry", "https://ghcr.io/org/app", "image repository prefix"),
    ("registry", "docker.io", "image repository prefix"),
]

BAD_WITH_TARGETS = [
    ({"deploy_targets": ["cloudrun"], "gcp_project": "abc"}, "Google Cloud project ID"),
    ({"deploy_targets": ["gke"], "gcp_project": "My-Project"}, "Google Cloud project ID"),
    ({"deploy_targets": ["cloudrun"], "gcp_region": "europe"}, "Google Cloud region"),
    ({"deploy_targets": ["gke"], "k8s_namespace": "Prod_NS"}, "k8s_namespace must be a DNS-1123"),
    ({"deploy_targets": ["private"], "internal_domain": "corp..internal"}, "internal_domain must be"),
    ({"deploy_targets": ["private"], "private_registry": "Registry/app"}, "private_registry must be"),
    ({"acme_email": "nope"}, "acme_email must be an e-mail"),
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
    expect_refusal(tmp_path, "deploy the api and the frontend", services=["nginx"], deploy_targets=[target])


def test_empty_deploy_targets_are_refused(tmp_path):
    expect_refusal(tmp_path, "at least one deploy target", deploy_targets=[])


def test_kubernetes_targets_need_something_to_deploy():
    # The service rules already refuse every set without api/frontend/nginx, so this rule can
    # only be reached directly; it guards against a service rule being relaxed later.
    assert "deploy the api and the frontend" in rules.targets_with_services(["gke"], ["db"])
    assert rules.targets_with_services(["gke"], ["api"]) == ""


def test_defaults_render(copie):
    result = copie.copy()
    assert_ok(result)
    recorded = yaml.safe_load((result.project_dir / ".copier-answers.yml").read_text())
    assert recorded["services"] == ["api", "db", "cache", "frontend", "proxy"]  # as README.md says
    assert recorded["deploy_targets"] == ["vps"]
    assert recorded["project_slug"] == "my-app"


def test_slug_default_is_derived_from_the_name(copie):
    result = copie.copy(extra_answers=answers(project_name="Über Shop 2!"))
    assert_ok(result)
    recorded = yaml.safe_load((result.project_dir / ".copier-answers.yml").read_text())
    assert recorded["project_slug"] == "ber-shop-2"
    assert not rules.slug(recorded["project_slug"])


@pytest.mark.parametrize(
    ("overrides", "present", "absent"),
    [
        (
            {},
            {"acme_email"},
            {"gcp_project", "gcp_region", "k8s_namespace", "internal_domain", "private_registry"},
        ),
        ({"services": ["api"]}, set(), {"acme_email"}),
        ({"deploy_targets": ["cloudrun"]}, {"gcp_project", "gcp_region"}, {"acme_email", "k8s_namespace"}),
        ({"deploy_targets": ["gke"]}, {"gcp_project", "k8s_namespace"}, {"internal_domain"}),
        (
            {"deploy_targets": ["private"]},
            {"k8s_namespace", "internal_domain", "private_registry"},
            {"gcp_project"},
        ),
    ],
    ids=["defaults", "no-proxy", "cloudrun", "gke", "private"],
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
