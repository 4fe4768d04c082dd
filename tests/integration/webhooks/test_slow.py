"""A slow receiver never slows a run; an attempt that takes longer than its timeout is cut and logged."""

from __future__ import annotations

import time

from runyard.testing.receiver import Answer, Receiver

from .conftest import create_webhook, deliveries, submit, wait_until


def test_a_receiver_taking_10_seconds_does_not_slow_runs(start_server, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    api, _ = start_server(timeout_seconds=30)
    api.new_app("fast")
    create_webhook(api, receiver.url)
    receiver.default = Answer(200, delay=10.0)
    took = []
    for _ in range(20):
        started = time.monotonic()
        run_id = submit(api, "fast")
        body = api.get(f"/v1/applications/fast/runs/{run_id}", params={"wait": 10}).json()
        took.append(time.monotonic() - started)
        assert body["metadata"]["status_v2"] == "succeeded"
    assert max(took) < 2.0, took  # each run ends at once while every delivery is still in its receiver
    assert len(receiver.received) < 20 * 3


def test_an_attempt_longer_than_the_timeout_is_cut_and_retried(start_server, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    api, _ = start_server(timeout_seconds=1.0)
    api.new_app("timeout")
    create_webhook(api, receiver.url, filters={"statuses": ["succeeded"]})
    receiver.script = [Answer(200, delay=3.0)]
    submit(api, "timeout")
    done = wait_until(lambda: [d for d in deliveries(api) if d["state"] == "succeeded"], timeout=30, what="delivered after a timeout")
    first, second = done[0]["attempts"]
    assert first["status_code"] is None and "timed out" in first["error"] and 900 < first["latency_ms"] < 2500
    assert second["status_code"] == 200
