"""Two API servers on one PostgreSQL, each with its delivery worker: every event is delivered, each
attempt made once."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from fastapi.testclient import TestClient

from runyard.server.app import create_app
from runyard.settings import Settings
from runyard.testing.postgres import PostgresCluster
from runyard.testing.receiver import Answer, Receiver

from ..conftest import ADMIN_KEY, Api
from .conftest import FAST_RETRIES, create_webhook, submit


def test_two_servers_deliver_each_event_once(postgres_cluster: PostgresCluster, tmp_path: Path, receiver: Receiver) -> None:
    url = postgres_cluster.create_database()
    blobs = f"file://{tmp_path / 'blobs'}"

    def server(name: str) -> TestClient:
        settings = Settings(data_dir=tmp_path / name, database_url=url, blob_url=blobs, api_key=ADMIN_KEY, executor="stub",
                            secrets_key="one-key-for-every-server",
                            webhooks={**FAST_RETRIES, "concurrency_per_endpoint": 2})
        client = TestClient(create_app(settings))
        client.__enter__()
        return client

    a, b = server("a"), server("b")
    try:
        api_a, api_b = Api(a), Api(b)
        api_a.new_app("shared")
        _, secret = create_webhook(api_a, receiver.url)
        receiver.script = [Answer(500)] * 10  # some retries too: each retry also made once
        run_ids = [submit(api_a if i % 2 else api_b, "shared", {"i": i}) for i in range(60)]
        receiver.wait_for(180 + 10, timeout=120)
        time.sleep(1.5)
        delivered = Counter()
        for r in receiver.received:
            if r.answered == 200:
                data = json.loads(r.body)["data"]
                delivered[(data["run_id"], data["status_v2"])] += 1
        assert set(delivered) == {(r, s) for r in run_ids for s in ("queued", "running", "succeeded")}
        assert set(delivered.values()) == {1}
        assert len(receiver.received) == 190  # 180 successes and the 10 scripted failures, nothing twice
        attempts = Counter(r.headers["webhook-id"] for r in receiver.received)
        for msg, n in attempts.items():
            if n > 1:  # the log agrees: one attempt row per request received
                assert api_b.get(f"/v1/webhooks/hook/deliveries/{msg}").json()["attempt_count"] == n
    finally:
        a.__exit__(None, None, None)
        b.__exit__(None, None, None)


def test_the_per_endpoint_cap_holds_across_servers(postgres_cluster: PostgresCluster, tmp_path: Path, receiver: Receiver) -> None:
    """Two servers with ``concurrency_per_endpoint = 2``: a slow receiver never has more than 2 requests at once."""
    url = postgres_cluster.create_database()
    blobs = f"file://{tmp_path / 'blobs'}"

    def server(name: str) -> TestClient:
        settings = Settings(data_dir=tmp_path / name, database_url=url, blob_url=blobs, api_key=ADMIN_KEY, executor="stub",
                            secrets_key="one-key-for-every-server", webhooks={**FAST_RETRIES, "concurrency_per_endpoint": 2})
        client = TestClient(create_app(settings))
        client.__enter__()
        return client

    a, b = server("a"), server("b")
    try:
        api_a, api_b = Api(a), Api(b)
        api_a.new_app("capped")
        create_webhook(api_a, receiver.url)
        receiver.default = Answer(delay=0.2)
        for i in range(12):  # 36 deliveries, of 12 runs: up to 12 could go at once
            submit(api_a if i % 2 else api_b, "capped", {"i": i})
        receiver.wait_for(36, timeout=120)
        assert receiver.max_in_flight == 2
    finally:
        a.__exit__(None, None, None)
        b.__exit__(None, None, None)
