"""A small generated fixture database (fixed seed and clock) for the report tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.lab.synthetic import generate

#: The reports are judged at this moment (the generator's clock).
AS_OF = "2026-03-01T09:00:00Z"


@pytest.fixture(scope="session")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reports") / "fixture.db"
    generate(path, endpoints=80, runs=2, seed=11)
    return path
