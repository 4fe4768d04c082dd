"""P8: how soon a status change reaches a webhook receiver and an SSE client.

``runyard serve`` (stub executor: a run ends the moment it starts) and this process, which holds a
webhook receiver on a loopback port and an SSE client on ``GET /v1/events``. Runs are submitted one
at a time; each of their status changes (queued, running, succeeded) is timed from the event's
``created_at`` (stamped by the server in the transaction that changed the status) to its arrival here,
once as a webhook POST and once as an SSE event. Same machine, same clock.

Baseline: a bare HTTP POST between the same two processes (this one to the server, answered at once
with 401 by the server's first check), timed round trip.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import Server, SetupError, deploy, summary_ms, write_trivial_app
from runyard.testing.receiver import receiving

GOAL_P99_MS = 50.0
STATUSES = ("queued", "running", "succeeded")


def _created(doc: dict[str, Any]) -> float:
    return datetime.fromisoformat(doc["created_at"].replace("Z", "+00:00")).timestamp()


def run(work: Path, quick: bool) -> dict[str, Any]:
    runs = 100 if quick else 1000
    env = {"RUNYARD_WEBHOOKS__ALLOW_LOOPBACK": "true"}
    with receiving() as receiver, Server(work / "server", executor="stub", extra_env=env) as server:
        deploy(server, write_trivial_app(work / "app"), "p8")
        server.call("POST", "/v1/webhooks", json={"id": "p8", "event_types": ["run.status"], "endpoint_url": receiver.url})
        sse: dict[str, float] = {}
        hooks: dict[str, float] = {}
        got_sse, stop = threading.Event(), threading.Event()
        lock = threading.Lock()

        def on_hook(r: Any) -> None:
            doc = json.loads(r.body)
            with lock:
                hooks[doc["event_id"]] = r.at - _created(doc)

        receiver.on_request = on_hook
        reader = threading.Thread(target=_read_sse, args=(server, sse, lock, got_sse, stop), daemon=True)
        reader.start()
        if not got_sse.wait(10):
            raise SetupError("the SSE stream did not open")
        session = server.session()
        for _ in range(20):  # warm-up: connections, caches
            _one_run(server, session, hooks, sse, lock)
        with lock:
            hooks.clear()
            sse.clear()
        for _ in range(runs):
            _one_run(server, session, hooks, sse, lock)
        stop.set()
        baseline = [_bare_post(session, server.url) for _ in range(runs)]
    hook_s, sse_s = list(hooks.values()), list(sse.values())
    if len(hook_s) < 3 * runs or len(sse_s) < 3 * runs:
        raise SetupError(f"events missing: {len(hook_s)} webhooks and {len(sse_s)} SSE events for {3 * runs} status changes")
    webhook, stream, base = summary_ms(hook_s), summary_ms(sse_s), summary_ms(baseline)
    return {
        "id": "P8", "runs": runs, "events": 3 * runs, "webhook": webhook, "sse": stream, "baseline": base,
        "baseline_is": "a bare HTTP POST between the same two processes (round trip, answered 401 at once)",
        "goal": {"p99_below_ms": GOAL_P99_MS, "met": webhook["p99_ms"] < GOAL_P99_MS and stream["p99_ms"] < GOAL_P99_MS},
    }


def _one_run(server: Server, session: Any, hooks: dict[str, float], sse: dict[str, float], lock: threading.Lock) -> None:
    with lock:
        before_h, before_s = len(hooks), len(sse)
    server.call("POST", "/v1/applications/p8/runs", session, json={"input": {"x": 1}})
    deadline = time.monotonic() + 30
    while True:
        with lock:
            if len(hooks) >= before_h + 3 and len(sse) >= before_s + 3:
                return
        if time.monotonic() > deadline:
            raise SetupError("a run's three events did not all arrive within 30 s")
        time.sleep(0.0005)


def _read_sse(server: Server, sse: dict[str, float], lock: threading.Lock, opened: threading.Event, stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {server.key}"}
    with httpx.Client(timeout=httpx.Timeout(10, read=None)) as http, \
            http.stream("GET", f"{server.url}/v1/events", params={"application_id": "p8"}, headers=headers) as resp:
        opened.set()
        data = None
        for line in resp.iter_lines():
            if stop.is_set():
                return
            if line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                at = time.time()
                doc = json.loads(data)
                with lock:
                    sse[doc["event_id"]] = at - _created(doc)
                data = None


def _bare_post(session: Any, url: str) -> float:
    started = time.perf_counter()
    response = session.post(url + "/v1/webhooks", data=b"{}", headers={"Authorization": "Bearer not-a-key"})
    elapsed = time.perf_counter() - started
    if response.status_code != 401:
        raise SetupError(f"the baseline POST answered {response.status_code}")
    return elapsed
