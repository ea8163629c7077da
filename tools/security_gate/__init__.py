"""Security gate (`nox -s security`): render every supported combination of answers
(dwsupport/matrix.py SUPPORTED) and scan what a generated project would commit with six
scanners, the Kubernetes schemas and Pod Security "restricted". The gate passes when no
combination has a CRITICAL or HIGH finding that security/accepted.yml does not accept, and no
entry of security/accepted.yml is stale (matches nothing).

    python -m tools.security_gate                                    # every combination (CI)
    python -m tools.security_gate --combos defaults@vps,api@gke      # a subset (stale: warned)

  collect.py    render each combination; lay out what it would commit and what tools build from it
  runners.py    each scanner once over every combination (the table of scanners is there)
  parsers.py    the scanners' reports → findings (the severity mapping is there)
  findings.py   findings, and security/accepted.yml (the one place a finding is accepted)
  report.py     the table, the verdict, README.md's published rows, build/security/report.json
  __main__.py   the command line
"""
