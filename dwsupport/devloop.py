"""A generated project's development loop run for real: its `make` targets and the commands its
README prints, with a smoke Stack's settings (project name, free ports, image tags); Compose
Watch in the background; edits timed until the running stack serves them. Used by the smoke
suite (tests/smoke/test_devloop.py) and `nox -s bench` (tools/bench_docker.py).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import shlex
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator

from dwsupport import probes
from dwsupport.smoke import Stack, StackError

READY = "Watch enabled"  # what `docker compose watch` prints once it watches


def user_env(stack: Stack) -> dict[str, str]:
    """The environment a person's shell would have, plus the stack's own project name, ports and
    image tags: compose reads everything else (COMPOSE_FILE among it) from the project's .env,
    as it does for them. Shell variables win over .env in compose, so ports and tags are ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env.update({k: v for k, v in stack.env.items() if not k.startswith("COMPOSE_")})
    env["COMPOSE_PROJECT_NAME"] = stack.project
    return env


def run_user(stack: Stack, argv: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """A command as a person types it in the project (argv[0] from PATH), checked."""
    try:
        proc = subprocess.run(
            argv, cwd=stack.dir, env=user_env(stack), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"`{shlex.join(argv)}` timed out after {timeout} s") from exc
    if proc.returncode != 0:
        raise StackError(
            f"`{shlex.join(argv)}` exited {proc.returncode}\n--- stdout (tail)\n{proc.stdout[-4000:]}"
            f"\n--- stderr (tail)\n{proc.stderr[-4000:]}\n{stack.diagnostics()}"
        )
    return proc


@contextlib.contextmanager
def in_background(stack: Stack, argv: list[str], log: pathlib.Path, ready: str = READY) -> Iterator[None]:
    """Run a long-lived command (`make dev`, `docker compose … watch`) in its own process group,
    wait until its output says `ready`; on exit, Ctrl-C it like a person would (SIGINT to that
    group), and kill the group if it does not end."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv,
            cwd=stack.dir,
            env=user_env(stack),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def started() -> bool:
            if proc.poll() is not None:
                raise StackError(f"`{shlex.join(argv)}` exited {proc.returncode}:\n{log.read_text()[-4000:]}")
            return ready in log.read_text()

        try:
            probes.wait_for(started, 900, f"`{shlex.join(argv)}` to print {ready!r}", interval=0.5)
        except probes.ProbeError as exc:
            raise StackError(f"{exc}\n{log.read_text()[-4000:]}") from None
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


def readme_commands(project: pathlib.Path, block: int) -> list[list[str]]:
    """The commands of the README's `block`-th ```bash block (comments dropped), as argv lists."""
    blocks = re.findall(r"```bash\n(.*?)```", (project / "README.md").read_text(), re.DOTALL)
    lines = [line.split(" #", 1)[0].strip() for line in blocks[block].splitlines()]
    return [shlex.split(line) for line in lines if line]


def readme_block(project: pathlib.Path, first_word: str, last_words: list[str]) -> list[list[str]]:
    """The README's bash block whose first command starts with `first_word` and ends with
    `last_words` (e.g. the explicit form of `make up`)."""
    count = len(re.findall(r"```bash\n", (project / "README.md").read_text()))
    for index in range(count):
        commands = readme_commands(project, index)
        if commands and commands[0][0] == first_word and commands[0][-len(last_words) :] == last_words:
            return commands
    raise StackError(f"README.md prints no `{first_word} … {' '.join(last_words)}` block")


# ------------------------------------------------------------------ edits and what they change
def token() -> str:
    """A marker no source file or served module contains by chance."""
    return f"watch{uuid.uuid4().hex[:16]}"


HEALTHZ = re.compile(r'(def healthz\(.*?return )(\{"status": "ok"[^}]*\})', re.DOTALL)


def edit_api(project: pathlib.Path, marker: str) -> float:
    """Change the api's /healthz answer to carry `marker` (api/app/main.py); returns the time."""
    main = project / "api" / "app" / "main.py"
    source = main.read_text()
    if not HEALTHZ.search(source):
        raise StackError('api/app/main.py: no `def healthz(…): … return {"status": "ok"…}` to edit')
    changed = HEALTHZ.sub(lambda m: f'{m[1]}{{"status": "ok", "watch": "{marker}"}}', source, count=1)
    start = time.perf_counter()
    main.write_text(changed)
    return start


def edit_frontend(project: pathlib.Path, marker: str) -> float:
    """Add an export carrying `marker` to frontend/src/app.ts; returns the time of the save."""
    module = project / "frontend" / "src" / "app.ts"
    source = re.sub(r'\nexport const watchProbe = "[^"]*";\n', "\n", module.read_text())
    start = time.perf_counter()
    module.write_text(f'{source}\nexport const watchProbe = "{marker}";\n')
    return start


def api_shows(port: int, host: str, marker: str) -> bool:
    r = probes.http(port, "/healthz", host=host, retry_for=5)
    return r.status == 200 and marker in r.text


def vite_serves(port: int, host: str, marker: str) -> bool:
    """The Vite dev server serves the module with the marker (what HMR then swaps in)."""
    r = probes.http(port, "/src/app.ts", host=host, retry_for=5)
    return r.status == 200 and marker in r.text


def save_to_visible(stack: Stack, which: str, timeout: float = 60) -> float:
    """Seconds from saving an edit to the stack serving it, through the proxy: the api's answer
    (uvicorn reloaded the synced code) or the frontend module (Vite saw the synced file)."""
    marker, port = token(), stack.ports["PROXY_PORT"]
    if which == "api":
        start = edit_api(stack.dir, marker)
        probes.wait_for(lambda: api_shows(port, "api.localhost", marker), timeout, "the api edit", 0.05)
    else:
        start = edit_frontend(stack.dir, marker)
        probes.wait_for(lambda: vite_serves(port, "localhost", marker), timeout, "the frontend edit", 0.05)
    return time.perf_counter() - start
