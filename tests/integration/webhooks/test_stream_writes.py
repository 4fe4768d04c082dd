"""A run's event stream writes what one read found at once: an ended run's whole stream (the retry
line, its status changes and the end with its result) leaves the server as one body message, where each
event used to be its own write, each a trip through the middleware, a system call and a client wake-up."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ..conftest import ADMIN_KEY
from .conftest import submit, wait_until


async def _body_messages(app: Any, path: str, query: str) -> list[bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"test"), (b"authorization", f"Bearer {ADMIN_KEY}".encode())],
             "client": ("127.0.0.1", 1234), "server": ("test", 80)}
    requested = False
    bodies: list[bytes] = []
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays: the stream ends by itself
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body" and message.get("body"):
            bodies.append(message["body"])

    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    assert status == [200]
    return bodies


def test_an_ended_runs_stream_is_one_write(start_server) -> None:  # type: ignore[no-untyped-def]
    api, client = start_server()
    api.new_app("one-write")
    run_id = submit(api, "one-write")
    path = f"/v1/applications/one-write/runs/{run_id}"
    wait_until(lambda: api.get(f"{path}/metadata").json()["metadata"]["status_v2"] == "succeeded", what="the run ended")
    bodies = asyncio.run(_body_messages(client.app, f"{path}/events", "logs=false&result=true"))
    assert len(bodies) == 1
    text = bodies[0].decode()
    assert text.startswith("retry: 1000\n\n")
    kinds = [line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")]
    assert kinds == ["status", "status", "status", "end"]
    end = json.loads(text.rstrip("\n").rsplit("\n", 1)[-1].removeprefix("data: "))
    assert end["status_v2"] == "succeeded" and end["result"]["id"] == run_id
