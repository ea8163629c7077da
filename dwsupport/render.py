"""Rendering the template: answers that refuse typos, copier copies (API and CLI), the `Render`
object (a render's root, its recorded answers and its derived context) and a cache of renders.

    python -m dwsupport.render everything@vps DST   # one combination of dwsupport.matrix into DST
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import pathlib
import shutil
import sys
from collections.abc import Mapping
from typing import Any

import copier
import yaml

from dwsupport import REPO, matrix
from extensions import context

COPIER_YML: dict[str, Any] = yaml.safe_load((REPO / "copier.yml").read_text())
QUESTIONS: dict[str, Any] = {k: v for k, v in COPIER_YML.items() if not k.startswith("_")}


def answers(**overrides: Any) -> dict[str, Any]:
    """Answers for a render. Refuses keys that are not questions: copier and pytest-copie
    silently ignore unknown keys, so a typo would render the default and pass."""
    unknown = set(overrides) - set(QUESTIONS)
    if unknown:
        raise KeyError(f"not questions in copier.yml: {sorted(unknown)}")
    return dict(overrides)


def copy(dst: pathlib.Path, *, skip_tasks: bool = False, **overrides: Any) -> pathlib.Path:
    """Render the template into dst with copier's API (the work tree included: copier renders a
    dirty repository's uncommitted changes), the other questions at their defaults."""
    copier.run_copy(
        str(REPO),
        str(dst),
        data=answers(**overrides),
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
        skip_tasks=skip_tasks,
    )
    return dst


def data_args(data: Mapping[str, Any]) -> list[str]:
    """`--data key=value` arguments of the copier CLI (lists and booleans as JSON)."""
    return [
        arg
        for k, v in answers(**data).items()
        for arg in ("--data", f"{k}={v if isinstance(v, str) else json.dumps(v)}")
    ]


def copy_command(
    dst: pathlib.Path,
    *,
    src: pathlib.Path = REPO,
    vcs_ref: str = "HEAD",
    data: Mapping[str, Any] | None = None,
) -> list[str]:
    """`copier copy` as a user types it (--defaults: every question not in `data` at its default)."""
    cli = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", vcs_ref]
    return [*cli, *data_args(data or {}), str(src), str(dst)]


def derive(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """extensions/context.py's derived values for a set of (recorded, defaults filled) answers."""
    return dict(context.derive(dict(recorded)))


@dataclasses.dataclass(frozen=True)
class Render:
    """A rendered project: its root, the answers copier recorded (defaults filled in) and the
    context the templates saw (extensions/context.py's derive() of those answers)."""

    root: pathlib.Path

    @functools.cached_property
    def answers(self) -> dict[str, Any]:
        recorded: dict[str, Any] = yaml.safe_load((self.root / ".copier-answers.yml").read_text())
        return {k: v for k, v in recorded.items() if not k.startswith("_")}

    @functools.cached_property
    def context(self) -> dict[str, Any]:
        return derive(self.answers)

    def copy_to(self, dst: pathlib.Path) -> pathlib.Path:
        """A private copy of the project, for a test that writes into it (renders are shared)."""
        shutil.copytree(self.root, dst, symlinks=True)
        return dst


class Renders:
    """Renders cached by their answers (a render takes about a second; many checks share one)."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.cache: dict[str, Render] = {}

    def of(self, combo: matrix.Combo) -> Render:
        answers = combo.answers()
        key = json.dumps(answers, sort_keys=True)
        if key not in self.cache:
            self.cache[key] = Render(copy(self.root / f"p{len(self.cache)}", **answers))
        return self.cache[key]


def main(argv: list[str] | None = None) -> int:
    known = matrix.by_id(c for combos in matrix.NAMED.values() for c in combos)
    parser = argparse.ArgumentParser(description="Render one combination of dwsupport.matrix.")
    parser.add_argument("combo", metavar="ID", help="a combination's id, e.g. everything@vps")
    parser.add_argument("dst", type=pathlib.Path)
    args = parser.parse_args(argv)
    if args.combo not in known:
        parser.error(f"unknown combination {args.combo!r}: the ids are listed in dwsupport/matrix.py")
    copy(args.dst, **known[args.combo].answers())
    return 0


if __name__ == "__main__":
    sys.exit(main())
