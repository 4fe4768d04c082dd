"""``*_with_result`` takes the result from the end of the run's event stream: one request after the
POST, counted at the server; the connection goes back to the pool; a large output still comes by
``GET …/runs/{id}``; the async SDK does the same."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from prometheus_client.parser import text_string_to_metric_families

from runyard import cloud
from runyard.sdk._events import stream_events
from runyard.sdk.aio import AsyncApplication, AsyncClient

from .conftest import Deployed, LiveServer
from .recorder import recording_server, run_info

RESULT_ROUTE = "/v1/applications/{app_id}/runs/{run_id}"
EVENTS_ROUTE = "/v1/applications/{app_id}/runs/{run_id}/events"
LARGE = "x" * (300 * 1024)  # echoed back: an output over the 256 KiB the end event carries


def served(server: LiveServer, route: str) -> float:
    """How many GETs of ``route`` the server has answered (its own count, from ``/metrics``)."""
    text = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {server.key}"}).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "runyard_http_request_duration_seconds_count"
               and s.labels.get("method") == "GET" and s.labels.get("route") == route)


def until_counted(server: LiveServer, route: str, expected: float) -> float:
    """The count once it reaches ``expected`` (a stream is counted when its response has ended), or after 10 s."""
    deadline = time.monotonic() + 10
    while (count := served(server, route)) < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return count


def same_result(a: cloud.RunResult, b: cloud.RunResult) -> None:
    assert a.id == b.id and a.output == b.output and a.metadata.status_v2 == b.metadata.status_v2
    assert a.to_dict() == b.to_dict()


def test_the_result_comes_with_the_end_of_the_stream(live_server: LiveServer, deployed: Deployed) -> None:
    app, instance_id = deployed.app, deployed.instance.id
    app.new_run_with_result(input={"warm": True}, instance_id=instance_id)  # the env is built once
    results_before = served(live_server, RESULT_ROUTE)
    streams_before = until_counted(live_server, EVENTS_ROUTE, 1)
    ok = app.new_run_with_result(input={"x": 1}, instance_id=instance_id)
    failed = app.new_run_with_result(input={"x": 2}, instance_id=instance_id, run_options={"fail": "true"})
    assert until_counted(live_server, EVENTS_ROUTE, streams_before + 2) == streams_before + 2
    assert served(live_server, RESULT_ROUTE) == results_before  # no GET …/runs/{id} at all
    assert ok.metadata.status_v2 == cloud.StatusV2.succeeded and ok.output["solution"] == {"x": 1}
    assert failed.metadata.status_v2 == cloud.StatusV2.failed and "failing on purpose" in failed.error_log.stderr
    for got in (ok, failed):
        same_result(got, app.run_result(got.id))  # as the result request answers it


def test_a_large_output_is_read_by_the_result_request(live_server: LiveServer, deployed: Deployed) -> None:
    app, instance_id = deployed.app, deployed.instance.id
    run_id = app.new_run(input={"big": LARGE}, instance_id=instance_id)
    ends = [e for e in stream_events(app.client, f"{app.endpoint}/runs/{run_id}/events", params={"logs": "false", "result": "true"},
                                     until="end") if e.event == "end"]
    assert ends[0].data["status_v2"] == "succeeded" and "result" not in ends[0].data
    before = served(live_server, RESULT_ROUTE)
    result = app.run_result_with_polling(run_id)
    assert result.output["solution"] == {"big": LARGE}
    assert served(live_server, RESULT_ROUTE) == before + 1


class CountingForwarder:
    """A TCP forwarder on loopback that counts the connections clients open through it."""

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("http://").rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


@contextmanager
def forwarding(url: str) -> Iterator[CountingForwarder]:
    forwarder = CountingForwarder(url)
    try:
        yield forwarder
    finally:
        forwarder.close()


def test_the_connection_is_reused_after_the_stream(live_server: LiveServer, deployed: Deployed) -> None:
    """The client reads the stream to its end after ``end``: the next runs reuse its connection."""
    deployed.app.new_run_with_result(input={"warm": True}, instance_id=deployed.instance.id)
    with forwarding(live_server.url) as forwarder, live_server.client(url=forwarder.url) as client:
        app = cloud.Application(client=client, id=deployed.app.id)
        for n in range(3):
            assert app.new_run_with_result(input={"n": n}, instance_id=deployed.instance.id).output["solution"] == {"n": n}
        assert forwarder.connections == 1


def test_the_async_sdk_waits_on_the_stream(live_server: LiveServer, deployed: Deployed) -> None:
    deployed.app.new_run_with_result(input={"warm": True}, instance_id=deployed.instance.id)
    seen: list[tuple[str, str, str]] = []

    async def record(request: httpx.Request) -> None:
        seen.append((request.method, request.url.path.rsplit("/", 1)[-1], request.url.query.decode()))

    async def scenario() -> tuple[cloud.RunResult, cloud.RunResult]:
        async with AsyncClient(api_key=live_server.key, url=live_server.url) as client:
            app = AsyncApplication(client=client, id=deployed.app.id)
            client.http.event_hooks["request"].append(record)
            small = await app.new_run_with_result(input={"x": 1}, instance_id=deployed.instance.id, run_options={"sleep": 0.3})
            large = await app.new_run_with_result(input={"big": LARGE}, instance_id=deployed.instance.id)
            assert client.event_streams
            return small, large

    small, large = asyncio.run(scenario())
    assert small.output["solution"] == {"x": 1} and large.output["solution"] == {"big": LARGE}
    same_result(small, deployed.app.run_result(small.id))
    stream = ("GET", "events", "logs=false&result=true")
    # the small result with the stream's end; the large one by the result request
    assert seen == [("POST", "runs", seen[0][2]), stream, ("POST", "runs", seen[2][2]), stream,
                    ("GET", large.id, seen[4][2])], seen


def test_the_async_sdk_long_polls_a_server_without_streams() -> None:
    async def scenario(url: str) -> AsyncClient:
        async with AsyncClient(api_key="k", url=url) as client:
            app = AsyncApplication(client=client, id="wire-app")
            await app.run_result_with_polling("run-1")
            await app.run_result_with_polling("run-2")
            return client

    with recording_server() as rec:
        rec.answer_with("GET", r"/v1/applications/[^/]+/runs/[^/]+/events", lambda r, q: (405, "no such route"))
        rec.answer_with("GET", r"/v1/applications/[^/]+/runs/[^/]+$", lambda rec, req: (200, {**run_info("succeeded"), "output": {}}))
        client = asyncio.run(scenario(rec.url))
    assert [r.path.rsplit("/", 1)[-1] for r in rec.requests] == ["events", "run-1", "run-2"]
    assert client.event_streams is False
