"""Vendor the inputs of a GitHub Action at a pinned commit into tests/data/action_inputs.yml.

    python -m tools.vendor_action_inputs GIT_DIR OWNER/REPO[/PATH] COMMIT VERSION

GIT_DIR is a clone (bare or not) of OWNER/REPO holding COMMIT; PATH is the action's folder inside
it (github/codeql-action/upload-sarif). Reads `PATH/action.yml` (or `.yaml`) and the repository's
LICENSE at that commit and records, per input, whether it is required, has a default, or is
deprecated. tests/test_action_inputs.py checks every `uses:` of the template's workflows (and of
this repository's own) against these records: an input the pinned version lacks, or a required
one left out, fails the suite. Run this for every new pin (Renovate's pull requests included).
"""

from __future__ import annotations

import argparse
import pathlib
import re
import subprocess
import sys
from typing import Any

import yaml

DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data" / "action_inputs.yml"
HEADER = """\
# The inputs of every GitHub Action the template's workflows and this repository's own workflows
# use, as each pinned commit's action.yml declares them (tests/test_action_inputs.py).
# Made by `python -m tools.vendor_action_inputs` from the action's own repository at that commit;
# only input names and their required/default/deprecated flags are kept (no descriptions, no
# code). Each entry names its source and the action's licence.
"""
LICENCES = {"MIT License": "MIT", "Apache License": "Apache-2.0"}


def git_show(git_dir: pathlib.Path, commit: str, path: str) -> str | None:
    proc = subprocess.run(
        ["git", "-C", str(git_dir), "show", f"{commit}:{path}"], capture_output=True, text=True
    )
    return proc.stdout if proc.returncode == 0 else None


def licence(git_dir: pathlib.Path, commit: str) -> str:
    for name in ("LICENSE", "LICENSE.md", "LICENSE.txt"):
        text = git_show(git_dir, commit, name)
        if text:
            return next((spdx for marker, spdx in LICENCES.items() if marker in text), "see LICENSE")
    return "no LICENSE file"


def record(git_dir: pathlib.Path, action: str, commit: str, version: str) -> dict[str, Any]:
    owner, repo, *path = action.split("/")
    folder = "/".join(path)
    for name in ("action.yml", "action.yaml"):
        file = f"{folder}/{name}" if folder else name
        text = git_show(git_dir, commit, file)
        if text is not None:
            break
    else:
        raise SystemExit(f"no action.yml in {action} at {commit}")
    declared = yaml.safe_load(text).get("inputs") or {}
    inputs = {
        key: {
            "required": bool((spec or {}).get("required", False)),
            "default": "default" in (spec or {}),
            **({"deprecated": True} if (spec or {}).get("deprecationMessage") else {}),
        }
        for key, spec in declared.items()
    }
    return {
        "version": version,
        "source": f"https://github.com/{owner}/{repo}/blob/{commit}/{file}",
        "licence": licence(git_dir, commit),
        "inputs": inputs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("git_dir", type=pathlib.Path)
    parser.add_argument("action", help="OWNER/REPO or OWNER/REPO/PATH")
    parser.add_argument("commit")
    parser.add_argument("version", help="the release the commit is, e.g. v7.0.1")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[0-9a-f]{40}", args.commit):
        parser.error("COMMIT must be a full 40-hex commit SHA")
    resolved = subprocess.run(
        ["git", "-C", str(args.git_dir), "rev-parse", f"{args.version}^{{commit}}"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if resolved != args.commit:
        parser.error(f"{args.version} is {resolved or 'not a tag'} in {args.git_dir}, not {args.commit}")
    data: dict[str, dict[str, Any]] = yaml.safe_load(DATA.read_text()) if DATA.exists() else {}
    data.setdefault(args.action, {})[args.commit] = record(
        args.git_dir, args.action, args.commit, args.version
    )
    ordered = {k: dict(sorted(v.items(), key=lambda kv: kv[1]["version"])) for k, v in sorted(data.items())}
    DATA.parent.mkdir(parents=True, exist_ok=True)
    DATA.write_text(HEADER + yaml.safe_dump(ordered, sort_keys=False, width=110))
    return 0


if __name__ == "__main__":
    sys.exit(main())
