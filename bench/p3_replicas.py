"""P3R: P3 with two replicas: ``GET …/runs/{id}/metadata`` through two ``runyard serve`` processes that
share one PostgreSQL database, against ``GET /healthz`` on the same two processes.

The scaled shape of the issue: a load balancer spreads clients over the replicas. Here each replica
gets half the 64 connections from its own ``wrk -t1 -c32`` (the two run at once; their requests per
second are added, their latencies pooled by taking the worse of the two percentiles). The metadata
read goes to PostgreSQL (a throwaway cluster on 127.0.0.1, as P5 starts it); the baseline answers
from memory. Same two loads as P3: saturated for the ratio, paced pollers (100 ms between answer and
next request) for the p99. Everything shares the machine's two cores: the two servers, PostgreSQL and
the two load generators.

All 64 connections poll one run, as the issue defines the figure; equal reads waiting for a database
connection at once share one query there (``LoopReads.fetch_shared``). So the row also gives the same
saturated load spread over ``DISTINCT_RUNS`` runs (each request the next run), where no two reads are
equal: that is what pollers of many different runs get (their reads that wait for a connection
together go as one query, ``LoopReads.fetch_keyed``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bench.common import Server, SetupError
from bench.p3_api import LUA, PACED, POLL_INTERVAL_MS, wrk, wrk_path

CONNECTIONS = 64
REPLICAS = 2
GOAL_RATIO = 0.7
GOAL_P99_MS = 25.0
DISTINCT_RUNS = 256
ROTATE = """
paths = {%(paths)s}
i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
"""
PG_HINT = "PostgreSQL server binaries not found: `sudo apt-get install -y postgresql` (or set RUNYARD_PG_BINDIR)"


def wrk_all(urls: list[str], script: Path, seconds: int) -> dict[str, Any]:
    """One ``wrk`` per URL at once, ``CONNECTIONS / len(urls)`` connections each; totals and worst percentiles."""
    results: list[dict[str, Any] | BaseException] = [RuntimeError("not run")] * len(urls)

    def one(i: int) -> None:
        try:
            results[i] = wrk(urls[i], script, seconds, connections=CONNECTIONS // len(urls))
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the caller's thread
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for found in results:
        if isinstance(found, BaseException):
            raise found
    each: list[dict[str, Any]] = results  # type: ignore[assignment]
    total = {"requests": sum(r["requests"] for r in each), "rps": round(sum(r["rps"] for r in each), 1)}
    for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
        total[key] = max(r[key] for r in each)
    total["per_replica_rps"] = [r["rps"] for r in each]
    return total


def run(work: Path, quick: bool) -> dict[str, Any]:
    from runyard.testing.postgres import start_cluster

    seconds = 4 if quick else 30
    wrk_path()
    try:
        cluster = start_cluster()
    except RuntimeError as exc:
        raise SetupError(f"{PG_HINT} ({exc})") from exc
    servers: list[Server] = []
    try:
        database_url = cluster.create_database()
        shared = {"RUNYARD_BLOB_URL": f"file://{work / 'blobs'}"}
        first = Server(work / "a", executor="stub", database_url=database_url, extra_env=shared).start()
        servers.append(first)
        for i in range(1, REPLICAS):
            servers.append(Server(work / f"r{i}", executor="stub", database_url=database_url, extra_env=shared,
                                  key=first.key).start())
        roles = sorted(s.call("GET", "/healthz")["dispatcher"]["role"] for s in servers)
        if roles != ["leader"] + ["standby"] * (REPLICAS - 1):
            raise SetupError(f"expected one leader among the replicas, /healthz says {roles}")
        first.call("POST", "/v1/applications", json={"id": "p3", "name": "p3"})
        run_id = first.call("POST", "/v1/applications/p3/runs",
                            json={"input": {"x": 1}, "result": {"status": "succeeded"}})["run_id"]
        metadata_path = f"/v1/applications/p3/runs/{run_id}/metadata"
        many = [first.call("POST", "/v1/applications/p3/runs", json={"input": {"x": i}, "result": {"status": "succeeded"}})["run_id"]
                for i in range(DISTINCT_RUNS)]
        for server in servers:  # every replica answers for the run the first one recorded
            if server.call("GET", metadata_path).get("id") != run_id:
                raise SetupError(f"{server.url} does not answer the metadata of {run_id}")
        script = work / "auth.lua"
        script.write_text(LUA % {"key": first.key})
        health = [s.url + "/healthz" for s in servers]
        metadata_urls = [s.url + metadata_path for s in servers]
        wrk_all(health, script, 1 if quick else 3)  # warm-up: thread pools, connections
        baseline = wrk_all(health, script, seconds)
        wrk_all(metadata_urls, script, 1 if quick else 3)
        metadata = wrk_all(metadata_urls, script, seconds)
        rotating = work / "rotating.lua"
        rotating.write_text(LUA % {"key": first.key} + ROTATE % {
            "paths": ", ".join(f'"/v1/applications/p3/runs/{r}/metadata"' for r in many)})
        distinct = wrk_all([s.url + "/" for s in servers], rotating, seconds)  # (the script names each request's path)
        paced_script = work / "paced.lua"
        paced_script.write_text(LUA % {"key": first.key} + PACED % {"interval": POLL_INTERVAL_MS})
        paced_baseline = wrk_all(health, paced_script, seconds)
        paced = wrk_all(metadata_urls, paced_script, seconds)
    finally:
        for server in servers:
            server.stop()
        cluster.stop()
    ratio = round(metadata["rps"] / baseline["rps"], 3)
    return {
        "id": "P3R",
        "replicas": REPLICAS,
        "connections": CONNECTIONS,
        "seconds_each": seconds,
        "metadata": metadata,
        "baseline": baseline,
        "polling": {"interval_ms": POLL_INTERVAL_MS, "metadata": paced, "baseline": paced_baseline},
        "baseline_is": f"GET /healthz on the same {REPLICAS} server processes, the same loads",
        "ratio": ratio,
        "distinct_runs": {"runs": DISTINCT_RUNS, "metadata": distinct, "ratio": round(distinct["rps"] / baseline["rps"], 3)},
        "goal": {"ratio_at_least": GOAL_RATIO, "p99_below_ms": GOAL_P99_MS,
                 "met": ratio >= GOAL_RATIO and paced["p99_ms"] < GOAL_P99_MS},
    }
