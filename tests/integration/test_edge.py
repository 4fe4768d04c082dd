"""The API's edge: bodies capped while they stream (413 naming the limit), strict JSON, validated queries."""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator

from integration.conftest import ADMIN_KEY, Api
from runyard.services.runs.logs import append_log
from runyard.settings import Settings
from runyard.testing.servers import serve_in_thread

MiB = 1024 * 1024


class Counted:
    """A request body sent in 1 MiB chunks (no Content-Length) that counts how many were taken."""

    def __init__(self, total_mib: int, head: bytes = b"") -> None:
        self.total, self.head, self.taken = total_mib, head, 0

    def __iter__(self) -> Iterator[bytes]:
        for i in range(self.total):
            self.taken += 1
            yield (self.head if i == 0 else b"") + b" " * MiB


def test_an_inline_run_input_over_its_limit_is_413_naming_the_limit_and_the_upload_url(api: Api) -> None:
    api.new_app("big")
    limit = 5 * MiB + 1024
    body = json.dumps({"input": {"blob": "x" * (limit + 10)}}).encode()
    r = api.post("/v1/applications/big/runs", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert str(limit) in error and "/v1/applications/big/runs/uploadurl" in error
    assert r.json()["request_id"] == r.headers["x-request-id"]
    # Just under the limit is still a run.
    ok = json.dumps({"input": {"blob": "x" * (limit - 200)}}).encode()
    assert api.post("/v1/applications/big/runs", content=ok, headers={"content-type": "application/json"}).status_code == 200


def test_a_streamed_body_is_cut_off_at_its_cap_without_being_read_whole(server_settings: Settings) -> None:
    """Over real HTTP, chunked: the 413 arrives while the client is still sending, a few MiB in."""
    with serve_in_thread(server_settings) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST /v1/applications/any/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Authorization: Bearer " + ADMIN_KEY.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
            sock.setblocking(False)
            sent, answer = 0, b""
            while sent < 200 and not answer:
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (MiB, b" " * MiB))
                    sent += 1
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    break
                ready, _, _ = select.select([sock], [], [], 0.01)
                if ready:
                    answer = sock.recv(65536)
            if not answer:
                sock.setblocking(True)
                sock.settimeout(5)
                answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"runs/uploadurl" in answer
    assert sent < 40, f"the client sent {sent} MiB before the server answered"


def test_other_json_bodies_are_capped_by_the_setting(api: Api) -> None:
    big = {"id": "huge", "name": "n", "description": "d" * (7 * MiB)}
    r = api.post("/v1/applications", json=big)
    assert r.status_code == 413, r.text
    assert "json_body_max_bytes" in r.json()["error"] and str(6 * MiB) in r.json()["error"]
    assert api.get("/v1/applications/huge").status_code == 404
    declared = api.post("/v1/applications", content=Counted(50), headers={"content-length": str(50 * MiB)})
    assert declared.status_code == 413


def test_non_standard_json_is_a_400_naming_the_position(api: Api) -> None:
    api.new_app("strict")
    url = "/v1/applications/strict/runs"
    for raw, token, char in (('{"input": {"x": NaN}}', "NaN", 16), ('{"input": {"x": -Infinity}}', "-Infinity", 16),
                             ('{"input":\n {"x": 1e999999}}', "1e999999", 17), ('{"input": [1, Infinity]}', "Infinity", 14),
                             ('{"input": {"x": ' + "9" * 400 + "}}", "999", 16)):
        r = api.post(url, content=raw.encode(), headers={"content-type": "application/json"})
        assert r.status_code == 400, (raw[:40], r.text)
        error = r.json()["error"]
        assert token in error and f"(char {char})" in error, error
    assert api.post("/v1/applications", content=b'{"id": "n", "name": "x", "description": NaN}',
                    headers={"content-type": "application/json"}).status_code == 400
    # Standard numbers, including exponents and the same words inside strings, pass untouched.
    fine = {"input": {"x": 1.5e300, "y": -2e-300, "s": "NaN Infinity 1e999999", "n": 12345678901234567890}}
    run_id = api.post(url, json=fine).json()["run_id"]
    stored = api.get(f"/v1/applications/strict/runs/{run_id}/input")
    assert stored.status_code == 200 and json.loads(stored.content) == fine["input"]


def test_live_log_offsets_are_validated(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    api.new_app("logs")
    run_id = api.post("/v1/applications/logs/runs", json={"input": {}}).json()["run_id"]
    append_log(client.app.state.platform, run_id, "a line")
    url = f"/v1/applications/logs/runs/{run_id}/logs/live"
    for since in ("-1", "99999999999999999999999", "1e3", "٣", " 1", "1_0"):
        r = api.get(url, params={"since": since})
        assert r.status_code == 400, (since, r.text)
        assert "since" in r.json()["error"]
    first = api.get(url).json()
    assert [i["log"] for i in first["items"]] == ["a line"]
    past_the_end = api.get(url, params={"since": str(2**40)})
    assert past_the_end.status_code == 200 and past_the_end.json()["items"] == []


def test_an_empty_idempotency_key_is_no_key_and_a_long_one_is_a_400(api: Api) -> None:
    """Found by schemathesis: a second run with an empty Idempotency-Key header answered 500."""
    api.new_app("keys")
    url = "/v1/applications/keys/runs"
    first = api.post(url, json={"input": {}}, headers={"Idempotency-Key": ""})
    second = api.post(url, json={"input": {}}, headers={"Idempotency-Key": ""})
    assert first.status_code == second.status_code == 200, second.text
    assert first.json()["run_id"] != second.json()["run_id"]
    long = api.post(url, json={"input": {}}, headers={"Idempotency-Key": "k" * 129})
    assert long.status_code == 400 and "128" in long.json()["error"]
    again = [api.post(url, json={"input": {}}, headers={"Idempotency-Key": "same"}).json()["run_id"] for _ in range(2)]
    assert again[0] == again[1]
