"""``python -m bench.edge_load [seconds]``: load R6, 100 pollers plus 10 runs a second for 60 s.

A real ``runyard serve`` (embedded executor, sandbox as configured, the trivial app) gets, from one
asyncio client process: 100 pollers, each reading ``GET …/runs/{id}/metadata`` of a run of its own once a
second (the official SDKs' first polling interval), and 10 ``POST …/runs`` a second, each a real run.
Every request's latency is kept; an error is any non-2xx answer or a failed connection. Goal: 0 errors,
p99 under 50 ms, every submitted run ended ``succeeded``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import TRIVIAL_INPUT, Server, deploy, percentile, write_trivial_app

POLLERS = 100
RUNS_PER_SECOND = 10
POLL_INTERVAL = 1.0
GOAL_P99_MS = 50.0


async def load(server: Server, app_id: str, instance_id: str, seconds: float) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {server.key}"}
    base = f"{server.url}/v1/applications/{app_id}"
    latencies: dict[str, list[float]] = {"poll": [], "submit": []}
    errors: list[str] = []
    submitted: list[str] = []
    limits = httpx.Limits(max_connections=POLLERS + 20, max_keepalive_connections=POLLERS + 20)
    async with httpx.AsyncClient(headers=headers, timeout=30, limits=limits) as client:
        async def timed(kind: str, method: str, url: str, **kw: object) -> httpx.Response | None:
            started = time.perf_counter()
            try:
                response = await client.request(method, url, **kw)  # type: ignore[arg-type]
            except httpx.HTTPError as exc:
                errors.append(f"{kind}: {type(exc).__name__}")
                return None
            latencies[kind].append(time.perf_counter() - started)
            if response.status_code // 100 != 2:
                errors.append(f"{kind}: {response.status_code} {response.text[:120]}")
                return None
            return response

        seed = [(await client.post(f"{base}/runs", json={"input": TRIVIAL_INPUT, "instance_id": instance_id})).json()["run_id"]
                for _ in range(POLLERS)]
        deadline = time.monotonic() + seconds

        async def poller(run_id: str, offset: float) -> None:
            await asyncio.sleep(offset)
            while time.monotonic() < deadline:
                await timed("poll", "GET", f"{base}/runs/{run_id}/metadata")
                await asyncio.sleep(POLL_INTERVAL)

        async def submitter() -> None:
            start, k = time.monotonic(), 0
            while time.monotonic() < deadline:
                response = await timed("submit", "POST", f"{base}/runs", json={"input": TRIVIAL_INPUT, "instance_id": instance_id})
                if response is not None:
                    submitted.append(response.json()["run_id"])
                k += 1
                await asyncio.sleep(max(0.0, start + k / RUNS_PER_SECOND - time.monotonic()))

        await asyncio.gather(submitter(), *(poller(run_id, i * POLL_INTERVAL / POLLERS) for i, run_id in enumerate(seed)))

        ended: dict[str, int] = {}
        for run_id in submitted + seed:
            for _ in range(600):
                status = (await client.get(f"{base}/runs/{run_id}/metadata")).json()["metadata"]["status_v2"]
                if status in ("succeeded", "failed", "canceled"):
                    break
                await asyncio.sleep(0.1)
            ended[status] = ended.get(status, 0) + 1
    every = latencies["poll"] + latencies["submit"]
    ms = lambda values, p: round(percentile(values, p) * 1000, 2)  # noqa: E731
    return {
        "seconds": seconds, "pollers": POLLERS, "runs_per_second_asked": RUNS_PER_SECOND,
        "requests": len(every), "errors": len(errors), "error_samples": errors[:5],
        "runs_submitted": len(submitted), "runs_by_final_status": ended,
        "p50_ms": ms(every, 50), "p99_ms": ms(every, 99), "max_ms": round(max(every) * 1000, 2),
        "poll_p99_ms": ms(latencies["poll"], 99), "submit_p50_ms": ms(latencies["submit"], 50),
        "submit_p99_ms": ms(latencies["submit"], 99),
    }


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    with tempfile.TemporaryDirectory(prefix="runyard-load-") as tmp:
        app_dir = write_trivial_app(Path(tmp) / "app")
        with Server(Path(tmp) / "server", concurrency=4) as server:
            _, instance_id = deploy(server, app_dir, "load")
            result = asyncio.run(load(server, "load", instance_id, seconds))
    result["met"] = (result["errors"] == 0 and result["p99_ms"] < GOAL_P99_MS  # type: ignore[operator]
                     and set(result["runs_by_final_status"]) == {"succeeded"})  # type: ignore[arg-type]
    print(json.dumps(result, indent=2))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
