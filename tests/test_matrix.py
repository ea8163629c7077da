"""The combinations the tooling renders (dwsupport/matrix.py): valid answers with one id each,
taken from copier.yml, and covering every service and target."""

from __future__ import annotations

import re

import pytest

from dwsupport import REPO, matrix
from dwsupport.matrix import Combo
from dwsupport.render import answers
from extensions import rules

EVERY = [c for combos in matrix.NAMED.values() for c in combos]


def test_services_and_targets_are_copier_yml_choices():
    # rules.py (the questionnaire's validators) names them too: the two must agree
    assert matrix.SERVICES == rules.SERVICES
    assert matrix.TARGETS == rules.TARGETS
    assert matrix.DEFAULT_SERVICES == ("api", "db", "cache", "frontend", "proxy")  # README.md says so
    assert matrix.DEFAULT_TARGETS == ("vps",)


@pytest.mark.parametrize("name", list(matrix.NAMED))
def test_every_combination_is_accepted_and_named_once(name):
    combos = matrix.NAMED[name]
    assert combos, name
    ids = [c.id for c in combos]
    assert len(set(ids)) == len(ids), f"{name}: an id twice: {sorted(i for i in ids if ids.count(i) > 1)}"
    for combo in combos:
        assert not combo.problems(), f"{combo.id}: {combo.problems()}"
        answers(**combo.answers())  # refuses keys that are not questions


def test_one_id_one_set_of_answers():
    seen: dict[str, Combo] = {}
    for combo in EVERY:
        assert seen.setdefault(combo.id, combo) == combo, f"{combo.id} names two sets of answers"


def test_the_id_scheme():
    assert matrix.DEFAULTS.id == "defaults@vps"
    assert matrix.EVERYTHING_ALL.id == "everything@all-targets"
    assert (
        Combo(("nginx", "frontend"), ("private", "vps")).id == "frontend+nginx@vps+private"
    )  # copier.yml order
    assert Combo(("api",), variant="py3.12", more=matrix.PY312).id == "api@vps~py3.12"
    assert str(Combo(("api",))) == "api@vps"
    with pytest.raises(ValueError, match=r"not a choice in copier\.yml"):
        Combo(("api", "bogus"))


def test_cloud_targets_get_a_realistic_project():
    assert Combo(("api",), ("gke",)).answers()["gcp_project"] == matrix.GCP["gcp_project"]
    assert "gcp_project" not in Combo(("api",), ("vps", "private")).answers()


def test_the_sweep_holds_every_accepted_service_set_and_every_target():
    sweep = set(matrix.SWEEP)
    assert {Combo(s) for s in matrix.accepted_service_sets()} <= sweep
    for targets in matrix.TARGET_SETS:
        assert Combo(matrix.DEFAULT_SERVICES, targets) in sweep
    assert matrix.EVERYTHING_ALL in sweep
    assert len(matrix.accepted_service_sets()) == 70  # today's rules: a new rule or service changes it


def test_supported_combinations_cover_every_service_and_target():
    supported = matrix.SUPPORTED
    assert 15 <= len(supported) <= 25
    assert matrix.DEFAULTS in supported and matrix.EVERYTHING_ALL in supported
    needs = {"db": {"api"}, "cache": {"api"}, "observability": {"api"}, "proxy": {"nginx"}}
    for service in matrix.SERVICES:
        alone = {service} | needs.get(service, set())
        assert any(set(c.services) == alone for c in supported), f"{service} alone (or with its needs)"
    for target in matrix.TARGETS:
        assert any(c.targets == (target,) for c in supported), f"{target} alone"


def test_readme_counts_the_supported_combinations():
    readme = (REPO / "README.md").read_text()
    stated = re.search(r"combination of answers — (\d+) of them", readme)
    assert stated, "README.md's Security section says how many combinations the gate scans"
    assert int(stated[1]) == len(matrix.SUPPORTED)


def test_smoke_runs_every_service_and_the_dev_layer():
    assert set(matrix.SERVICES) == {s for c in matrix.SMOKE for s in c.services}
    assert [c.id for c in matrix.SMOKE if c.variant == "dev"] == ["everything@vps~dev"]
