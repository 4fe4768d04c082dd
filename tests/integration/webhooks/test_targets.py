"""Endpoints that resolve to link-local, metadata or (unless allowed) loopback addresses are refused,
at creation and again at connect time."""

from __future__ import annotations

import pytest

from runyard.testing.receiver import Receiver

from .conftest import create_webhook, deliveries, submit, wait_until


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data",  # cloud metadata
    "http://169.254.10.20/hook",  # link-local
    "http://[fe80::1]/hook",
    "http://[fd00:ec2::254]/hook",
    "http://127.0.0.1:9/hook",  # loopback, not allowed here
    "http://[::1]:9/hook",
    "ftp://example.com/hook",
])
def test_refused_at_creation(start_server, url: str) -> None:  # type: ignore[no-untyped-def]
    api, _ = start_server(allow_loopback=False)
    resp = api.post("/v1/webhooks", json={"id": "bad", "event_types": ["run.status"], "endpoint_url": url})
    assert resp.status_code == 400, resp.text
    assert "refused" in resp.json()["error"] or "http" in resp.json()["error"]


def test_private_ranges_allowed_unless_denied(start_server) -> None:  # type: ignore[no-untyped-def]
    api, _ = start_server(allow_loopback=False)
    body = {"id": "lan", "event_types": ["run.status"], "endpoint_url": "http://10.20.30.40:8080/hook"}
    assert api.post("/v1/webhooks", json=body).status_code == 200


def test_private_ranges_denied_by_setting(start_server) -> None:  # type: ignore[no-untyped-def]
    api, _ = start_server(allow_loopback=False, deny_private=True)
    body = {"id": "lan", "event_types": ["run.status"], "endpoint_url": "http://192.168.1.5/hook"}
    resp = api.post("/v1/webhooks", json=body)
    assert resp.status_code == 400 and "private" in resp.json()["error"]


def test_name_resolving_to_loopback_only_at_connect_time_is_refused(start_server, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    api, client = start_server(allow_loopback=False)
    worker = client.app.state.runtime.webhooks
    # DNS (a third party) is stood in for: the name does not resolve when the webhook is created, and
    # resolves to the receiver's loopback address when the delivery connects, as in DNS rebinding.
    worker.resolve = lambda host, port: ["127.0.0.1"] if host == "rebind.example.test" else []
    api.new_app("rebind")
    url = receiver.url.replace("127.0.0.1", "rebind.example.test")
    create_webhook(api, url, filters={"statuses": ["succeeded"]})
    submit(api, "rebind")
    log = wait_until(lambda: [d for d in deliveries(api) if d["attempts"]], what="an attempt was logged")
    attempt = log[0]["attempts"][0]
    assert attempt["status_code"] is None and "loopback" in attempt["error"]
    assert receiver.received == []


def test_link_local_at_connect_time_is_refused_even_with_loopback_allowed(start_server, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    api, client = start_server(allow_loopback=True)
    client.app.state.runtime.webhooks.resolve = lambda host, port: ["169.254.169.254"]
    api.new_app("meta")
    create_webhook(api, receiver.url, filters={"statuses": ["succeeded"]})
    submit(api, "meta")
    log = wait_until(lambda: [d for d in deliveries(api) if d["attempts"]], what="an attempt was logged")
    assert "metadata" in log[0]["attempts"][0]["error"]
    assert receiver.received == []
