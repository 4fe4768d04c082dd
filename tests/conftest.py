"""Fixtures shared by every suite: a throwaway PostgreSQL cluster and a database URL per backend, a
loopback Ray cluster and a SeaweedFS S3 server.

PostgreSQL, Ray and SeaweedFS are never skipped in CI (``CI=true``): a missing one fails the run instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from runyard.testing.postgres import PostgresCluster, start_cluster
from runyard.testing.ray_cluster import RayCluster
from runyard.testing.seaweedfs import SeaweedS3, start_seaweedfs

DB_BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    try:
        cluster = start_cluster()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL unavailable here: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(params=DB_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A fresh empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runyard.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.create_database()


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    """A real Ray cluster, loopback only: a head and two worker nodes (custom resources ``w1``, ``w2``)
    in a network namespace of their own. Never skipped in CI."""
    try:
        cluster = RayCluster(root=tmp_path_factory.mktemp("ray-cluster")).start()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            raise
        pytest.skip(f"a Ray cluster cannot be started here: {exc}")
    yield cluster
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()  # this process's client connection, before the cluster goes
    cluster.stop()


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedS3]:
    """A real S3 API server (SeaweedFS) on loopback for the session; never skipped in CI."""
    try:
        server = start_seaweedfs()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            raise
        pytest.skip(f"SeaweedFS unavailable here: {exc}")
    yield server
    server.destroy()
