from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def env_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One env cache for the session, so identical environments are built once."""
    return tmp_path_factory.mktemp("envs")
