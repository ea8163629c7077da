"""The suite's shared fixtures. Helpers live in dwsupport/ (importable through pytest's
`pythonpath`); the combinations in dwsupport/matrix.py."""

from __future__ import annotations

import pathlib

import pytest

from dwsupport import matrix
from dwsupport.render import Render, Renders


@pytest.fixture(scope="session")
def renders(tmp_path_factory: pytest.TempPathFactory) -> Renders:
    """Renders shared by the whole session (per xdist worker), cached by their answers."""
    return Renders(tmp_path_factory.mktemp("renders"))


@pytest.fixture(scope="session")
def default_render(renders: Renders) -> Render:
    """The project `copier copy --defaults` makes."""
    return renders.of(matrix.DEFAULTS)


@pytest.fixture(params=matrix.SWEEP, ids=str, scope="module")
def sweep(request: pytest.FixtureRequest, renders: Renders) -> Render:
    """Each combination of the render sweep (tests/test_render.py, test_compose.py)."""
    combo: matrix.Combo = request.param
    return renders.of(combo)


@pytest.fixture(scope="module")
def sweep_project(sweep: Render) -> pathlib.Path:
    """The root of the sweep's render."""
    return sweep.root
