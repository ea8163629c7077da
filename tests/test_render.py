"""Every supported combination renders into well-formed files: nothing left of Jinja, every
YAML/JSON/TOML parses, no `:latest`, no secret value outside secrets/, scripts are clean."""

from __future__ import annotations

import json
import pathlib
import re
import tomllib
from collections.abc import Iterator

import yaml

from dwsupport.compose import load_yaml_all
from dwsupport.tools import run, tool

# Grafana's legendFormat uses {{label}} placeholders of its own: these files are copied verbatim.
OWN_BRACES = {"grafana/dashboards/api.json"}
# A Jinja expression or statement that survived rendering (Python dicts and JS objects end in }} too,
# so look for the opening forms only).
JINJA_LEFTOVER = re.compile(
    r"{{-?\s*[A-Za-z_][\w.]*\s*(\|[^}]*)?-?}}"
    r"|{%-?\s*(if|elif|else|endif|for|endfor|set|raw|endraw|include|macro|endmacro)\b"
)
LATEST = re.compile(
    r"(image:\s*\S+:latest\b|FROM\s+\S+:latest\b|:latest[\"'\s]|^\s*-?\s*image:\s*[^\s:@]+\s*$)", re.M
)


def project_files(root: pathlib.Path) -> Iterator[pathlib.Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and ".git" not in path.parts and "node_modules" not in path.parts:
            yield path


def text_files(root: pathlib.Path) -> Iterator[tuple[pathlib.Path, str]]:
    for path in project_files(root):
        try:
            yield path, path.read_text()
        except UnicodeDecodeError:
            continue


def test_no_jinja_leftovers(sweep_project):
    for path, text in text_files(sweep_project):
        rel = path.relative_to(sweep_project).as_posix()
        if rel in OWN_BRACES or rel.endswith("package-lock.json") or rel.endswith("uv.lock"):
            continue
        # GitHub Actions expressions are ${{ ... }}: they are meant to stay.
        cleaned = re.sub(r"\$\{\{.*?\}\}", "", text)
        leftover = JINJA_LEFTOVER.search(cleaned)
        assert leftover is None, f"{rel}: {leftover.group()}"


def test_structured_files_parse(sweep_project):
    for path in project_files(sweep_project):
        if path.suffix in {".yml", ".yaml"}:
            load_yaml_all(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".toml" or path.name == "uv.lock":
            tomllib.loads(path.read_text())


def test_no_latest_tags(sweep_project):
    for path, text in text_files(sweep_project):
        if path.name in {"package-lock.json", "uv.lock"} or path.suffix == ".md":
            continue
        match = LATEST.search(text)
        assert not match, f"{path.relative_to(sweep_project)}: {match.group().strip()}"


def test_no_secret_value_outside_secrets(sweep_project):
    secrets_dir = sweep_project / "secrets"
    values = [p.read_text().strip() for p in secrets_dir.glob("*.txt")] if secrets_dir.exists() else []
    assert all(len(v) >= 32 for v in values)
    for path, text in text_files(sweep_project):
        if secrets_dir in path.parents:
            continue
        for value in values:
            assert value not in text, f"a secret value leaked into {path.relative_to(sweep_project)}"


def test_secrets_are_ignored_by_git(sweep_project):
    ignored = (sweep_project / ".gitignore").read_text().split()
    assert "secrets/" in ignored and ".env" in ignored


def test_answers_file_holds_no_secret(sweep_project):
    answers = yaml.safe_load((sweep_project / ".copier-answers.yml").read_text())
    assert not [k for k in answers if "password" in k or "secret" in k or "token" in k]


def test_yamllint(sweep_project):
    config = json.dumps(
        {
            "extends": "default",
            "rules": {
                # long `run:` lines and URLs are fine; copier writes the answers file's lists unindented
                "line-length": "disable",
                "indentation": {"indent-sequences": "whatever"},
                "document-start": "disable",
                "truthy": {"check-keys": False},
                "comments": {"min-spaces-from-content": 1},
                "comments-indentation": "disable",
            },
        }
    )
    files = [str(p) for p in project_files(sweep_project) if p.suffix in {".yml", ".yaml"}]
    files += [str(p) for p in sweep_project.glob(".*.yml")]
    run([tool("yamllint"), "--strict", "-d", config, *sorted(set(files))])


def test_shell_scripts_are_clean(sweep_project):
    scripts = [p for p in project_files(sweep_project) if p.suffix == ".sh"]
    for script in scripts:
        run(["bash", "-n", str(script)])
        assert script.stat().st_mode & 0o111, f"{script} is not executable"
    if scripts:
        run([tool("shellcheck"), "--severity=style", *map(str, scripts)])
