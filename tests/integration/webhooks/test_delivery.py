"""Every status change of every run reaches a receiver, in order per run, signed both ways."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import defaultdict

from standardwebhooks.webhooks import Webhook as StandardWebhook

from runyard.testing.receiver import Answer

from .conftest import create_webhook, deliveries, submit, wait_until


def product_handler_check(payload: bytes, header: str, secret: str) -> bool:
    """A handler written from the product's webhook tutorial: split ``t=…,v1=…``, recompute the
    HMAC-SHA256 of ``"{t}." + body`` with the secret, compare in constant time, 5-minute window."""
    fields = dict(item.split("=", 1) for item in header.split(","))
    t = int(fields["t"])
    if abs(time.time() * 1000 - t) > 5 * 60 * 1000:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def test_100_runs_every_status_in_order_and_signed_both_ways(api, receiver) -> None:  # type: ignore[no-untyped-def]
    api.new_app("orders")
    _, secret = create_webhook(api, receiver.url)
    run_ids = [submit(api, "orders", {"n": i}) for i in range(100)]
    got = receiver.wait_for(300, timeout=120)
    time.sleep(0.5)
    assert len(receiver.received) == 300  # nothing twice
    standard = StandardWebhook(secret)
    per_run: dict[str, list[str]] = defaultdict(list)
    for request in got:
        assert product_handler_check(request.body, request.headers["nextmv-signature"], secret)
        doc = standard.verify(request.body, {k: request.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")})
        assert doc["event_type"] == "run.status"
        data = doc["data"]
        assert data["application_id"] == "orders" and data["instance_id"] == "latest"
        per_run[data["run_id"]].append(data["status_v2"])
        if data["status_v2"] == "succeeded":
            assert data["finished_at"] and data["started_at"] and data["error"] == ""
    assert set(per_run) == set(run_ids)
    assert all(statuses == ["queued", "running", "succeeded"] for statuses in per_run.values()), per_run
    # A body signed with another secret is refused by both checks.
    one = got[0]
    assert not product_handler_check(one.body, one.headers["nextmv-signature"], secret + "x")


def test_500_four_times_then_200_five_attempts_with_growing_gaps(start_server, receiver) -> None:  # type: ignore[no-untyped-def]
    # Steps of 0.5, 1, 2, 4 s (each jittered over its top quarter): each gap at least 0.25 s longer than
    # the one before, margin enough for a loaded machine's scheduling delays.
    api, _ = start_server(backoff_base_seconds=0.5)
    api.new_app("flaky")
    create_webhook(api, receiver.url, filters={"statuses": ["succeeded"]})
    receiver.script = [Answer(500)] * 4
    run_id = submit(api, "flaky")
    got = receiver.wait_for(5, timeout=60)
    assert [r.answered for r in got] == [500, 500, 500, 500, 200]
    assert {json.loads(r.body)["data"]["run_id"] for r in got} == {run_id}
    assert len({r.headers["webhook-id"] for r in got}) == 1  # one message, five attempts
    gaps = [b.at - a.at for a, b in zip(got, got[1:], strict=False)]
    assert all(later > earlier for earlier, later in zip(gaps, gaps[1:], strict=False)), gaps
    assert gaps[0] >= 0.37 and gaps[-1] >= 3.0, gaps
    log = wait_until(lambda: [d for d in deliveries(api) if d["state"] == "succeeded"], what="the delivery succeeded")
    attempts = log[0]["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 500, 500, 500, 200]
    assert [a["number"] for a in attempts] == [1, 2, 3, 4, 5]
    assert attempts[0]["response"] == "not now" and attempts[-1]["response"] == "ok"
    assert all(a["latency_ms"] > 0 for a in attempts)


def test_retry_after_is_honoured(api, receiver) -> None:  # type: ignore[no-untyped-def]
    api.new_app("busy")
    create_webhook(api, receiver.url, filters={"statuses": ["succeeded"]})
    receiver.script = [Answer(503, {"Retry-After": "2"})]
    submit(api, "busy")
    got = receiver.wait_for(2, timeout=30)
    assert got[1].at - got[0].at >= 1.95  # the backoff alone would have retried after at most 0.3 s


def test_receiver_down_30_seconds_then_back_gets_everything(api, receiver) -> None:  # type: ignore[no-untyped-def]
    api.new_app("outage")
    create_webhook(api, receiver.url)
    receiver.down()
    run_ids = [submit(api, "outage") for _ in range(5)]
    time.sleep(30)
    assert receiver.received == []
    receiver.up()
    got = receiver.wait_for(15, timeout=120)
    per_run: dict[str, list[str]] = defaultdict(list)
    for r in got:
        data = json.loads(r.body)["data"]
        per_run[data["run_id"]].append(data["status_v2"])
    assert set(per_run) == set(run_ids)
    assert all(v == ["queued", "running", "succeeded"] for v in per_run.values()), per_run
    assert any(a["error"] for d in deliveries(api) for a in d["attempts"])  # the failed attempts are logged
