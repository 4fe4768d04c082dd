"""Several ``runyard serve`` processes on one PostgreSQL database and one blob store.

Exactly one of them dispatches (an advisory lock); the others answer every request alike. A long-poll
or a live-log wait on one server returns as soon as the run ends (or its log grows) under another,
through ``LISTEN/NOTIFY``. When the dispatching server is killed another takes over within the lease;
a graceful stop hands over at once. Each run reports its start to a counter served by the test, so a
run executed twice would show.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select

from runyard.storage.db import Run
from runyard.testing.postgres import PostgresCluster

from .apps import steps
from .conftest import ServerProcess, new_tool_app, run_log, submit, wait_for, wait_status

LEASE_SECONDS = 5.0
CHECK_SECONDS = 0.5


class StartCounter:
    """An HTTP server on loopback that counts ``GET /<tag>``: the runs call it when they start."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        counts, lock = self.counts, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                with lock:
                    counts[self.path.strip("/")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, tag: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{tag}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def counter() -> Iterator[StartCounter]:
    found = StartCounter()
    yield found
    found.close()


@pytest.fixture
def cluster_db(postgres_cluster: PostgresCluster) -> str:
    return postgres_cluster.create_database()


@pytest.fixture
def replicas(cluster_db: str, tmp_path: Path, app_env_dir: Path, gate_root: Path) -> Iterator[Callable[..., ServerProcess]]:
    """``replicas(name, **env)``: a started ``runyard serve`` sharing the database and the blob store
    with the others, with its own data folder (and worker id)."""
    servers: list[ServerProcess] = []

    def start(name: str, **env: str) -> ServerProcess:
        env = {"RUNYARD_EXECUTION__SANDBOX_RO_PATHS": f'["{gate_root}"]',
               "RUNYARD_BLOB_URL": f"file://{tmp_path / 'blobs'}",
               "RUNYARD_EXECUTION__LEASE_SECONDS": str(LEASE_SECONDS),
               "RUNYARD_CLUSTER__LEADER_CHECK_SECONDS": str(CHECK_SECONDS), **env}
        server = ServerProcess(data_dir=tmp_path / name / "data", database_url=cluster_db, env_dir=app_env_dir, env=env)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def dispatcher(server: ServerProcess) -> dict[str, Any]:
    return requests.get(f"{server.url}/healthz", timeout=5).json()["dispatcher"]


def finished_at(database_url: str, run_id: str) -> float:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            value = conn.execute(select(Run.finished_at).where(Run.id == run_id)).scalar_one()
    finally:
        engine.dispose()
    return value.replace(tzinfo=value.tzinfo or UTC).timestamp()


def leader_and_standby(a: ServerProcess, b: ServerProcess) -> tuple[ServerProcess, ServerProcess]:
    wait_for(lambda: dispatcher(a)["leader"] and dispatcher(b)["leader"], timeout=10, what="both to know the leader")
    return (a, b) if dispatcher(a)["role"] == "leader" else (b, a)


def test_servers_started_together_on_a_new_database_all_come_up(replicas) -> None:  # type: ignore[no-untyped-def]
    """They take turns to migrate and seed the database (a deployment starts its replicas at once)."""
    started: list[ServerProcess] = []
    errors: list[BaseException] = []

    def start(name: str) -> None:
        try:
            started.append(replicas(name))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(name,)) for name in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    roles = sorted(dispatcher(s)["role"] for s in started)
    assert roles == ["leader", "standby", "standby"]


def test_one_dispatcher_and_any_server_answers_any_request(replicas, counter: StartCounter) -> None:  # type: ignore[no-untyped-def]
    a, b = replicas("a"), replicas("b")
    leader, standby = leader_and_standby(a, b)
    da, db = dispatcher(leader), dispatcher(standby)
    assert (da["role"], db["role"]) == ("leader", "standby")
    assert da["leader"] == db["leader"] == da["worker"] != db["worker"]

    apis = [a.api(), b.api()]
    app = new_tool_app(apis[1], "alternating")  # created and pushed through one, run through both
    run_ids = [submit(apis[i % 2], app, steps({"hit": counter.url(f"r{i}")}, {"log": f"run {i}"})) for i in range(6)]
    for i, run_id in enumerate(run_ids):
        meta = wait_status(apis[(i + 1) % 2], app, run_id)
        assert meta["status_v2"] == "succeeded", meta
        assert f"run {i}" in run_log(apis[i % 2], app, run_id)
    assert counter.counts == Counter({f"r{i}": 1 for i in range(6)})
    listed = {r["id"] for r in apis[0].get(f"/v1/applications/{app}/runs").json()["runs"]}
    assert set(run_ids) <= listed


def test_a_wait_on_one_server_returns_when_the_run_ends_under_another(replicas, cluster_db: str, gates: Path) -> None:  # type: ignore[no-untyped-def]
    leader, standby = leader_and_standby(replicas("a"), replicas("b"))
    app = new_tool_app(leader.api(), "far-wait")
    lags = []
    for i in range(5):
        gate = gates / f"gate{i}"
        run_id = submit(standby.api(), app, steps({"log": "holding"}, {"wait_file": str(gate)}))
        wait_for(lambda run_id=run_id: "holding" in run_log(standby.api(), app, run_id), timeout=120, what="the run to hold")
        answer: dict[str, Any] = {}

        def long_poll(run_id: str = run_id, answer: dict[str, Any] = answer) -> None:
            response = standby.api().get(f"/v1/applications/{app}/runs/{run_id}?wait=30")
            answer["at"] = time.time()
            answer["body"] = response.json()

        waiter = threading.Thread(target=long_poll)
        waiter.start()
        time.sleep(0.3)  # the long-poll is waiting on the standby
        gate.touch()
        waiter.join(40)
        assert answer["body"]["metadata"]["status_v2"] == "succeeded"
        lags.append(answer["at"] - finished_at(cluster_db, run_id))
    print(f"wait lags on the standby (s): {[round(x, 3) for x in lags]}")
    # Without a signal from the leader, the standby would notice on its one-second recheck (0.5 s on average).
    assert statistics.median(lags) < 0.15, lags
    assert max(lags) < 0.4, lags


def test_live_logs_through_a_server_that_does_not_run_the_run(replicas, gates: Path) -> None:  # type: ignore[no-untyped-def]
    leader, standby = leader_and_standby(replicas("a"), replicas("b"))
    app = new_tool_app(leader.api(), "far-logs")
    gate = gates / "gate"
    run_id = submit(leader.api(), app, steps({"log": "first"}, {"wait_file": str(gate)}, {"log": "second"}))
    url = f"/v1/applications/{app}/runs/{run_id}/logs/live"
    api = standby.api()
    first = api.get(url, params={"wait": 60}, timeout=90).json()  # returns once a line is there
    assert [i["log"] for i in first["items"]][:1] == ["first"] and first["status_v2"] == "running"
    token = first["next_page_token"]
    started = time.monotonic()
    idle = api.get(url, params={"since": token, "wait": 0.5}).json()  # nothing new: waits, then no lines
    assert idle["items"] == [] and time.monotonic() - started >= 0.45

    answer: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: answer.update(
        body=api.get(url, params={"since": token, "wait": 30}, timeout=60).json(), at=time.monotonic()))
    waiter.start()
    time.sleep(0.3)
    touched = time.monotonic()
    gate.touch()
    waiter.join(60)
    lines = [i["log"] for i in answer["body"]["items"]]
    assert "second" in lines and "first" not in lines
    assert answer["at"] - touched < 1.0  # the log is written within 0.1 s, looked at every 0.1 s
    assert wait_status(api, app, run_id)["status_v2"] == "succeeded"


def test_killing_the_dispatching_server_hands_over_within_the_lease(replicas, counter: StartCounter, gates: Path) -> None:  # type: ignore[no-untyped-def]
    leader, standby = leader_and_standby(replicas("a"), replicas("b"))
    api = standby.api()
    app = new_tool_app(api, "takeover")
    gate = gates / "gate"
    held = submit(api, app, steps({"hit": counter.url("held")}, {"log": "holding"}, {"wait_file": str(gate)}))
    wait_for(lambda: "holding" in run_log(api, app, held), timeout=120, what="the run to hold on the leader")
    try:
        leader.kill()
        killed = time.monotonic()
        queued = [submit(api, app, steps({"hit": counter.url(f"q{i}")})) for i in range(4)]
        wait_for(lambda: dispatcher(standby)["role"] == "leader", timeout=LEASE_SECONDS * 2, what="the takeover",
                 interval=0.05)
        takeover = time.monotonic() - killed
        print(f"takeover after kill -9: {takeover:.2f} s")
        assert takeover < LEASE_SECONDS, takeover
        for run_id in queued:
            assert wait_status(api, app, run_id, timeout=60)["status_v2"] == "succeeded"
        lost = wait_status(api, app, held, timeout=LEASE_SECONDS * 4)
        assert lost["status_v2"] == "failed" and "worker node lost" in lost["error"]
    finally:
        gate.touch()  # whatever of the killed server's run is left ends
    assert counter.counts == Counter({"held": 1, **{f"q{i}": 1 for i in range(4)}})


def test_a_graceful_stop_hands_over_at_once(replicas, counter: StartCounter) -> None:  # type: ignore[no-untyped-def]
    a = replicas("a")
    # The standby tries for the lock only every 30 s by itself: only the handover signal can be this quick.
    b = replicas("b", RUNYARD_CLUSTER__LEADER_CHECK_SECONDS="30")
    assert dispatcher(a)["role"] == "leader" and dispatcher(b)["role"] == "standby"
    stopping = time.monotonic()
    a.stop()
    wait_for(lambda: dispatcher(b)["role"] == "leader", timeout=10, what="the handover", interval=0.02)
    print(f"graceful handover: {time.monotonic() - stopping:.2f} s")
    assert time.monotonic() - stopping < 2.0
    app = new_tool_app(b.api(), "handed-over")
    run_id = submit(b.api(), app, steps({"hit": counter.url("after")}))
    assert wait_status(b.api(), app, run_id)["status_v2"] == "succeeded"
    assert counter.counts == Counter({"after": 1})
