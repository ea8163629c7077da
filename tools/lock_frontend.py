"""Refresh (or check) the generated frontend's package-lock.json.

package.json is static (the same for every answer set), so one lock serves every project. The
lock must name the public registry in `resolved` (some machines set omit-lockfile-registry-resolved).

    python tools/lock_frontend.py           # re-lock after editing frontend/package.json
    python tools/lock_frontend.py --upgrade # lock from scratch: every package at its newest allowed version
    python tools/lock_frontend.py --check   # exit 1 when package-lock.json does not match package.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "template" / "{% if use_frontend %}frontend{% endif %}"
REGISTRY = "https://registry.npmjs.org/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only check that the lock is current")
    mode.add_argument("--upgrade", action="store_true", help="lock from scratch (newest allowed)")
    args = parser.parse_args(argv)
    npm = shutil.which("npm") or sys.exit("lock_frontend: npm is not on PATH")
    with tempfile.TemporaryDirectory(prefix="dockwright-npm-") as tmp:
        work = pathlib.Path(tmp)
        shutil.copy(FRONTEND / "package.json", work)
        if not args.upgrade:
            shutil.copy(FRONTEND / "package-lock.json", work)
        subprocess.run(
            [
                npm,
                "install",
                "--package-lock-only",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--no-omit-lockfile-registry-resolved",
                f"--registry={REGISTRY}",
            ],
            cwd=work,
            check=True,
        )
        fresh = (work / "package-lock.json").read_text()
    lock = json.loads(fresh)
    bad = [
        name
        for name, pkg in lock.get("packages", {}).items()
        if name and not str(pkg.get("resolved", REGISTRY)).startswith(REGISTRY)
    ]
    if bad:
        sys.exit(f"lock_frontend: packages resolved outside {REGISTRY}: {bad[:5]}")
    current = (FRONTEND / "package-lock.json").read_text()
    if args.check:
        if json.loads(current) != lock:
            print("package-lock.json is out of date: run `nox -s lock`", file=sys.stderr)
            return 1
        return 0
    (FRONTEND / "package-lock.json").write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
