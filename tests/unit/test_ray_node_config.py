"""What a Ray node is handed: execution and limit settings and the blob store, never the database or a secret."""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict
from pathlib import Path

from runyard.execution.backends.ray import NodeConfig, ray_address
from runyard.settings import Settings


def test_a_node_gets_no_database_credentials_and_no_server_secret(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql://runyard:db-pass-8472@db.internal/runyard",
                        signing_secret="sign-5531", secrets_key="seal-9920", api_key="admin-1177",
                        blob_url="file:///srv/blobs", execution={"env_dir": tmp_path / "server-envs"})
    config = NodeConfig.of(settings)
    shipped = pickle.dumps(config)
    for secret in (b"db-pass-8472", b"db.internal", b"sign-5531", b"seal-9920", b"admin-1177", str(tmp_path).encode()):
        assert secret not in shipped
    node = config.settings()
    assert node.database_url is None and node.resolved_blob_url() == "file:///srv/blobs"
    assert node.execution.env_dir is None  # the node's own folder, not the server's
    assert json.loads(json.dumps(asdict(config)))["execution"]["default_class"] == settings.execution.default_class


def test_the_executor_setting_names_the_cluster(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert ray_address("ray://10.0.0.5:10001") == "ray://10.0.0.5:10001"
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert ray_address("ray") == "ray://head:10001"
    monkeypatch.delenv("RAY_ADDRESS")
    try:
        ray_address("ray")
    except ValueError as exc:
        assert "RAY_ADDRESS" in str(exc)
    else:
        raise AssertionError("ray without RAY_ADDRESS must be refused, naming it")



def test_health_says_how_the_server_joined_and_never_where(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from runyard.wiring import sandbox_status

    client = sandbox_status(Settings(data_dir=tmp_path, executor="ray://head.internal:10001"), None)
    assert client == "runs execute on the Ray cluster's nodes (joined through the client port), each in its own sandbox"
    monkeypatch.setenv("RAY_ADDRESS", "head.internal:6379")
    driver = sandbox_status(Settings(data_dir=tmp_path, executor="ray"), None)
    assert driver == "runs execute on the Ray cluster's nodes (joined as a driver), each in its own sandbox"
    assert "head.internal" not in client + driver  # /healthz answers without a key
