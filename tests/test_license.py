"""The `license` answer: LICENSE holds the licence's standard text (MIT and BSD-3-Clause with the
copyright line: copyright_year and author_name), and the package metadata names the same SPDX
licence — the api's pyproject `license`, the frontend's package.json and its lock; `none` grants
no licence: no LICENSE, no pyproject `license`, npm's `UNLICENSED`."""

from __future__ import annotations

import json
import pathlib
import tomllib

import jinja2
import pytest
from packaging.licenses import canonicalize_license_expression

from dwsupport import REPO
from dwsupport.render import QUESTIONS, copy
from extensions import rules

LICENSES = [value for value in rules.choices("license") if value != "none"]
WITH_COPYRIGHT_LINE = {"MIT", "BSD-3-Clause"}  # copier.yml asks copyright_year for these
HOLDER = "Zoë Ørsted & Co"  # non-ASCII and an ampersand: written as is, not escaped
YEAR = 2024


@pytest.fixture(scope="module", params=["none", *LICENSES])
def licensed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, pathlib.Path]:
    license = request.param
    year = {"copyright_year": YEAR} if license in WITH_COPYRIGHT_LINE else {}
    dst = tmp_path_factory.mktemp("license") / "p"
    return license, copy(dst, skip_tasks=True, license=license, author_name=HOLDER, **year)


def test_license_file_is_the_standard_text(licensed):
    license, project = licensed
    if license == "none":
        assert not (project / "LICENSE").exists()
        return
    standard = (REPO / "licenses" / f"{license}.txt").read_text()
    expected = standard.replace("{{ copyright_year }}", str(YEAR)).replace("{{ author_name }}", HOLDER)
    assert (project / "LICENSE").read_text() == expected
    copyright_line = f"Copyright (c) {YEAR}{',' if license == 'BSD-3-Clause' else ''} {HOLDER}"
    assert (copyright_line in expected) == (license in WITH_COPYRIGHT_LINE)


def test_package_metadata_names_the_licence(licensed):
    license, project = licensed
    pyproject = tomllib.loads((project / "api" / "pyproject.toml").read_text())["project"]
    package = json.loads((project / "frontend" / "package.json").read_text())
    lock = json.loads((project / "frontend" / "package-lock.json").read_text())
    if license == "none":
        assert "license" not in pyproject
        assert package["license"] == lock["packages"][""]["license"] == "UNLICENSED"
        return
    # a valid SPDX expression (PEP 639 `license`; npm takes the same ids)
    assert canonicalize_license_expression(license) == license
    assert pyproject["license"] == package["license"] == lock["packages"][""]["license"] == license


def test_every_offered_licence_has_its_text():
    assert sorted(LICENSES) == sorted(p.stem for p in (REPO / "licenses").glob("*.txt"))


def test_copyright_year_is_asked_exactly_for_the_texts_with_a_copyright_line():
    when = jinja2.Environment().from_string(QUESTIONS["copyright_year"]["when"])
    for license in ["none", *LICENSES]:
        asked = when.render(license=license) == "True"
        text = (REPO / "licenses" / f"{license}.txt").read_text() if license != "none" else ""
        assert ("{{ copyright_year }}" in text) == ("{{ author_name }}" in text) == asked, license
