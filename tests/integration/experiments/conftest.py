"""Experiments end to end: an in-process server with the embedded executor, on SQLite and PostgreSQL.

The app these tests push (``STATS_APP``) makes its statistics from its input and options, so every
number an experiment reports can be computed here independently: for input ``{"x": x}`` and options
``scale`` (default 1) and ``offset`` (default 0) it reports ``result.value = x * scale + offset`` and
``result.down = -result.value`` as statistics, and ``value`` (the same number) as a metric. Input
``{"fail": true}`` makes it exit 2; ``{"sleep": s}`` makes it sleep first; ``{"trap": true}`` makes it
log two lines on SIGTERM before it exits.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from integration.conftest import ADMIN_KEY, Api
from runyard.server.app import create_app
from runyard.settings import Settings

CLASS = "c1"
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
TIMEOUT = 180.0  # generous: the first run of a session builds the app environment with uv

STATS_MAIN = r'''
import json, signal, sys, time


def on_term(signum, frame):
    print("stopping: terminated", file=sys.stderr, flush=True)
    time.sleep(0.1)
    print("stopping: done", file=sys.stderr, flush=True)
    sys.exit(143)


argv, opts = sys.argv[1:], {}
for i in range(0, len(argv) - 1, 2):
    opts[argv[i].lstrip("-")] = argv[i + 1]
doc = json.load(sys.stdin)
if doc.get("trap"):
    signal.signal(signal.SIGTERM, on_term)
if doc.get("sleep"):
    time.sleep(doc["sleep"])
if doc.get("fail"):
    print("failing on purpose", file=sys.stderr)
    sys.exit(2)
value = doc["x"] * float(opts.get("scale", 1)) + float(opts.get("offset", 0))
json.dump({"solution": {"x": doc["x"]},
           "statistics": {"schema": "v1", "result": {"value": value, "down": -value}},
           "metrics": {"value": value}}, sys.stdout)
'''

STATS_APP = {
    "app.yaml": "type: python\nruntime: ghcr.io/nextmv-io/runtime/python:3.11\nfiles: [main.py]\n",
    "main.py": STATS_MAIN,
}


@pytest.fixture(scope="session")
def experiments_env_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One app-environment cache for every server of the session."""
    return tmp_path_factory.mktemp("experiment-envs")


@pytest.fixture
def start_server(database_url: str, tmp_path: Path, experiments_env_dir: Path) -> Iterator[Callable[..., Api]]:
    """``start_server(concurrency=2)``: an in-process server with the embedded executor."""
    with ExitStack() as stack:

        def start(*, concurrency: int = 2) -> Api:
            settings = Settings(
                data_dir=tmp_path / "data",
                database_url=database_url,
                api_key=ADMIN_KEY,
                executor="embedded",
                execution={
                    "env_dir": experiments_env_dir,
                    "classes": {CLASS: {"concurrency": concurrency, "max_duration_seconds": 120}},
                    "default_class": CLASS,
                    "poll_interval_seconds": 0.02,
                    "kill_grace_seconds": 0.3,
                },
            )
            return Api(stack.enter_context(TestClient(create_app(settings))))

        yield start


@pytest.fixture
def blob_root(tmp_path: Path) -> Path:
    """Where the servers of ``start_server`` keep their blobs (file store under the data dir)."""
    return tmp_path / "data" / "blobs"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if status != 204 else None


def wait_for(predicate: Callable[[], Any], *, timeout: float = TIMEOUT, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Lab:
    """An application with the statistics app pushed, plus the calls the experiment tests make."""

    def __init__(self, api: Api, app_id: str = "stats") -> None:
        self.api, self.app_id = api, app_id
        self.base = f"/v1/applications/{app_id}"
        ok(api.post("/v1/applications", json={"id": app_id, "name": app_id}))
        ok(api.push(app_id, STATS_APP))
        ok(api.post(f"{self.base}/versions", json={"id": "v1", "name": "v1"}))

    def instance(self, instance_id: str, **options: str) -> str:
        body = {"id": instance_id, "name": instance_id, "version_id": "v1", "configuration": {"options": options}}
        return ok(self.api.post(f"{self.base}/instances", json=body))["id"]

    def managed_input(self, input_id: str, data: Any) -> str:
        slot = ok(self.api.post(f"{self.base}/runs/uploadurl"))
        assert self.api.client.put(slot["upload_url"], content=json.dumps(data).encode()).status_code == 200
        return ok(self.api.post(f"{self.base}/inputs", json={"id": input_id, "name": input_id, "upload_id": slot["upload_id"]}))["id"]

    def inputs(self, prefix: str, values: list[Any]) -> list[str]:
        """One managed input per value: ``{"x": value}`` for numbers, the value itself for dicts."""
        return [self.managed_input(f"{prefix}-{k}", v if isinstance(v, dict) else {"x": v}) for k, v in enumerate(values)]

    def input_set(self, set_id: str, input_ids: list[str]) -> str:
        body = {"id": set_id, "name": set_id, "inputs": [{"id": i} for i in input_ids]}
        return ok(self.api.post(f"{self.base}/experiments/inputsets", json=body))["id"]

    def batch(self, exp_id: str, **body: Any) -> str:
        return ok(self.api.post(f"{self.base}/experiments/batch", json={"id": exp_id, "name": exp_id, **body}))["id"]

    def experiment(self, exp_id: str) -> dict[str, Any]:
        return ok(self.api.get(f"{self.base}/experiments/batch/{exp_id}"))

    def wait_experiment(self, exp_id: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            exp = self.experiment(exp_id)
            return exp if exp["status"] != "started" else None

        return wait_for(ended, timeout=timeout, what=f"experiment {exp_id} to end", interval=0.05)

    def experiment_runs(self, exp_id: str) -> list[dict[str, Any]]:
        return ok(self.api.get(f"{self.base}/experiments/batch/{exp_id}/runs"))["runs"]

    def metadata(self, run_id: str) -> dict[str, Any]:
        return ok(self.api.get(f"{self.base}/runs/{run_id}/metadata"))["metadata"]

    def submit(self, data: Any, instance_id: str | None = None) -> str:
        query = {"instance_id": instance_id} if instance_id else {}
        return ok(self.api.post(f"{self.base}/runs", params=query, json={"input": data}))["run_id"]

    def wait_run(self, run_id: str, timeout: float = TIMEOUT, interval: float = 0.02) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            meta = self.metadata(run_id)
            return meta if meta["status_v2"] in TERMINAL else None

        return wait_for(ended, timeout=timeout, what=f"run {run_id} to end", interval=interval)


@pytest.fixture
def lab(start_server: Callable[..., Api]) -> Lab:
    return Lab(start_server())
