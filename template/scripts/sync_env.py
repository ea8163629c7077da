"""Bring .env up to date with .env.example, keeping your own values.

.env is yours: git-ignored, created once by copier and never overwritten by `copier update`, so
template changes cannot be merged into it the way they are merged into tracked files. This
script merges them key by key.

After `copier update` (a Copier task, `--base-from-git`), it knows the template's old defaults
(.env.example as last committed) and the new ones (.env.example in the work tree), and merges
three ways, like git:
  - a key the template added is inserted where .env.example has it, with its comment;
  - a value you never changed follows the template's new default; a value you changed stays;
  - a key the template dropped goes if you never changed it, and stays (with a note) if you did;
  - a key you deleted is not brought back;
  - COMPOSE_FILE merges as a list: the layers the template added or removed are added or
    removed, the ones you added yourself (compose-dev.yml, compose.override.yml, ...) stay.
Without a base (`make env-sync`, e.g. after pulling a teammate's update), it only adds the keys
and layers that .env lacks and drops layers whose files no longer exist. `--check` changes
nothing and exits 1 when .env would change (`make env-check`).

`--layers` prints .env's COMPOSE_FILE (`--layers --dev`: with compose-dev.yml) for the Makefile,
and exits 1 with what to do when .env lacks it or lists a file that does not exist: every make
target that runs compose checks this first, so none starts a stack without its layers.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shutil
import subprocess
import sys
from collections.abc import Callable

LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
LAYERS = "COMPOSE_FILE"
SEPARATOR = ":"


def parse(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        match = LINE.match(line)
        if match:
            out[match.group(1)] = match.group(2)
    return out


def block_of(lines: list[str], key: str) -> list[str]:
    """`key=` as .env.example has it: with the comment lines directly above it, and the blank
    line that opens its section, if any."""
    for i, line in enumerate(lines):
        match = LINE.match(line)
        if match and match.group(1) == key:
            start = i
            while start > 0 and lines[start - 1].startswith("#"):
                start -= 1
            opens_section = start < i and start > 0 and not lines[start - 1].strip()
            return [""] * opens_section + lines[start : i + 1]
    return []


def insert_missing(out: list[str], theirs_lines: list[str], missing: list[str]) -> None:
    """Put each missing key where .env.example has it: after the nearest key above it there that
    .env has too (at the end when there is none)."""
    order = list(parse(theirs_lines))
    for key in missing:
        block, position = block_of(theirs_lines, key), None
        for previous in reversed(order[: order.index(key)]):
            found = [i for i, line in enumerate(out)
                     if (m := LINE.match(line)) and m.group(1) == previous]
            if found:
                position = found[0] + 1
                break
        if position is None:  # no neighbour: a section of its own at the end
            position = len(out)
            block = block if not block[0].strip() else ["", *block]
        out[position:position] = block


def same_lines_but_values(ours_lines: list[str], base_lines: list[str]) -> bool:
    """.env is .env.example as it was, line for line, except for its settings' values (yours,
    this checkout's image tags) or names (a migration's rename): every comment and blank line in
    place."""
    if len(ours_lines) != len(base_lines):
        return False
    pairs = zip(ours_lines, base_lines, strict=True)
    return all(mine == was or (LINE.match(mine) and LINE.match(was)) for mine, was in pairs)


def merge_layers(ours: str, theirs: str, base: str | None, exists: Callable[[str], bool]) -> str:
    mine = [x for x in ours.split(SEPARATOR) if x]
    new = [x for x in theirs.split(SEPARATOR) if x]
    old = [x for x in base.split(SEPARATOR) if x] if base is not None else []
    # removed by the template, or (without a base) listed but gone from disk
    dropped = {x for x in old if x not in new} | {x for x in mine if x not in new and not exists(x)}
    result = [x for x in mine if x not in dropped]
    for i, layer in enumerate(new):
        if layer in result or (layer in old and layer not in mine):
            continue  # present already, or taken out by you
        before = [x for x in new[:i] if x in result]
        result.insert(result.index(before[-1]) + 1 if before else 0, layer)
    return SEPARATOR.join(result)


def sync(
    ours_lines: list[str],
    theirs_lines: list[str],
    base_lines: list[str] | None,
    exists: Callable[[str], bool],
) -> tuple[list[str], list[str]]:
    """Return .env's new lines and one note per change (or per value kept on purpose)."""
    if base_lines is not None and ours_lines == base_lines:
        # .env was never edited: it simply becomes the new .env.example
        if ours_lines == theirs_lines:
            return list(ours_lines), []
        return list(theirs_lines), ["took the new .env.example (.env was never edited)"]
    ours, theirs = parse(ours_lines), parse(theirs_lines)
    base = parse(base_lines) if base_lines is not None else None
    reshaped = base_lines is None or not same_lines_but_values(ours_lines, base_lines)
    if base is not None and not reshaped:
        # only settings were changed: the new .env.example, comments and all, with those settings
        # in it (when the template still has each of them)
        edited = {key: value for key, value in ours.items() if value != base.get(key)}
        if all(key in theirs for key in edited):
            out = list(theirs_lines)
            for i, line in enumerate(out):
                match = LINE.match(line)
                if match and match.group(1) in edited:
                    key = match.group(1)
                    value = edited[key]
                    if key == LAYERS:
                        value = merge_layers(value, theirs[key], base.get(key), exists)
                    out[i] = f"{key}={value}"
            notes = []
            for key, value in ours.items():  # the notes the line-by-line merge below writes
                if key == LAYERS and key in edited and value != (merged := parse(out)[key]):
                    notes.append(f"{key}: {value} -> {merged}")
                elif key not in theirs:
                    notes.append(f"removed {key} (the template dropped it)")
                elif key not in edited and theirs[key] != value:
                    notes.append(f"{key}: {value} -> {theirs[key]} (new template default)")
            notes += [f"added {key}={theirs[key]}" for key in theirs if key not in ours]
            return out, notes
    notes: list[str] = []
    out: list[str] = []
    for line in ours_lines:
        match = LINE.match(line)
        if not match:
            out.append(line)
            continue
        key, value = match.groups()
        if key == LAYERS and key in theirs:
            merged = merge_layers(value, theirs[key], base.get(key) if base else None, exists)
            if merged != value:
                notes.append(f"{key}: {value} -> {merged}")
            out.append(f"{key}={merged}")
        elif base is None or key not in base:
            out.append(line)  # your own key, or nothing to compare with
        elif key not in theirs:
            if value == base[key]:
                notes.append(f"removed {key} (the template dropped it)")
                # its explanation goes too, unless the new .env.example still has that comment
                explanation = set(block_of(base_lines, key)) - set(theirs_lines)
                while out and out[-1].startswith("#") and out[-1] in explanation:
                    out.pop()
            else:
                notes.append(f"kept {key}={value}: the template dropped it, but you had changed it")
                out.append(line)
        elif value == base[key] and theirs[key] != value:
            notes.append(f"{key}: {value} -> {theirs[key]} (new template default)")
            out.append(f"{key}={theirs[key]}")
        else:
            out.append(line)
    missing = [k for k in theirs if k not in ours and (base is None or k not in base)]
    insert_missing(out, theirs_lines, missing)
    notes.extend(f"added {key}={theirs[key]}" for key in missing)
    if any(note.startswith("removed ") for note in notes):  # no double blank lines left behind
        out = [line for i, line in enumerate(out) if line.strip() or (i and out[i - 1].strip())]
    return out, notes


def checked_layers(root: pathlib.Path, dev: bool) -> tuple[str, str]:
    """(COMPOSE_FILE's value, "") when .env lists layers that all exist, else ("", the problem)."""
    env = root / ".env"
    if not env.is_file():
        return "", "there is no .env: run `make env-sync`, or copy .env.example to .env"
    layers = [x for x in parse(env.read_text().splitlines()).get(LAYERS, "").split(SEPARATOR) if x]
    if not layers:
        return "", (f".env has no {LAYERS} (the compose layers of this project): "
                    "run `make env-sync` to take it from .env.example")
    missing = [x for x in layers if not (root / x).is_file()]
    if missing:
        return "", (f".env's {LAYERS} lists {', '.join(missing)}, not found here: "
                    "run `make env-sync`, or fix that line of .env")
    if dev and "compose-dev.yml" not in layers:
        layers.append("compose-dev.yml")
    return SEPARATOR.join(layers), ""


def committed_example(root: pathlib.Path) -> list[str] | None:
    """.env.example as of HEAD: what the template rendered before this update (None if unknown)."""
    git = shutil.which("git")
    if git is None:
        return None
    # fixed arguments, no user input: nothing to inject
    show = subprocess.run([git, "show", "HEAD:./.env.example"], cwd=root,  # noqa: S603
                          capture_output=True, text=True, check=False)
    return show.stdout.splitlines() if show.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="merge .env.example's changes into .env")
    parser.add_argument("root", nargs="?", type=pathlib.Path, default=pathlib.Path.cwd())
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if .env is behind")
    parser.add_argument("--base-from-git", action="store_true",
                        help="three-way merge against HEAD:.env.example (copier update's task)")
    parser.add_argument("--layers", action="store_true",
                        help="print .env's COMPOSE_FILE; exit 1 with a hint when it is missing")
    parser.add_argument("--dev", action="store_true", help="with --layers: add compose-dev.yml")
    args = parser.parse_args(argv)
    root: pathlib.Path = args.root
    if args.layers:
        layers, problem = checked_layers(root, args.dev)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 1
        print(layers)
        return 0
    env, example = root / ".env", root / ".env.example"
    if not env.is_file() or not example.is_file():
        return 0  # nothing to merge: `make .env` copies the example
    ours = env.read_text().splitlines()
    base = committed_example(root) if args.base_from_git else None
    new, notes = sync(ours, example.read_text().splitlines(), base, lambda f: (root / f).is_file())
    if new == ours:
        return 0
    print(".env " + ("is behind .env.example:" if args.check else "updated from .env.example:"))
    for note in notes:
        print(f"  {note}")
    if args.check:
        print("  run `make env-sync` to apply")
        return 1
    env.write_text("\n".join(new) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
