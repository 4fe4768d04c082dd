"""Where ``Client`` finds its key and server, and what ``runyard`` exports."""

from __future__ import annotations

import pytest

import runyard
from runyard import cloud

ENV = ("NEXTMV_API_KEY", "RUNYARD_API_KEY", "NEXTMV_ENDPOINT", "RUNYARD_ENDPOINT", "NEXTMV_PROFILE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


def test_key_and_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNYARD_API_KEY", "ry-key")
    monkeypatch.setenv("RUNYARD_ENDPOINT", "http://127.0.0.1:8000")
    client = cloud.Client()
    assert (client.api_key, client.url) == ("ry-key", "http://127.0.0.1:8000")
    assert client.headers == {"Authorization": "Bearer ry-key", "Content-Type": "application/json"}
    assert client.console_url == "http://127.0.0.1:8000"
    monkeypatch.setenv("NEXTMV_API_KEY", "nx-key")
    monkeypatch.setenv("NEXTMV_ENDPOINT", "runyard.example")
    assert cloud.Client().api_key == "nx-key"  # NEXTMV_API_KEY first, as the official SDK reads it
    assert cloud.Client().url == "http://127.0.0.1:8000"  # RUNYARD_ENDPOINT first
    monkeypatch.delenv("RUNYARD_ENDPOINT")
    assert cloud.Client().url == "https://runyard.example"  # a bare host gets https://


def test_arguments_win_and_defaults_match_the_official_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNYARD_ENDPOINT", "http://127.0.0.1:8000")
    client = cloud.Client(api_key="arg", url="http://10.0.0.1:1/")
    assert (client.api_key, client.url) == ("arg", "http://10.0.0.1:1/")
    with pytest.raises(ValueError, match="api_key cannot be empty"):
        cloud.Client(api_key="")
    with pytest.raises(ValueError, match="no API key"):
        cloud.Client()
    options = cloud.PollingOptions()
    assert (options.backoff, options.delay, options.initial_delay, options.max_delay, options.max_duration,
            options.max_tries, options.jitter, options.verbose, options.stop) == (0.9, 0.1, 1, 20, -1, -1, 1, False, None)
    app = cloud.Application(client=client, id="x")
    assert (app.default_instance_id, app.endpoint, app.experiments_endpoint) == (
        "devint", "v1/applications/x", "v1/applications/x/experiments")


def test_config_file_like_the_nextmv_cli(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".nextmv").mkdir()
    (tmp_path / ".nextmv" / "config.yaml").write_text("apikey: top\nlocal:\n  apikey: profile-key\n  endpoint: ry.local:8443\n")
    assert cloud.Client().api_key == "top"
    monkeypatch.setenv("NEXTMV_PROFILE", "local")
    client = cloud.Client()
    assert (client.api_key, client.url) == ("profile-key", "https://ry.local:8443")


def test_top_level_exports() -> None:
    assert runyard.__version__
    data = runyard.Input(data={"a": 1})
    assert data.input_format == runyard.InputFormat.JSON and runyard.write and runyard.Output
    assert set(runyard.__all__) >= {"Input", "Output", "InputFormat", "write", "cloud"}
    with pytest.raises(ValueError):
        runyard.Input(data=["not text"], input_format=runyard.InputFormat.TEXT)
    assert runyard.cloud is cloud
    assert all(hasattr(cloud, name) for name in cloud.__all__)
