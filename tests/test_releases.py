"""Releases: PEP 440 versions as git tags, a CHANGELOG entry per version, and one migration
function per `_migrations` entry (its behaviour is tested in test_update.py)."""

from __future__ import annotations

import re
import subprocess

from packaging.version import Version

import migrations
from dwsupport import REPO
from dwsupport.render import COPIER_YML
from dwsupport.template_repo import current_version, releases

RELEASES = releases()
CURRENT = current_version()


def changelog() -> dict[Version, str]:
    """Version -> the text of its entry (`## <version> — <date>` headings)."""
    text = (REPO / "CHANGELOG.md").read_text()
    parts = re.split(r"^## (\S+) — \d{4}-\d{2}-\d{2}$", text, flags=re.MULTILINE)
    return {Version(v): body for v, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_releases_are_ordered_and_in_the_changelog():
    versions = [Version(r["version"]) for r in RELEASES]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    entries = changelog()
    assert list(entries) == sorted(entries, reverse=True), "newest entry first"
    assert set(versions) <= set(entries)
    assert CURRENT in entries and versions[-1] <= CURRENT, "pyproject's version has its entry"
    for release in RELEASES:
        assert re.fullmatch(r"[0-9a-f]{40}", release["commit"])


def test_release_tags_point_at_the_recorded_commits():
    """Where this clone has the tags (a clone may fetch none), they match tests/releases.toml."""
    for release in RELEASES:
        tag = subprocess.run(
            ["git", "rev-parse", "-q", "--verify", f"refs/tags/v{release['version']}^{{commit}}"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if tag.returncode == 0:
            assert tag.stdout.strip() == release["commit"], f"v{release['version']}"


def test_each_migration_has_its_function_and_changelog_note():
    functions = migrations.MIGRATIONS
    entries = changelog()
    declared = COPIER_YML.get("_migrations", [])
    assert declared, "at least the 0.2.0 migration"
    for migration in declared:
        version = Version(migration["version"])
        assert (
            migration["when"] == "{{ _stage == 'before' }}" or migration["when"] == "{{ _stage == 'after' }}"
        )
        assert str(version) in functions, f"migrations.py has no function for {version}"
        assert migration["command"][-1] == str(version) and "migrations.py" in migration["command"][1]
        assert entries[version].lstrip().startswith("Migration: **yes**"), (
            f"CHANGELOG {version} names its migration"
        )
    for version, body in entries.items():
        if body.lstrip().startswith("Migration: **yes**"):
            assert str(version) in functions


def test_migration_0_2_0_renames_env_keys_idempotently(tmp_path):
    env = tmp_path / ".env"
    env.write_text("# ports\nHTTP_PORT=18080\nexport TRAEFIK_DASHBOARD_PORT=9\nAPI_PORT=8000\n")
    module = migrations
    assert module.v0_2_0(tmp_path) == [
        ".env: HTTP_PORT -> PROXY_PORT",
        ".env: TRAEFIK_DASHBOARD_PORT -> PROXY_DASHBOARD_PORT",
    ]
    assert env.read_text() == "# ports\nPROXY_PORT=18080\nexport PROXY_DASHBOARD_PORT=9\nAPI_PORT=8000\n"
    assert module.v0_2_0(tmp_path) == []
    # both names set: nothing is overwritten, the user is told
    env.write_text("HTTP_PORT=1\nPROXY_PORT=2\n")
    assert module.v0_2_0(tmp_path) == [
        ".env: kept HTTP_PORT, PROXY_PORT is already set (remove HTTP_PORT by hand)"
    ]
    assert env.read_text() == "HTTP_PORT=1\nPROXY_PORT=2\n"
