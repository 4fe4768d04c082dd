"""``python -m bench.edge_memory``: the server's memory while four clients each try to send 200 MB.

A real ``runyard serve`` (stub executor) gets, four at once, 200 MB bodies on ``POST …/runs`` (inline
input, capped at 5 MiB) and ``POST /v1/applications`` (other JSON, capped by
``limits.json_body_max_bytes``), once with a ``Content-Length`` and once chunked (the cap must hold
while the body streams). The server's resident memory is sampled every 5 ms; the goal is a peak
within 50 MiB of idle. Each client sends as fast as the server takes it, and stops at the answer.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import Server

MiB = 1024 * 1024
BODY_MIB = 200
CLIENTS = 4
GOAL_MIB = 50


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def attempt(port: int, key: str, path: str, chunked: bool) -> dict[str, Any]:
    """Send up to ``BODY_MIB`` MiB to ``path``; what the server answered, when, and how much was sent."""
    head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nAuthorization: Bearer {key}\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {BODY_MIB * MiB}\r\n\r\n"
    block = b" " * MiB
    piece = (b"%x\r\n" % MiB + block + b"\r\n") if chunked else block
    started = time.perf_counter()
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + (b'{"input": "' if not chunked else b""))
        sock.setblocking(False)
        view, offset = memoryview(piece), 0
        while sent < BODY_MIB and not answer:
            try:
                offset += sock.send(view[offset:])
                if offset == len(piece):
                    sent, offset = sent + 1, 0
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                break
            readable, _, _ = select.select([sock], [], [], 0 if offset else 0.001)
            if readable:
                answer = sock.recv(65536)
        if not answer:
            sock.setblocking(True)
            sock.settimeout(60)
            try:
                answer = sock.recv(65536)
            except OSError:
                answer = b""
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "none"
    return {"status": status, "seconds": round(time.perf_counter() - started, 3), "sent_mib": sent}


def scenario(server: Server, path: str, chunked: bool) -> dict[str, Any]:
    idle = rss_mib(server.pid)
    peak, done = idle, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mib(server.pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results: list[dict[str, Any]] = []
    clients = [threading.Thread(target=lambda: results.append(attempt(server.port, server.key, path, chunked)))
               for _ in range(CLIENTS)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    time.sleep(0.2)
    done.set()
    sampler.join()
    return {"path": path, "body": "chunked" if chunked else "content-length", "idle_mib": round(idle, 1),
            "peak_mib": round(peak, 1), "growth_mib": round(peak - idle, 1),
            "statuses": sorted(r["status"] for r in results), "max_seconds": max(r["seconds"] for r in results),
            "max_sent_mib": max(r["sent_mib"] for r in results)}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="runyard-edge-") as tmp:
        with Server(Path(tmp), executor="stub", extra_env={"RUNYARD_SANDBOX": "off"}) as server:
            server.call("POST", "/v1/applications", json={"id": "edge", "name": "edge"})
            for _ in range(20):  # warm: the first requests import and cache what every request uses
                server.call("GET", "/v1/applications/edge")
            rows = [scenario(server, path, chunked)
                    for path in ("/v1/applications/edge/runs", "/v1/applications")
                    for chunked in (False, True)]
    worst = max(r["growth_mib"] for r in rows)
    ok = worst < GOAL_MIB and all(s == "413" for r in rows for s in r["statuses"])
    print(json.dumps({"clients": CLIENTS, "body_mib": BODY_MIB, "goal_growth_below_mib": GOAL_MIB,
                      "worst_growth_mib": worst, "met": ok, "scenarios": rows}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
