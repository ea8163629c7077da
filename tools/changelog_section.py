"""Print one version's section of CHANGELOG.md: the notes of its GitHub release.

    python3 tools/changelog_section.py v0.3.0 > notes.md

Used by .github/workflows/release.yml when a tag vX.Y.Z is pushed. Refuses (exit 1, and says
why) a tag that is not `v` + pyproject.toml's version, a version without a `## X.Y.Z` heading, a
section still marked unreleased, or an empty one. Standard library only: it runs on a bare runner.
"""

from __future__ import annotations

import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def section(changelog: str, version: str) -> str:
    """The text under `## <version>` up to the next `## ` heading, stripped."""
    heading = re.compile(rf"^## {re.escape(version)}(?:\s.*)?$", re.M)
    found = heading.search(changelog)
    if not found:
        raise ValueError(f"CHANGELOG.md has no '## {version}' section")
    if "unreleased" in found.group(0).lower():
        raise ValueError(f"CHANGELOG.md still marks {version} unreleased: give it its date first")
    rest = changelog[found.end() :]
    following = re.search(r"^## ", rest, re.M)
    body = (rest[: following.start()] if following else rest).strip()
    if not body:
        raise ValueError(f"CHANGELOG.md's {version} section is empty")
    return body + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not re.fullmatch(r"v\d+\.\d+\.\d+", argv[0]):
        print("usage: changelog_section.py vX.Y.Z", file=sys.stderr)
        return 2
    version = argv[0][1:]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    try:
        if version != project:
            raise ValueError(f"tag {argv[0]} is not pyproject.toml's version ({project})")
        sys.stdout.write(section((ROOT / "CHANGELOG.md").read_text(), version))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
