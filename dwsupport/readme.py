"""The commands README.md tells a user to type, read from its fenced ```bash blocks, so that the
tests run them verbatim (never a retyped copy that could drift from the text)."""

from __future__ import annotations

import re

from dwsupport import REPO

FENCE = re.compile(r"```bash\n(.*?)```", re.S)


def blocks(text: str | None = None) -> list[str]:
    """Every ```bash block of README.md (or of `text`)."""
    found: list[str] = FENCE.findall((REPO / "README.md").read_text() if text is None else text)
    return found


def command(comment: str, text: str | None = None) -> str:
    """The one command line of the block whose comment line contains `comment`."""
    matching = [
        b for b in blocks(text) if any(comment in line for line in b.splitlines() if line.startswith("#"))
    ]
    if len(matching) != 1:
        raise LookupError(f"README.md: {len(matching)} ```bash blocks with a comment containing {comment!r}")
    lines = [line for line in matching[0].splitlines() if line.strip() and not line.startswith("#")]
    if len(lines) != 1:
        raise LookupError(f"README.md: the block of {comment!r} holds {len(lines)} commands, not one")
    return lines[0]
