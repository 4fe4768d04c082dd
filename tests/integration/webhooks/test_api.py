"""The webhook API: CRUD, secret, trigger, filters, custom headers, rotation, auto-disable, redelivery;
keys required, accounts apart, bad input named."""

from __future__ import annotations

import json
import time

from standardwebhooks.webhooks import Webhook as StandardWebhook

from runyard.testing.receiver import Answer

from ..conftest import Api
from .conftest import create_webhook, deliveries, start_batch_experiment, submit, wait_until
from .test_delivery import product_handler_check


def test_crud_secret_and_trigger(api: Api, receiver) -> None:  # type: ignore[no-untyped-def]
    hook, secret = create_webhook(api, receiver.url)
    assert hook["id"] == "hook" and hook["event_types"] == ["run.status"] and hook["status"] == "enabled"
    assert secret.startswith("whsec_") and "secret" not in hook
    assert api.post("/v1/webhooks", json={"id": "hook", "event_types": ["run.status"], "endpoint_url": receiver.url}).status_code == 409
    assert [h["id"] for h in api.get("/v1/webhooks").json()["items"]] == ["hook"]
    changed = api.put("/v1/webhooks/hook", json={"description": "ops channel"}).json()
    assert changed["description"] == "ops channel" and changed["endpoint_url"] == receiver.url
    sent = api.post("/v1/webhooks/hook/trigger")
    assert sent.status_code == 200, sent.text
    got = receiver.wait_for(1)[0]
    doc = json.loads(got.body)
    assert doc["test"] is True and doc["event_type"] == "run.status"
    assert product_handler_check(got.body, got.headers["nextmv-signature"], secret)
    assert api.delete("/v1/webhooks/hook").status_code == 204
    assert api.get("/v1/webhooks/hook").status_code == 404


def test_bad_input_is_named(api: Api) -> None:
    cases = [
        ({"id": "a", "event_types": ["run.exploded"], "endpoint_url": "http://10.0.0.1/"}, "run.exploded"),
        ({"id": "a", "event_types": [], "endpoint_url": "http://10.0.0.1/"}, "event_types"),
        ({"id": "a", "event_types": ["run.status"], "endpoint_url": "not a url"}, "endpoint_url"),
        ({"id": "a", "event_types": ["run.status"]}, "endpoint_url"),
        ({"id": "a b", "event_types": ["run.status"], "endpoint_url": "http://10.0.0.1/"}, "webhook id"),
        ({"id": "a", "event_types": ["run.status"], "endpoint_url": "http://10.0.0.1/", "filters": {"colour": ["x"]}}, "colour"),
        ({"id": "a", "event_types": ["run.status"], "endpoint_url": "http://10.0.0.1/", "headers": {"Nextmv-Signature": "x"}}, "Nextmv-Signature"),
        ({"id": "a", "event_types": ["run.status"], "endpoint_url": "http://user:pw@10.0.0.1/"}, "credentials"),
    ]
    for body, named in cases:
        resp = api.post("/v1/webhooks", json=body)
        assert resp.status_code == 400, (body, resp.text)
        assert named in resp.json()["error"], (body, resp.text)
    assert api.put("/v1/webhooks/nope", json={"description": "x"}).status_code == 404


def test_keys_roles_and_accounts(api: Api, client=None) -> None:  # type: ignore[no-untyped-def]
    create_webhook(api, "http://10.0.0.1/hook", headers={"Authorization": "Bearer downstream-token"})
    anonymous = Api(api.client, "wrong-key")
    assert anonymous.get("/v1/webhooks").status_code == 401
    acct = api.post("/v1/admin/accounts", json={"name": "team b"}).json()
    other = Api(api.client, api.post(f"/v1/admin/accounts/{acct['id']}/keys", json={"role": "developer"}).json()["key"])
    assert other.get("/v1/webhooks").json()["items"] == []
    for verb, path in (("get", "/v1/webhooks/hook"), ("get", "/v1/webhooks/hook/secret"), ("delete", "/v1/webhooks/hook"),
                       ("get", "/v1/webhooks/hook/deliveries"), ("post", "/v1/webhooks/hook/trigger")):
        assert getattr(other, verb)(path).status_code == 404, path
    viewer = Api(api.client, api.post("/v1/admin/accounts/default/keys", json={"role": "viewer"}).json()["key"])
    assert viewer.get("/v1/webhooks/hook").json()["headers"] == {"Authorization": "********"}
    assert "downstream-token" not in viewer.get("/v1/webhooks").text
    assert api.get("/v1/webhooks/hook").json()["headers"] == {"Authorization": "Bearer downstream-token"}
    assert viewer.get("/v1/webhooks/hook/secret").status_code == 403
    assert viewer.post("/v1/webhooks", json={"id": "v", "event_types": ["run.status"], "endpoint_url": "http://10.0.0.1/"}).status_code == 403


def test_another_accounts_runs_are_not_delivered(api: Api, receiver) -> None:  # type: ignore[no-untyped-def]
    create_webhook(api, receiver.url)
    acct = api.post("/v1/admin/accounts", json={"name": "team b"}).json()
    other = Api(api.client, api.post(f"/v1/admin/accounts/{acct['id']}/keys", json={"role": "admin"}).json()["key"])
    other.new_app("theirs")
    submit(other, "theirs")
    api.new_app("mine")
    mine = submit(api, "mine")
    receiver.wait_for(3)
    time.sleep(0.5)
    assert {json.loads(r.body)["data"]["run_id"] for r in receiver.received} == {mine}


def test_filters_and_custom_headers(api: Api, receiver) -> None:  # type: ignore[no-untyped-def]
    api.new_app("a1")
    api.new_app("a2")
    create_webhook(api, receiver.url, filters={"application_ids": ["a2"], "statuses": ["succeeded", "failed"]},
                   headers={"X-Team": "routing", "Authorization": "Bearer downstream"})
    submit(api, "a1")
    wanted = submit(api, "a2")
    got = receiver.wait_for(1)
    time.sleep(0.5)
    assert len(receiver.received) == 1
    assert json.loads(got[0].body)["data"] == {**json.loads(got[0].body)["data"], "run_id": wanted, "status_v2": "succeeded"}
    assert got[0].headers["x-team"] == "routing" and got[0].headers["authorization"] == "Bearer downstream"


def test_secret_rotation_signs_with_both_during_the_overlap(api: Api, receiver) -> None:  # type: ignore[no-untyped-def]
    _, old = create_webhook(api, receiver.url)
    rotated = api.post("/v1/webhooks/hook/secret/rotate", json={"overlap_seconds": 3600}).json()
    new = rotated["secret"]
    assert new != old and api.get("/v1/webhooks/hook/secret").json()["secret"] == new
    api.post("/v1/webhooks/hook/trigger")
    got = receiver.wait_for(1)[0]
    headers = {k: got.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    StandardWebhook(old).verify(got.body, headers)
    StandardWebhook(new).verify(got.body, headers)
    assert product_handler_check(got.body, got.headers["nextmv-signature"], new)  # the last v1: the current secret
    api.post("/v1/webhooks/hook/secret/rotate", json={"overlap_seconds": 0})
    api.post("/v1/webhooks/hook/trigger")
    latest = receiver.wait_for(2)[1]
    assert latest.headers["webhook-signature"].count("v1,") == 1


def test_keeps_failing_is_disabled_then_re_enabled_and_redelivered(start_server, receiver) -> None:  # type: ignore[no-untyped-def]
    api, _ = start_server(disable_after_failures=3, disable_after_seconds=0, max_attempts=2, backoff_base_seconds=0.05)
    receiver.default = Answer(500)
    create_webhook(api, receiver.url, filters={"statuses": ["succeeded"]})
    api.new_app("down")
    submit(api, "down")
    submit(api, "down")
    hook = wait_until(lambda: (h := api.get("/v1/webhooks/hook").json())["status"] == "disabled" and h, what="auto-disable")
    assert "3 consecutive failed attempts" in hook["disabled_reason"]
    time.sleep(0.3)
    failed = [d for d in deliveries(api) if d["state"] == "failed"]
    assert failed and all(d["attempt_count"] == 2 for d in failed)
    receiver.default = Answer(200)
    assert api.patch("/v1/webhooks/hook", json={"status": "enabled"}).json()["status"] == "enabled"
    again = api.post(f"/v1/webhooks/hook/deliveries/{failed[0]['id']}/redeliver")
    assert again.status_code == 200, again.text
    wait_until(lambda: any(r.answered == 200 for r in receiver.received), what="the redelivery arrived")
    done = api.get(f"/v1/webhooks/hook/deliveries/{failed[0]['id']}").json()
    assert done["state"] == "succeeded" and [a["status_code"] for a in done["attempts"]] == [500, 500, 200]
    assert api.post(f"/v1/webhooks/hook/deliveries/{failed[0]['id']}/redeliver").status_code == 200
    assert api.post("/v1/webhooks/hook/deliveries/msg-nope/redeliver").status_code == 404


def test_version_pushed_event(api: Api, receiver) -> None:  # type: ignore[no-untyped-def]
    api.new_app("vers")
    create_webhook(api, receiver.url, event_types=["version.pushed"])
    assert api.post("/v1/applications/vers/versions", json={"id": "v1", "name": "first"}).status_code == 200
    doc = json.loads(receiver.wait_for(1)[0].body)
    assert doc["event_type"] == "version.pushed"
    assert doc["data"]["application_id"] == "vers" and doc["data"]["version_id"] == "v1" and doc["data"]["name"] == "first"


def test_sdk_verify_signature(api: Api, receiver) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from runyard.cloud import WebhookVerificationError, verify_signature

    _, secret = create_webhook(api, receiver.url)
    api.post("/v1/webhooks/hook/trigger")
    got = receiver.wait_for(1)[0]
    assert verify_signature(got.body, got.headers, secret)["test"] is True
    only_standard = {k: v for k, v in got.headers.items() if k != "nextmv-signature"}
    assert verify_signature(got.body, only_standard, secret)["event_type"] == "run.status"
    with pytest.raises(WebhookVerificationError):
        verify_signature(got.body + b" ", got.headers, secret)
    with pytest.raises(WebhookVerificationError):
        verify_signature(got.body, got.headers, "whsec_" + "A" * 32)


def test_experiment_events_without_anyone_reading_the_experiment(api: Api, receiver) -> None:  # type: ignore[no-untyped-def]
    api.new_app("exp")
    create_webhook(api, receiver.url, event_types=["experiment.status"])
    start_batch_experiment(api, "exp")
    got = receiver.wait_for(2, timeout=30)
    docs = [json.loads(r.body) for r in got]
    assert [d["data"]["status"] for d in docs] == ["started", "completed"]
    assert all(d["event_type"] == "experiment.status" and d["data"]["experiment_id"] == "b1" for d in docs)
    assert docs[1]["data"]["runs"] == {"succeeded": 3, "failed": 0, "canceled": 0, "total": 3}


def test_queue_wait_event_once_per_run(start_server, receiver) -> None:  # type: ignore[no-untyped-def]
    api, client = start_server(queue_wait_seconds=0.5)
    api.new_app("slow-queue")
    create_webhook(api, receiver.url, event_types=["queue.wait"])
    client.app.state.runtime.dispatcher.stop()  # nothing starts: runs stay queued
    run_id = submit(api, "slow-queue")
    doc = json.loads(receiver.wait_for(1, timeout=20)[0].body)
    assert doc["event_type"] == "queue.wait" and doc["data"]["run_id"] == run_id
    assert doc["data"]["waited_seconds"] >= 0.5 and doc["data"]["threshold_seconds"] == 0.5
    time.sleep(3)  # several scans later: still one
    assert len(receiver.received) == 1
