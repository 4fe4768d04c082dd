"""An in-process server (stub executor: runs end at once) whose webhooks may reach loopback, with
retry delays a hundred times shorter than the defaults; a loopback receiver."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runyard.server.app import create_app
from runyard.settings import Settings
from runyard.testing.receiver import Receiver, receiving
from runyard.testing.servers import serve_in_thread

from ..conftest import ADMIN_KEY, Api

FAST_RETRIES = {"allow_loopback": True, "backoff_base_seconds": 0.3, "backoff_cap_seconds": 216.0,
                "poll_seconds": 0.2, "timeout_seconds": 5.0}


def make_settings(database_url: str, tmp_path: Path, **webhooks: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, api_key=ADMIN_KEY, executor="stub",
                    webhooks={**FAST_RETRIES, **webhooks})


@pytest.fixture
def start_server(database_url: str, tmp_path: Path) -> Iterator[Callable[..., tuple[Api, TestClient]]]:
    clients: list[TestClient] = []

    def start(**webhooks: Any) -> tuple[Api, TestClient]:
        client = TestClient(create_app(make_settings(database_url, tmp_path, **webhooks)))
        client.__enter__()
        clients.append(client)
        return Api(client), client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def base_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A real server on a loopback port (for streams and the SDK)."""
    with serve_in_thread(make_settings(database_url, tmp_path)) as url:
        yield url


@pytest.fixture
def api(start_server) -> Api:  # type: ignore[no-untyped-def]
    return start_server()[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


def create_webhook(api: Api, url: str, **fields: Any) -> tuple[dict[str, Any], str]:
    resp = api.post("/v1/webhooks", json={"id": fields.pop("id", "hook"), "event_types": ["run.status"],
                                          "endpoint_url": url, "description": "test", **fields})
    assert resp.status_code == 200, resp.text
    secret = api.get(f"/v1/webhooks/{resp.json()['id']}/secret").json()["secret"]
    return resp.json(), secret


def submit(api: Api, app_id: str, payload: Any = None) -> str:
    resp = api.post(f"/v1/applications/{app_id}/runs", json={"input": payload or {"x": 1}})
    assert resp.status_code == 200, resp.text
    return resp.json()["run_id"]


def deliveries(api: Api, webhook_id: str = "hook") -> list[dict[str, Any]]:
    resp = api.get(f"/v1/webhooks/{webhook_id}/deliveries")
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not hold within {timeout} s")


def start_batch_experiment(api: Api, app_id: str, exp_id: str = "b1", inputs: int = 3) -> str:
    """A version, an instance, ``inputs`` managed inputs in an input set, and a batch experiment over
    them; returns the application's path."""
    base = f"/v1/applications/{app_id}"
    assert api.post(f"{base}/versions", json={"id": "v1", "name": "v1"}).status_code == 200
    assert api.post(f"{base}/instances", json={"id": "i1", "name": "i1", "version_id": "v1"}).status_code == 200
    ids = []
    for k in range(inputs):
        slot = api.post(f"{base}/runs/uploadurl").json()
        assert api.client.put(slot["upload_url"], content=json.dumps({"x": k}).encode()).status_code == 200
        ids.append(api.post(f"{base}/inputs", json={"id": f"in-{k}", "name": f"in-{k}", "upload_id": slot["upload_id"]}).json()["id"])
    assert api.post(f"{base}/experiments/inputsets", json={"id": "set", "name": "set", "inputs": [{"id": i} for i in ids]}).status_code == 200
    resp = api.post(f"{base}/experiments/batch", json={"id": exp_id, "name": exp_id, "input_set_id": "set", "instance_ids": ["i1"]})
    assert resp.status_code == 200, resp.text
    return base
