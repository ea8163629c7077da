"""Refresh (or check) the generated frontend's package-lock.json.

package.json is the same for every answer set but its `license` (the `license` question), so one
lock serves every project: both are templates whose one Jinja expression is that licence, in
package.json and in the lock's root package. npm locks a rendering with LOCKING_LICENSE, and the
expression goes back in its place. The lock must name the public registry in `resolved` (some
machines set omit-lockfile-registry-resolved).

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
LICENSE_EXPRESSION = "{{ npm_license | tojson }}"
LOCKING_LICENSE = '"UNLICENSED"'
# the root package of the lock, as npm writes it (the licence line follows the version)
LOCK_ROOT = '      "name": "frontend",\n      "version": "0.0.0",\n      "license": {},\n'


def rendered(name: str) -> str:
    """frontend/<name>.jinja with the licence npm locks with."""
    text = (FRONTEND / f"{name}.jinja").read_text()
    if text.count(LICENSE_EXPRESSION) != 1:
        sys.exit(f"lock_frontend: {name}.jinja must hold {LICENSE_EXPRESSION} exactly once")
    return text.replace(LICENSE_EXPRESSION, LOCKING_LICENSE)


def as_template(lock: str) -> str:
    """npm's lock with the root package's licence turned back into the template's expression."""
    root = LOCK_ROOT.format(LOCKING_LICENSE)
    if lock.count(root) != 1:
        sys.exit("lock_frontend: the lock's root package is not where it was: update LOCK_ROOT")
    return lock.replace(root, LOCK_ROOT.format(LICENSE_EXPRESSION))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only check that the lock is current")
    mode.add_argument("--upgrade", action="store_true", help="lock from scratch (newest allowed)")
    args = parser.parse_args(argv)
    npm = shutil.which("npm") or sys.exit("lock_frontend: npm is not on PATH")
    with tempfile.TemporaryDirectory(prefix="dockwright-npm-") as tmp:
        work = pathlib.Path(tmp)
        (work / "package.json").write_text(rendered("package.json"))
        if not args.upgrade:
            (work / "package-lock.json").write_text(rendered("package-lock.json"))
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
    if args.check:
        if json.loads(rendered("package-lock.json")) != lock:
            print("package-lock.json.jinja is out of date: run `nox -s lock`", file=sys.stderr)
            return 1
        return 0
    (FRONTEND / "package-lock.json.jinja").write_text(as_template(fresh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
