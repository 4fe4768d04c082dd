"""A server killed with SIGKILL after status changes and before their POSTs: after the restart every
event arrives, once."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from runyard.testing.receiver import Receiver

from ..runs.conftest import ServerProcess, wait_for

ENV = {"RUNYARD_EXECUTOR": "stub", "RUNYARD_WEBHOOKS__ALLOW_LOOPBACK": "true",
       "RUNYARD_WEBHOOKS__BACKOFF_BASE_SECONDS": "0.3", "RUNYARD_WEBHOOKS__POLL_SECONDS": "0.2"}


def test_sigkill_between_status_change_and_post(database_url: str, tmp_path: Path, receiver: Receiver) -> None:
    # The first server writes the outbox but its delivery worker is off: it dies with every POST
    # still to make, the widest form of the window between a status change and its POST.
    server = ServerProcess(data_dir=tmp_path / "data", database_url=database_url, env_dir=tmp_path / "envs",
                           env={**ENV, "RUNYARD_WEBHOOKS__ENABLED": "false"}).start()
    try:
        api = server.api()
        api.new_app("crash")
        assert api.post("/v1/webhooks", json={"id": "hook", "event_types": ["run.status"],
                                              "endpoint_url": receiver.url}).status_code == 200
        run_ids = [api.post("/v1/applications/crash/runs", json={"input": {"i": i}}).json()["run_id"] for i in range(10)]
        wait_for(lambda: all(api.get(f"/v1/applications/crash/runs/{r}/metadata").json()["metadata"]["status_v2"]
                             == "succeeded" for r in run_ids), timeout=30, what="the runs ended")
        server.kill()
        assert receiver.received == []
        server.env = ENV
        server.start()
        receiver.wait_for(30, timeout=60)
        time.sleep(1.5)  # anything sent twice would have arrived by now
        seen = Counter((json.loads(r.body)["data"]["run_id"], json.loads(r.body)["data"]["status_v2"]) for r in receiver.received)
        assert set(seen) == {(r, s) for r in run_ids for s in ("queued", "running", "succeeded")}
        assert set(seen.values()) == {1}
    finally:
        server.stop()
