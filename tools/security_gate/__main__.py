"""The command line of the security gate (see __init__.py)."""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import pathlib
import shutil
import sys
import time

from dwsupport import REPO, matrix
from dwsupport.tools import ToolError
from tools.security_gate.collect import prepare, quiet_worker
from tools.security_gate.findings import ACCEPTED, apply_accepted, load_accepted
from tools.security_gate.report import readme_drift, summarize, write_report
from tools.security_gate.runners import scan

OUT = REPO / "build" / "security"
SUPPORTED = matrix.by_id(matrix.SUPPORTED)
DESCRIPTION = "Render every supported combination and scan it; fail on CRITICAL/HIGH findings."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.security_gate", description=DESCRIPTION)
    parser.add_argument(
        "--combos", help="comma-separated ids from dwsupport/matrix.py SUPPORTED (default: all)"
    )
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--accepted", type=pathlib.Path, default=ACCEPTED)
    args = parser.parse_args(argv)
    started = time.monotonic()
    ids = args.combos.split(",") if args.combos else list(SUPPORTED)
    unknown = [i for i in ids if i not in SUPPORTED]
    if unknown:
        parser.error(f"unknown combination(s) {unknown}; known: {', '.join(SUPPORTED)}")
    accepted = load_accepted(args.accepted)
    out = args.out.resolve()
    for sub in ("render", "tree", "built"):
        shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "render.log"
    log.unlink(missing_ok=True)
    with concurrent.futures.ProcessPoolExecutor(args.jobs, initializer=quiet_worker, initargs=(log,)) as pool:
        metas = list(pool.map(prepare, [SUPPORTED[i] for i in ids], [out] * len(ids)))
    rendered = time.monotonic()
    print(f"rendered and built {len(ids)} combinations in {rendered - started:.0f} s", flush=True)
    try:
        findings = scan(out, metas, args.jobs)
    except ToolError as e:  # GateError included
        print(f"security gate: FAIL (a scanner did not run properly)\n{e}", file=sys.stderr)
        return 2
    stale = apply_accepted(findings, accepted)
    full = set(ids) == set(SUPPORTED)
    text, ok = summarize(findings, stale, ids, full, readme_drift(findings, SUPPORTED))
    seconds = time.monotonic() - started
    write_report(out / "report.json", findings, stale if full else [], metas, seconds)
    print(text)
    scanning = time.monotonic() - rendered
    print(f"{len(findings)} findings in {seconds:.0f} s (scanners {scanning:.0f} s)")
    print(f"report: {out / 'report.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
