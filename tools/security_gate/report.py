"""The gate's verdict and report: a table of open findings per combination and scanner, the
MEDIUM/LOW ones listed, the accepted ones counted, README.md's published rows compared, and
build/security/report.json with every finding (tool, rule, severity, file, combination, reason).
"""

from __future__ import annotations

import json
import pathlib
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import asdict
from typing import Any

from dwsupport import REPO
from tools.security_gate.collect import Collected
from tools.security_gate.findings import SCANNERS, SEVERITIES, Accepted, Finding


def cell(findings: list[Finding]) -> str:
    counts = Counter(f.severity for f in findings if not f.accepted)
    return "/".join(str(counts[s]) for s in SEVERITIES)


def row(findings: list[Finding], cid: str) -> list[str]:
    """One combination's cells: C/H/M/L of open findings per scanner (SCANNERS order), then the
    number of accepted findings (the printed table and README.md's rows)."""
    mine = [f for f in findings if f.combo == cid]
    cells = [cell([f for f in mine if f.tool == s]) for s in SCANNERS]
    return [*cells, str(sum(1 for f in mine if f.accepted))]


def table(findings: list[Finding], combo_ids: list[str]) -> str:
    width = max(len(c) for c in [*combo_ids, "combination"])
    head = f"{'combination':<{width}}  " + "  ".join(f"{s:>{max(len(s), 9)}}" for s in SCANNERS)
    lines = [head + "  accepted", "-" * (len(head) + 10)]
    for cid in combo_ids:
        *cells, accepted = row(findings, cid)
        scanners = "  ".join(f"{c:>{max(len(s), 9)}}" for s, c in zip(SCANNERS, cells, strict=True))
        lines.append(f"{cid:<{width}}  {scanners}  {accepted:>8}")
    return "\n".join(lines)


def grouped(findings: list[Finding]) -> list[str]:
    """One line per (severity, tool, rule, file, resource, message) with the combinations' count."""
    groups = defaultdict(list)
    for f in findings:
        groups[(SEVERITIES.index(f.severity), f.tool, f.rule, f.file, f.resource, f.message)].append(f.combo)
    lines = []
    for (sev, tool, rule, file, resource, message), ids in sorted(groups.items()):
        res = f" [{resource}]" if resource else ""
        which = ids[0] if len(ids) == 1 else f"{len(ids)} combinations"
        lines.append(f"  {SEVERITIES[sev]:<8} {tool} {rule} {file}{res} ({which}): {message[:160]}")
    return lines


def summarize(
    findings: list[Finding],
    stale: list[Accepted],
    combo_ids: list[str],
    full: bool,
    drift: Sequence[str] = (),
) -> tuple[str, bool]:
    """The printed report, and whether the gate passes."""
    blocking = [f for f in findings if f.blocking]
    open_low = [f for f in findings if not f.accepted and not f.blocking]
    accepted = [f for f in findings if f.accepted]
    out = [
        "Open findings per combination and scanner (CRITICAL/HIGH/MEDIUM/LOW):",
        table(findings, combo_ids),
    ]
    if open_low:
        out += ["", f"MEDIUM and LOW findings ({len(open_low)}; listed, not blocking):", *grouped(open_low)]
    by_rule = Counter((f.tool, f.rule, f.severity) for f in accepted)
    if by_rule:
        out += ["", f"Accepted in security/accepted.yml ({len(accepted)} findings):"]
        out += [f"  {n:>4} x {tool} {rule} ({sev})" for (tool, rule, sev), n in sorted(by_rule.items())]
    ok = not blocking
    if blocking:
        out += ["", f"FAIL: {len(blocking)} CRITICAL/HIGH finding(s) not accepted in security/accepted.yml:"]
        out += [f"  {f}" for f in sorted(blocking, key=lambda f: (f.combo, f.tool, f.file))]
        out += ["Fix the template (preferred), or accept the finding in security/accepted.yml with a reason."]
    if stale:
        label = "FAIL: stale" if full else "note: (subset run, not failing) unmatched"
        out += [
            "",
            f"{label} entries in security/accepted.yml (they match no finding any more; remove them):",
        ]
        out += [f"  {e}" for e in stale]
        ok = ok and not full
    if drift and full:
        out += ["", "FAIL: README.md's Security table is out of date (update its rows):"]
        out += [f"  {d}" for d in drift]
        ok = False
    out += ["", "security gate: " + ("PASS" if ok else "FAIL")]
    return "\n".join(out), ok


def readme_drift(
    findings: list[Finding], known: Collection[str], readme: pathlib.Path = REPO / "README.md"
) -> list[str]:
    """README.md's Security table publishes the current counts of some combinations: one row
    `| `<id>` | C/H/M/L per scanner, in SCANNERS order | accepted |` (ids among `known`). Return
    each cell that no longer matches this run (the numbers must stay true, so a full run fails on drift)."""
    drift = []
    for line in readme.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != len(SCANNERS) + 2 or not cells[0].startswith("`"):
            continue
        cid = cells[0].strip("`")
        if cid not in known:
            continue
        now = row(findings, cid)
        for name, published, current in zip([*SCANNERS, "accepted"], cells[1:], now, strict=True):
            if published != current:
                drift.append(f"{cid} {name}: README.md says {published}, this run {current}")
    return drift


def as_json(f: Finding) -> dict[str, Any]:
    names = {"combo": "combination", "accepted": "accepted_reason"}
    return {names.get(k, k): v for k, v in asdict(f).items()}


def write_report(
    path: pathlib.Path, findings: list[Finding], stale: list[Accepted], metas: list[Collected], seconds: float
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    open_ = Counter((f.combo, f.tool, f.severity) for f in findings if not f.accepted)
    counts = {m["id"]: {s: {v: open_[(m["id"], s, v)] for v in SEVERITIES} for s in SCANNERS} for m in metas}
    doc = {
        "passed": not any(f.blocking for f in findings) and not stale,
        "seconds": round(seconds, 1),
        "combinations": metas,
        "counts": counts,
        "stale_accepted": [asdict(e) for e in stale],
        "findings": [as_json(f) for f in sorted(findings, key=lambda f: (f.combo, f.tool, f.file, f.rule))],
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")
