"""Typed errors (one class per status) and the retry policy: 429/503 and network failures, with
``Retry-After`` honoured and an ``Idempotency-Key`` that makes a retried ``new_run`` create one run."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
import requests

from runyard import cloud
from runyard.sdk import errors
from runyard.testing.postgres import free_port

from .conftest import Deployed, LiveServer
from .recorder import recording_server

FAST = {"backoff_factor": 0.01, "backoff_jitter": 0.0}


def test_status_errors_are_typed_and_carry_the_response(client: cloud.Client, live_server: LiveServer) -> None:
    with pytest.raises(cloud.NotFoundError) as missing:
        cloud.Application(client=client, id="no-such-app").run_metadata("run-x")
    err = missing.value
    assert err.status_code == 404 and err.response.status_code == 404
    assert err.request_id and err.request_id == err.response.headers["x-request-id"]
    assert "no-such-app" in (err.error or "")
    assert str(err).startswith("request to v1/applications/no-such-app/runs/run-x/metadata failed with status code 404")
    # Code written for the official SDK catches requests.HTTPError and reads e.response.status_code.
    assert isinstance(err, requests.HTTPError) and isinstance(err, errors.APIStatusError)

    with pytest.raises(errors.AuthenticationError) as unauthorized:
        cloud.Application.exists(client=live_server.client(api_key="wrong-key"), id="x")
    assert unauthorized.value.status_code == 401

    with pytest.raises(errors.BadRequestError) as bad:
        client.request("POST", "v1/applications", payload={"id": 12})
    assert bad.value.status_code == 400 and bad.value.error


def test_each_status_has_its_class() -> None:
    expected = {400: errors.BadRequestError, 401: errors.AuthenticationError, 403: errors.PermissionDeniedError,
                404: errors.NotFoundError, 409: errors.ConflictError, 413: errors.PayloadTooLargeError,
                422: errors.UnprocessableEntityError, 429: errors.RateLimitError, 500: errors.InternalServerError,
                502: errors.InternalServerError, 503: errors.InternalServerError, 418: errors.APIStatusError}
    for status, cls in expected.items():
        response = httpx.Response(status, json={"error": "e"}, request=httpx.Request("GET", "http://h/x"))
        err = errors.status_error(response, "x")
        assert type(err) is cls and err.status_code == status and err.error == "e"


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(status: int) -> None:
    with recording_server() as rec:
        client = cloud.Client(api_key="k", url=rec.url, **FAST)
        rec.fail_next("GET", r"/v1/applications/[^/]+/runs/[^/]+/metadata", status, {"Retry-After": "1"})
        started = time.monotonic()
        info = cloud.Application(client=client, id="wire-app").run_metadata("run-1")
        elapsed = time.monotonic() - started
    assert info.id == "run-1"
    assert len(rec.requests) == 2
    assert 1.0 <= elapsed < 5, elapsed


def test_retried_post_keeps_its_idempotency_key() -> None:
    with recording_server() as rec:
        client = cloud.Client(api_key="k", url=rec.url, **FAST)
        for _ in range(2):
            rec.fail_next("POST", r"/v1/applications/[^/]+/runs", 503)
        run_id = cloud.Application(client=client, id="wire-app").new_run(input={"x": 1})
    assert run_id == "run-1"
    keys = [r.headers["idempotency-key"] for r in rec.requests]
    assert len(keys) == 3 and len(set(keys)) == 1


def test_retries_give_up_with_the_typed_error() -> None:
    with recording_server() as rec:
        client = cloud.Client(api_key="k", url=rec.url, max_retries=2, **FAST)
        for _ in range(5):
            rec.fail_next("GET", r"/v1/account/queue", 503)
        with pytest.raises(errors.InternalServerError) as failed:
            cloud.Account(client=client).queue()
    assert failed.value.status_code == 503
    assert len(rec.requests) == 3  # the first try and two retries


def test_other_errors_are_not_retried() -> None:
    with recording_server() as rec:
        client = cloud.Client(api_key="k", url=rec.url, **FAST)
        rec.fail_next("GET", r"/v1/account/queue", 500)
        with pytest.raises(errors.InternalServerError):
            cloud.Account(client=client).queue()
    assert len(rec.requests) == 1


def test_connection_refused_is_retried_then_raised() -> None:
    client = cloud.Client(api_key="k", url=f"http://127.0.0.1:{free_port()}", max_retries=2, **FAST)
    with pytest.raises(errors.APIConnectionError):
        cloud.Account(client=client).queue()


class LoseFirstResponse(httpx.BaseTransport):
    """Delivers requests to the real server but drops the first answer to ``POST …/runs``, as a
    network failure after the server has acted would."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.dropped: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/runs") and not self.dropped:
            response.read()
            self.dropped.append(request.headers["idempotency-key"])
            raise httpx.ReadError("connection reset after the request was processed", request=request)
        return response


def test_a_retried_new_run_creates_one_run(live_server: LiveServer, deployed: Deployed) -> None:
    transport = LoseFirstResponse()
    with live_server.client(transport=transport, **FAST) as client:
        app = cloud.Application(client=client, id=deployed.app.id)
        before = _run_ids(client, app)
        name = f"once-{uuid.uuid4().hex[:6]}"
        run_id = app.new_run(input={"x": 1}, instance_id=deployed.instance.id, name=name)
        assert transport.dropped, "the first answer was dropped, so the SDK retried"
        created = _run_ids(client, app) - before
    assert created == {run_id}


def _run_ids(client: cloud.Client, app: cloud.Application) -> set[str]:
    return {r["id"] for r in client.request("GET", f"{app.endpoint}/runs").json()["runs"]}
