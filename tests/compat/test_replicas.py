"""The official SDKs against two ``runyard serve`` replicas on one PostgreSQL database, behind a proxy
that sends each request to the other replica in turn: push, run, wait for the result, cancel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .harness import SDK_VERSIONS, SdkRunner, copy_app, sdk_venv, unique
from .proxy import Pair, replica_pair


@pytest.fixture(scope="module")
def pair(postgres_cluster, tmp_path_factory: pytest.TempPathFactory, app_env_dir: Path) -> Iterator[Pair]:  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("replicas")
    with replica_pair(database_url=postgres_cluster.create_database(), base=base, env_dir=app_env_dir,
                      settings={"RUNYARD_BLOB_URL": f"file://{base / 'blobs'}"}, name="two replicas") as pair:
        yield pair


@pytest.mark.parametrize("version", SDK_VERSIONS)
def test_push_run_wait_and_cancel_through_two_replicas(pair: Pair, version: str, tmp_path: Path) -> None:
    roles = sorted(requests.get(f"{s.url}/healthz", timeout=5).json()["dispatcher"]["role"] for s in pair.replicas)
    assert roles == ["leader", "standby"]
    before = sum(pair.proxy.sent.values())
    sdk = SdkRunner(version, sdk_venv(version), pair.front, tmp_path)
    out = sdk.run(
        """
        echo, _, echo_instance = deploy(os.environ["ECHO_ID"], os.environ["ECHO_DIR"])
        result = echo.new_run_with_result(input={"x": 1}, instance_id=echo_instance)
        ctl, _, ctl_instance = deploy(os.environ["CTL_ID"], os.environ["CTL_DIR"])
        sleeper, running = running_sleeper(ctl, ctl_instance, 60, timeout=120)
        ctl.cancel_run(sleeper)
        canceled = wait_terminal(ctl, sleeper).metadata.status_v2.value
        emit({"status": result.metadata.status_v2.value, "output": result.output, "running": running,
              "canceled": canceled})
        """,
        env={"ECHO_ID": unique("echo"), "ECHO_DIR": str(copy_app("echo-json", tmp_path / "apps")),
             "CTL_ID": unique("ctl"), "CTL_DIR": str(copy_app("ctl-json", tmp_path / "apps"))},
    )
    assert out["status"] == "succeeded"
    assert out["output"]["solution"] == {"x": 1}
    assert (out["running"], out["canceled"]) == ("running", "canceled")
    # Both replicas answered the SDK: the proxy alternates, and the SDK made dozens of calls.
    counts = list(pair.proxy.sent.values())
    assert len(counts) == 2 and sum(counts) - before > 20 and min(counts) > 10
