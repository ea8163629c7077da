"""A stand-in `gcloud` for tests: it runs the real gcloud offline, so every call is parsed for real.

With an empty configuration folder, every gcloud command fails with an auth error *after* its
arguments are parsed (and, for `run ... replace`, after the YAML is read into Cloud Run's API
messages): the stand-in records whether parsing passed, what the call was, and the YAML files it
was given, then answers with plausible output so that a script carries on to its next command. A call whose
arguments contain GCLOUD_FAIL (when set) fails as a cloud-side failure would: exit 1 after parsing.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys
import textwrap
from typing import Any

AUTH_ERROR = "You do not currently have an active account selected"

SHIM = textwrap.dedent("""\
    #!{python}
    import json, os, subprocess, sys
    args = sys.argv[1:]
    proc = subprocess.run([os.environ["REAL_GCLOUD"], *args], capture_output=True, text=True)
    ok = proc.returncode == 0 or {auth!r} in proc.stderr
    files = {{a: open(a).read() for a in args if a.endswith(".yaml") and os.path.isfile(a)}}
    entry = {{"args": args, "ok": ok, "stderr": proc.stderr[-3000:], "files": files}}
    with open(os.environ["GCLOUD_LOG"], "a") as log:
        log.write(json.dumps(entry) + "\\n")
    if not ok:
        sys.stderr.write(proc.stderr)
        sys.exit(2)
    if os.environ.get("GCLOUD_FAIL") and os.environ["GCLOUD_FAIL"] in " ".join(args):
        sys.stderr.write("ERROR: the execution failed (GCLOUD_FAIL)\\n")
        sys.exit(1)
    if "list" in args:
        print("rev-00002\\nrev-00001")
    elif "value(host)" in args:
        print("10.0.0.3")
    elif "describe" in args:
        print("https://service.a.run.app")
    """)


def shim_env(folder: pathlib.Path, log: pathlib.Path) -> dict[str, str]:
    """Install the stand-in in folder/bin; the environment that puts it first on PATH and logs
    every call to `log` (one JSON object per line)."""
    real = shutil.which("gcloud")
    if not real:
        raise RuntimeError("gcloud is not installed (CI's machine has it; see .ci/run)")
    shim = folder / "bin" / "gcloud"
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text(SHIM.format(python=sys.executable, auth=AUTH_ERROR))
    shim.chmod(0o755)
    return {
        "REAL_GCLOUD": real,
        "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}",
        "CLOUDSDK_CONFIG": str(folder / "config"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
        "GCLOUD_LOG": str(log),
    }


def calls(log: pathlib.Path) -> list[dict[str, Any]]:
    """The recorded calls: {"args", "ok", "stderr", "files"} each."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
