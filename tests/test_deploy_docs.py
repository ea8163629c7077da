"""Promise: the gcloud commands the deploy guides print are what users type, and gcloud accepts
every one of them (run through the real gcloud, offline: parsing passes, then auth stops it). The
guides set up what the manifests need: Certificate Manager and the SSL policy for the GKE Gateway,
the Direct VPC egress subnet for Cloud Run (and no connector), Cloud SQL with automated backups
and point-in-time recovery, and the commands that restore them."""

from __future__ import annotations

import concurrent.futures
import pathlib
import re
import subprocess

import pytest

from dwsupport import matrix
from dwsupport.gcloud import calls, shim_env

FENCE = re.compile(r"^\s*```")


def bash_lines(markdown: str) -> list[str]:
    """The logical lines (continuations joined) of the ```bash blocks of a Markdown text."""
    lines, block, current = [], False, ""
    for raw in markdown.splitlines():
        if FENCE.match(raw):
            block = raw.strip() == "```bash" if not block else False
            continue
        if not block:
            continue
        line = raw.strip()
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        current += line
        if current and not current.startswith("#"):
            lines.append(current)
        current = ""
    return lines


def gcloud_commands(markdown: str) -> list[str]:
    """Every gcloud command of the guide's shell blocks (a pipeline's gcloud parts each)."""
    return [
        part.strip()
        for line in bash_lines(markdown)
        for part in line.split(" | ")
        if part.startswith("gcloud ")
    ]


def test_bash_lines_reads_blocks_and_continuations():
    text = (
        "x\n```bash\ngcloud a \\\n  --b c   # note\n# comment\n```\n"
        "```\ngcloud not-bash\n```\n  ```bash\n  gcloud d\n  ```\n"
    )
    assert bash_lines(text) == ["gcloud a --b c   # note", "gcloud d"]


def run_commands(
    project: pathlib.Path, commands: list[str], env: dict[str, str], logs: pathlib.Path
) -> list[dict]:
    """Run each command in the project (concurrently: gcloud mostly waits), each logging to its
    own file in `logs`; the gcloud calls they made."""
    logs.mkdir(parents=True)
    files = [logs / f"{i}.log" for i in range(len(commands))]

    def one(command: str, log: pathlib.Path) -> None:
        bash = ["bash", "-c", command]
        subprocess.run(bash, cwd=project, env={**env, "GCLOUD_LOG": str(log)}, input="", capture_output=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(one, commands, files))
    return [call for log in files for call in calls(log)]


@pytest.fixture(scope="module", params=matrix.DEPLOY_DOCS, ids=str)
def guide_calls(request, renders, tmp_path_factory) -> tuple[matrix.Combo, dict[str, list[dict]]]:
    """guide → the gcloud calls its commands made (each run in the project, as a user would)."""
    combo = request.param
    render = renders.of(combo)
    project = render.copy_to(tmp_path_factory.mktemp("docs") / "p")
    env = shim_env(project.parent / "gcloud", project.parent / "unused.log")
    # the guides' prerequisite `gcloud config set project ...`, as an environment variable
    env["CLOUDSDK_CORE_PROJECT"] = render.answers["gcp_project"]
    out = {}
    for guide in sorted((project / "docs").glob("deploy-*.md")):
        commands = gcloud_commands(guide.read_text())
        out[guide.stem] = run_commands(project, commands, env, project.parent / "logs" / guide.stem)
    return combo, out


def flags(made: list[dict], *words: str) -> list[list[str]]:
    """The arguments of each call whose command starts with these words (after --project X)."""
    out = []
    for call in made:
        positional = [a for a in call["args"] if not a.startswith("-")]
        if positional[: len(words)] == list(words) or positional[1 : len(words) + 1] == list(words):
            out.append(call["args"])
    return out


def test_every_gcloud_command_of_the_guides_parses(guide_calls):
    _, guides = guide_calls
    assert guides
    for guide, made in guides.items():
        bad = [c for c in made if not c["ok"]]
        assert not bad, f"{guide}:\n" + "\n".join(" ".join(c["args"]) + "\n" + c["stderr"] for c in bad)
        for call in made:
            assert not [a for a in call["args"] if "vpc-access" in a or "vpc-connector" in a], call["args"]


def test_cloud_sql_backups_and_restore(guide_calls):
    combo, guides = guide_calls
    if not combo.has("db"):
        return
    for guide in {"deploy-cloudrun", "deploy-gke"} & set(guides):
        made = guides[guide]
        (create,) = flags(made, "sql", "instances", "create")
        (patch,) = flags(made, "sql", "instances", "patch")
        for args in (create, patch):
            for flag in (
                "--backup-start-time",
                "--enable-point-in-time-recovery",
                "--retained-backups-count",
            ):
                assert flag in args, (guide, args)
            assert args[args.index("--retained-transaction-log-days") + 1] == "7"  # Enterprise: at most 7
        assert "--deletion-protection" in create
        assert flags(made, "sql", "backups", "restore") and flags(made, "sql", "backups", "list")
        (clone,) = flags(made, "sql", "instances", "clone")
        assert "--point-in-time" in clone


def test_cloud_run_subnet_for_direct_vpc_egress(guide_calls):
    combo, guides = guide_calls
    if "deploy-cloudrun" not in guides or not combo.has("cache"):
        return
    made = guides["deploy-cloudrun"]
    (subnet,) = flags(made, "compute", "networks", "subnets", "create")
    answers = combo.answers()
    network, name = answers.get("gcp_network"), answers.get("gcp_subnet")
    prefix = int(subnet[subnet.index("--range") + 1].split("/")[1])
    assert prefix <= 26, "Direct VPC egress needs a /26 or larger subnet"
    assert subnet[subnet.index("--region") + 1] == answers["gcp_region"]
    if network:
        assert subnet[subnet.index("--network") + 1] == network and name in subnet


def test_gke_certificate_map_and_ssl_policy(guide_calls):
    _, guides = guide_calls
    if "deploy-gke" not in guides:
        return
    made = guides["deploy-gke"]
    (certificate,) = flags(made, "certificate-manager", "certificates", "create")
    domains = certificate[certificate.index("--domains") + 1].split(",")
    authorizations = flags(made, "certificate-manager", "dns-authorizations", "create")
    assert sorted(a[a.index("--domain") + 1] for a in authorizations) == sorted(domains)
    entries = flags(made, "certificate-manager", "maps", "entries", "create")
    assert sorted(e[e.index("--hostname") + 1] for e in entries) == sorted(domains)
    assert flags(made, "certificate-manager", "maps", "create")
    (policy,) = flags(made, "compute", "ssl-policies", "create")
    assert policy[policy.index("--min-tls-version") + 1] == "1.2"


def test_gke_binary_authorization_is_documented(guide_calls):
    """The cluster-side enforcement of what deploy-gke.yml verifies: the project's policy imported,
    and the cluster made to evaluate it at admission."""
    _, guides = guide_calls
    if "deploy-gke" not in guides:
        return
    made = guides["deploy-gke"]
    assert flags(made, "container", "binauthz", "policy", "export")
    assert flags(made, "container", "binauthz", "policy", "import")
    (update,) = [c for c in flags(made, "container", "clusters", "update") if any("binauthz" in a for a in c)]
    assert "--binauthz-evaluation-mode=project-singleton-policy-enforce" in update
