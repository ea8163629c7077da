"""Images built locally belong to one checkout. Compose tags what it builds
`<registry>/<image>:${API_TAG:-dev}`; a shared `dev` would let a build in one checkout (another
project with the same slug, or a second clone of this one) replace the image another runs.
scripts/after_copier.py (Copier's task, and `make .env` in a fresh clone) gives each checkout's
.env its own tag; CI, deployments and the smoke suite set tags of their own, which win."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

from dwsupport import smoke
from dwsupport.compose import compose_config, compose_prod
from dwsupport.dotenv import compose_layers, read_env
from dwsupport.render import Render, copy
from dwsupport.template_repo import GIT_ENV, git
from dwsupport.tools import run

CHECKOUT_TAG = re.compile(r"^dev-[0-9a-f]{8}$")


def built_images(
    project: pathlib.Path, *extra_layers: str, env: dict[str, str] | None = None
) -> dict[str, str]:
    """service -> image of every service compose builds, in the project's layers (+ extra ones)."""
    layers = [*compose_layers(project), *extra_layers]
    services = compose_config(project, layers=layers, env=env)["services"]
    return {name: s["image"] for name, s in services.items() if "build" in s}


def test_two_copies_with_the_same_answers_build_different_images(tmp_path):
    # the same answers and even the same directory name: only the place differs
    first, second = copy(tmp_path / "a" / "myapp"), copy(tmp_path / "b" / "myapp")
    for layers in ((), ("compose-dev.yml",)):
        mine, theirs = built_images(first, *layers), built_images(second, *layers)
        assert set(mine) == set(theirs) and {"api", "frontend"} <= set(mine), mine
        assert not set(mine.values()) & set(theirs.values()), (mine, theirs)
    for project in (first, second):
        env = read_env(project / ".env")
        assert CHECKOUT_TAG.match(env["API_TAG"]) and env["API_TAG"] == env["FRONTEND_TAG"], env
    assert read_env(first / ".env.example")["API_TAG"] == "dev", ".env.example stays the same for everyone"


def after_copier(project: pathlib.Path, operation: str) -> str:
    proc = run([sys.executable, "scripts/after_copier.py", operation], cwd=project, env=GIT_ENV)
    return proc.stdout


def test_a_checkout_keeps_its_tag_and_a_tag_you_set(default_render: Render, tmp_path):
    project = default_render.copy_to(tmp_path / "p")
    (project / ".env").write_text(
        (project / ".env").read_text().replace(read_env(project / ".env")["API_TAG"], "dev")
    )
    after_copier(project, "copy")
    tag = read_env(project / ".env")["API_TAG"]
    assert CHECKOUT_TAG.match(tag)
    assert after_copier(project, "copy") == "", "a second run changes nothing"
    assert read_env(project / ".env")["API_TAG"] == tag
    (project / ".env").write_text(
        (project / ".env").read_text().replace(f"FRONTEND_TAG={tag}", "FRONTEND_TAG=mine")
    )
    after_copier(project, "copy")
    assert read_env(project / ".env")["FRONTEND_TAG"] == "mine"


def test_a_fresh_clone_gets_a_tag_of_its_own(default_render: Render, tmp_path):
    origin = default_render.copy_to(tmp_path / "origin")
    git(origin, "init", "-q")
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "generated")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    subprocess.run(["make", ".env"], cwd=clone, check=True, capture_output=True)
    tags = {read_env(p / ".env")["API_TAG"] for p in (origin, clone)}
    assert len(tags) == 2 and all(CHECKOUT_TAG.match(t) for t in tags), tags


def test_update_scratch_renders_get_nothing(default_render: Render, tmp_path):
    # `copier update` renders template versions into scratch directories (no git work tree)
    scratch = default_render.copy_to(tmp_path / "scratch")
    for name in ("secrets", ".env"):
        path = scratch / name
        if path.is_dir():
            for child in path.iterdir():
                child.unlink()
            path.rmdir()
        else:
            path.write_text(path.read_text().replace(read_env(path)["API_TAG"], "dev"))
    before = (scratch / ".env").read_text()
    assert after_copier(scratch, "update") == ""
    assert not (scratch / "secrets").exists() and (scratch / ".env").read_text() == before


def test_ci_deployments_and_the_smoke_suite_set_their_own_tags(default_render: Render):
    project = default_render.root
    registry = default_render.context["api_image"]
    sha = "0123456789abcdef0123456789abcdef01234567"  # CI's tag: the full commit SHA
    assert compose_prod(project, tag=sha)["services"]["api"]["image"] == f"{registry}:{sha}"
    smoke_tags = smoke.image_tags(project, vite_api_url="")
    images = built_images(project, env=smoke_tags)
    assert images["api"] == f"{registry}:{smoke_tags['API_TAG']}"
    assert images["frontend"].endswith(f":{smoke_tags['FRONTEND_TAG']}")
