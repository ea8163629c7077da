"""Benchmarks printed as a table: medians of several runs (these machines are noisy).

- render: wall time of `copier copy --defaults` (5 runs).
- docker figures (when an engine answers): see tools/bench_docker.py.

    python -m tools.bench [--runs N] [--no-docker]    # from the repository root (nox -s bench)
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from dwsupport.render import copy_command


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def bench_render(runs: int) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        times = [timed(copy_command(pathlib.Path(tmp) / f"p{i}")) for i in range(runs)]
    return [
        (f"copier copy --defaults (median of {runs})", f"{statistics.median(times):.2f} s"),
        ("  min / max", f"{min(times):.2f} s / {max(times):.2f} s"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-docker", action="store_true", help="skip the image and stack figures")
    args = parser.parse_args()
    rows = bench_render(args.runs)
    if not args.no_docker:
        from tools import bench_docker  # imports the Docker SDK: only when it is used

        rows += bench_docker.run(runs=max(3, args.runs // 2 + 1))
    width = max(len(name) for name, _ in rows)
    table = [("measure", "value"), ("-" * width, "-" * 20), *rows]
    print("\n" + "\n".join(f"{name:<{width}}  {value}" for name, value in table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
