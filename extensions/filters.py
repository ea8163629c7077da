"""Jinja filters for copier.yml: the validators (each returns "" when valid, else the message to
show), the slug default (`slugify`), `is_release` (the message after copy) and the current year
(the default of copyright_year)."""

from __future__ import annotations

import datetime
import importlib.util
import pathlib
from types import ModuleType

from jinja2 import Environment
from jinja2.ext import Extension


def _load_rules() -> ModuleType:
    # copier-template-extensions loads this file by path, not as a package: import rules.py beside it
    spec = importlib.util.spec_from_file_location(
        "dockwright_rules", pathlib.Path(__file__).with_name("rules.py")
    )
    if spec is None or spec.loader is None:
        raise ImportError("extensions/rules.py not found beside filters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rules = _load_rules()


class Validators(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals["current_year"] = datetime.date.today().year
        environment.filters.update(
            {
                "slugify": rules.slugify,
                "is_release": rules.is_release,
                "check_project_name": rules.project_name,
                "check_description": rules.description,
                "check_author_name": rules.author_name,
                "check_copyright_year": rules.copyright_year,
                "check_slug": rules.slug,
                "check_email": rules.email,
                "check_domain": rules.domain,
                "check_registry": rules.registry,
                "check_gcp_project": rules.gcp_project,
                "check_gcp_region": rules.gcp_region,
                "check_gcp_name": rules.gcp_name,
                "check_k8s_name": rules.k8s_name,
                "check_k8s_label": rules.k8s_label,
                "check_proxy_subnet": rules.proxy_subnet,
                "check_services": rules.services,
                "check_targets": rules.targets_with_services,
            }
        )
