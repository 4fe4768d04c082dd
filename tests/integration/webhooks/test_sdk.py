"""Runyard's SDK: webhooks, the account's event stream, a run's event stream, verify_signature."""

from __future__ import annotations

import threading
import time

import httpx

from runyard import cloud
from runyard.sdk.errors import NotFoundError
from runyard.testing.receiver import Receiver

from ..conftest import ADMIN_KEY
from .test_streams import AUTH, new_app


def test_sdk_webhooks_and_streams(base_url: str, receiver: Receiver) -> None:
    client = cloud.Client(api_key=ADMIN_KEY, url=base_url)
    hooks = cloud.Webhooks(client)
    hook = hooks.create(receiver.url, id="sdk-hook", description="from the SDK", filters={"statuses": ["succeeded"]})
    assert hook.id == "sdk-hook" and hooks.get("sdk-hook").filters == {"statuses": ["succeeded"]}
    assert [h.id for h in hooks.list()] == ["sdk-hook"]
    secret = hooks.secret("sdk-hook")
    with httpx.Client(base_url=base_url, headers=AUTH) as http:
        new_app(http, "sdk-app")
    app = cloud.Application(client=client, id="sdk-app")

    seen: list[cloud.StreamEvent] = []
    ready = threading.Event()

    def listen() -> None:
        for event in cloud.Account(client).events(application_id="sdk-app"):
            seen.append(event)
            if len(seen) == 3:
                return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    ready.wait(0.5)  # the stream starts from "now": give it a moment to open
    run_id = app.new_run(input={"x": 1})
    events = list(app.run_events(run_id))
    assert [e.event for e in events][-1] == "end"
    assert [e.data["data"]["status_v2"] for e in events if e.event == "status"] == ["queued", "running", "succeeded"]
    assert list(app.run_logs(run_id, follow=True)) == []  # the stub executor writes no log
    listener.join(30)
    assert [e.data["data"]["status_v2"] for e in seen] == ["queued", "running", "succeeded"]

    got = receiver.wait_for(1)[0]
    assert cloud.verify_signature(got.body, got.headers, secret)["data"]["run_id"] == run_id
    # The receiver answers before the worker records the attempt: wait for the record.
    deadline = time.monotonic() + 10
    delivery = hooks.deliveries("sdk-hook")[0]
    while delivery.state == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
        delivery = hooks.deliveries("sdk-hook")[0]
    assert delivery.state == "succeeded" and delivery.attempts[0].status_code == 200
    assert hooks.redeliver("sdk-hook", delivery.id).id == delivery.id
    receiver.wait_for(2)
    assert hooks.update("sdk-hook", status="disabled").status == "disabled"
    new_secret = hooks.rotate_secret("sdk-hook", overlap_seconds=60)
    assert new_secret != secret and hooks.secret("sdk-hook") == new_secret
    hooks.delete("sdk-hook")
    try:
        hooks.get("sdk-hook")
        raise AssertionError("a deleted webhook was found")
    except NotFoundError:
        pass
    try:
        list(app.run_events("run-missing"))
        raise AssertionError("a missing run streamed")
    except NotFoundError:
        pass
