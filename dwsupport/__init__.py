"""dockwright's own tooling support: what the tests (tests/) and the tools (tools/) share.

Nothing here is part of the template (copier.yml, extensions/, template/) or of a generated
project, and nothing here imports pytest: tools run outside the test suite. Importable from the
repository root (pytest's `pythonpath`, `python -m tools.<name>`).

  matrix          every combination of answers the tooling renders, with one id scheme
  render          answers that refuse typos, copier renders, the `Render` object, a render cache
  tools           finding a command-line tool and running it
  compose         the one compose binary, `compose config` as a dict, YAML with compose's tags
  dotenv          reading .env files
  k8s             kustomize builds, pod specs, objects by kind, Cloud Run manifests
  pod_security    Pod Security "restricted" (+ dockwright's own pod rules) as a pure function
  template_repo   the throw-away git repository of this template that update tests use
  smoke           generated projects run as compose stacks in Docker (the smoke suite, bench)
  probes          HTTP/TCP probes on 127.0.0.1 and polling
"""

from __future__ import annotations

import importlib.util
import pathlib
from types import ModuleType

REPO = pathlib.Path(__file__).resolve().parents[1]


def load_module(path: pathlib.Path) -> ModuleType:
    """Import a script that is not in a package (e.g. template/scripts/*.py) by its path."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
