"""A server that joins the Ray cluster as a driver (``RUNYARD_EXECUTOR=ray`` with ``RAY_ADDRESS`` the head's
GCS address), as a server running on a machine of the cluster does, instead of through the client port.

The server runs inside the loopback cluster's network namespace (where the head's GCS is
``127.0.0.1:6379`` and a raylet answers for its node) and is reached from here through a bridge. The
official SDK (1.13.0) pushes an app, runs it to its result and cancels a running run; a cancel before it
reaches the node and a run on each worker node (pinned by custom resource) go through the same driver.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from runyard.testing.ray_cluster import GCS_PORT, RayCluster

from .harness import SdkRunner, Server, copy_app, sdk_venv, start_server, unique

pytestmark = [pytest.mark.compat, pytest.mark.slow]


@pytest.fixture(scope="module")
def driver_server(ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory, app_env_dir: Path) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("ray-driver")
    assert ray_cluster.ns is not None
    classes = {"c1": {"concurrency": 3, "max_duration_seconds": 300, "memory_mb": 1024},
               "on-w1": {"concurrency": 1, "max_duration_seconds": 300, "memory_mb": 1024, "resources": {"w1": 1}},
               "on-w2": {"concurrency": 1, "max_duration_seconds": 300, "memory_mb": 1024, "resources": {"w2": 1}}}
    server = start_server(backend="ray-driver", base_dir=base, env_dir=app_env_dir, inside=ray_cluster.ns, env={
        "RUNYARD_EXECUTOR": "ray",
        "RAY_ADDRESS": f"127.0.0.1:{GCS_PORT}",
        "RUNYARD_BLOB_URL": f"file://{base / 'blobs'}",  # the nodes share this machine's disk
        "RUNYARD_EXECUTION__RAY_NAMESPACE": f"driver-{uuid.uuid4().hex[:8]}",
        "RUNYARD_EXECUTION__CLASSES": json.dumps(classes),
        "RUNYARD_EXECUTION__DEFAULT_CLASS": "c1",
        "RUNYARD_EXECUTION__RAY_CANCEL_GRACE_SECONDS": "5",
    })
    try:
        yield server
    finally:
        server.stop()


FLOW = """
try:
    from nextmv.polling import PollingOptions
except ImportError:
    from nextmv.cloud import PollingOptions

FAST = PollingOptions(initial_delay=0.05, delay=0.05, backoff=0, jitter=0, max_duration=300)
app, version_id, instance_id = deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
small = app.new_run_with_result(input={"hello": "driver"}, instance_id=instance_id, polling_options=FAST,
                                run_options={"lines": "2"})
pinned = {}
for cls in ("on-w1", "on-w2"):
    run = app.new_run_with_result(input={"on": cls}, instance_id=instance_id, polling_options=FAST,
                                  configuration={"execution_class": cls})
    pinned[cls] = [run.metadata.status_v2.value, run.output["solution"]]

sleeper, running = running_sleeper(app, instance_id, 120)
app.cancel_run(sleeper)
started = time.monotonic()
canceled = wait_terminal(app, sleeper).metadata.status_v2.value
emit({"small": [small.metadata.status_v2.value, small.output["solution"]], "pinned": pinned,
      "log": app.run_logs(small.id).log, "running": running, "canceled": canceled,
      "cancel_seconds": time.monotonic() - started})
"""


def test_a_server_joined_as_a_driver_runs_pins_and_cancels(driver_server: Server, ray_cluster: RayCluster,
                                                           tmp_path: Path) -> None:
    health = requests.get(f"{driver_server.url}/healthz", timeout=5).json()
    assert health["sandbox"] == "runs execute on the Ray cluster's nodes (joined as a driver), each in its own sandbox"
    sdk = SdkRunner("1.13.0", sdk_venv("1.13.0"), driver_server, tmp_path)
    out = sdk.run(FLOW, env={"APP_ID": unique("driver"), "APP_DIR": str(copy_app("ctl-json", tmp_path / "apps"))},
                  timeout=600)
    assert out["small"] == ["succeeded", {"hello": "driver"}]
    assert out["log"].count("ctl-json: line 0") == 1  # executed once
    assert out["pinned"] == {"on-w1": ["succeeded", {"on": "on-w1"}], "on-w2": ["succeeded", {"on": "on-w2"}]}
    assert (out["running"], out["canceled"]) == ("running", "canceled")
    assert out["cancel_seconds"] < 10
    # The runs executed on the nodes (in their folders), not in the server: it has no workspace of its own.
    for name in ("w1", "w2"):
        assert any((ray_cluster.root / name).rglob("main.py")), f"no run executed on {name}"
    assert not (driver_server.data_dir / "work").exists() or not any((driver_server.data_dir / "work").rglob("main.py"))
