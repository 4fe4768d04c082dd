"""Server-Sent Event streams over a real loopback server: a run's stream, an account's stream, and a
client that disconnects and resumes with Last-Event-ID without missing or repeating anything."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx

from ..conftest import ADMIN_KEY

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def read_sse(lines: Iterator[str], count: int | None = None, until: str | None = None) -> list[dict[str, Any]]:
    """Events parsed from an SSE line stream: ``count`` of them, or up to the event named ``until``."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if line == "":
            if "data" in current:
                current["data"] = json.loads(current["data"])
                out.append(current)
                if (count is not None and len(out) >= count) or (until and current.get("event") == until):
                    return out
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            current[name] = value.removeprefix(" ")
    return out


def new_app(http: httpx.Client, app_id: str) -> None:
    from ..conftest import ECHO_APP, make_bundle

    assert http.post("/v1/applications", json={"id": app_id, "name": app_id}).status_code == 200
    upload = http.get(f"/v1/applications/{app_id}/binary").json()["upload_url"]
    assert httpx.put(upload, content=make_bundle(ECHO_APP)).status_code == 200
    req = {"executable_type": "python", "runtime": "ghcr.io/nextmv-io/runtime/python:3.11"}
    assert http.put(f"/v1/applications/{app_id}/binary", json={"requirements": req}).status_code == 200


def submit(http: httpx.Client, app_id: str) -> str:
    return http.post(f"/v1/applications/{app_id}/runs", json={"input": {"x": 1}}).json()["run_id"]


def test_account_stream_resumes_without_gap(base_url: str) -> None:
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=30) as http:
        new_app(http, "sse")
        first: list[dict[str, Any]] = []
        with http.stream("GET", "/v1/events", params={"application_id": "sse"}) as resp:
            assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
            lines = resp.iter_lines()
            ids = [submit(http, "sse") for _ in range(5)]
            first = read_sse(lines, count=7)  # mid-way: then the client goes away
        resume_from = first[-1]["id"]
        ids += [submit(http, "sse") for _ in range(5)]  # while no one listens
        with http.stream("GET", "/v1/events", headers={"Last-Event-ID": resume_from}, params={"application_id": "sse"}) as resp:
            rest = read_sse(resp.iter_lines(), count=30 - len(first))
    events = first + rest
    assert len({e["id"] for e in events}) == 30
    per_run: dict[str, list[str]] = defaultdict(list)
    for e in events:
        assert e["event"] == "run.status"
        per_run[e["data"]["data"]["run_id"]].append(e["data"]["data"]["status_v2"])
    assert set(per_run) == set(ids)
    assert all(v == ["queued", "running", "succeeded"] for v in per_run.values()), per_run


def test_run_stream_then_end_and_resume(base_url: str) -> None:
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=30) as http:
        new_app(http, "one")
        run_id = submit(http, "one")
        url = f"/v1/applications/one/runs/{run_id}/events"
        with http.stream("GET", url) as resp:
            events = read_sse(resp.iter_lines(), until="end")
        assert [e["event"] for e in events] == ["status", "status", "status", "end"]
        assert [e["data"]["data"]["status_v2"] for e in events[:3]] == ["queued", "running", "succeeded"]
        with http.stream("GET", url, headers={"Last-Event-ID": events[1]["id"]}) as resp:
            again = read_sse(resp.iter_lines(), until="end")
        assert [e["event"] for e in again] == ["status", "end"]
        assert again[0]["data"]["data"]["status_v2"] == "succeeded"
        assert http.get("/v1/applications/one/runs/run-nope/events").status_code == 404
        assert httpx.get(f"{base_url}{url}").status_code == 401
        assert http.get("/v1/events", headers={"Last-Event-ID": "garbage"}).status_code == 400


def upload_run(http: httpx.Client, app_id: str, raw: bytes) -> str:
    """A run whose input is ``raw`` exactly (the stub executor's output is its input, byte for byte)."""
    slot = http.post(f"/v1/applications/{app_id}/runs/uploadurl").json()
    assert httpx.put(slot["upload_url"], content=raw).status_code == 200
    return http.post(f"/v1/applications/{app_id}/runs", json={"upload_id": slot["upload_id"]}).json()["run_id"]


def test_run_stream_end_carries_the_result_when_asked(base_url: str) -> None:
    """``?result=true``: the end event's ``result`` is the body ``GET …/runs/{id}`` answers, also for an output
    spread over lines with characters that split lines in some clients; without it, the end is as before."""
    # Newlines and CRs between tokens, and U+2028, U+2029 and U+0085 raw inside a string (valid JSON).
    raw = '{"a": "x\u2028y\u2029z\u0085",\r\n "b": [1,\n 2]}\n'.encode()
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=30) as http:
        new_app(http, "res")
        run_id = upload_run(http, "res", raw)
        url = f"/v1/applications/res/runs/{run_id}/events"
        with http.stream("GET", url, params={"logs": "false", "result": "true"}) as resp:
            events = read_sse(resp.iter_lines(), until="end")
        end = events[-1]
        assert end["event"] == "end" and end["data"]["status_v2"] == "succeeded"
        assert end["data"]["result"] == http.get(f"/v1/applications/res/runs/{run_id}").json()
        assert end["data"]["result"]["output"] == {"a": "x\u2028y\u2029z\u0085", "b": [1, 2]}
        # resumed after the last status change: the end (with the result) again
        with http.stream("GET", url, headers={"Last-Event-ID": events[-2]["id"]}, params={"result": "true"}) as resp:
            again = read_sse(resp.iter_lines(), until="end")
        assert [e["event"] for e in again] == ["end"] and again[0]["data"]["result"] == end["data"]["result"]
        with http.stream("GET", url) as resp:
            plain = read_sse(resp.iter_lines(), until="end")[-1]
        assert plain["data"] == {"run_id": run_id, "status_v2": "succeeded"}
        schema = http.get("/openapi.json").json()["paths"]["/v1/applications/{app_id}/runs/{run_id}/events"]["get"]
        assert "result" in {p["name"] for p in schema["parameters"]}


def test_run_stream_end_leaves_a_large_result_out(base_url: str) -> None:
    big = json.dumps({"big": "y" * (300 * 1024)}).encode()
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=30) as http:
        new_app(http, "big")
        run_id = upload_run(http, "big", big)
        with http.stream("GET", f"/v1/applications/big/runs/{run_id}/events", params={"result": "true"}) as resp:
            end = read_sse(resp.iter_lines(), until="end")[-1]
        assert end["data"] == {"run_id": run_id, "status_v2": "succeeded"}
        assert http.get(f"/v1/applications/big/runs/{run_id}").json()["output"] == json.loads(big)
