"""P9: the console on big data. Server half: the runs list of an application with 1,000,000 runs.

Per backend (SQLite file, throwaway PostgreSQL cluster), one ``runyard serve`` (stub executor) on a
fresh migrated database:

1. Setup: two apps are pushed. The *baseline* app gets ``BASELINE_RUNS`` (10) real submissions, the
   *big* app one; then the big app gets N more runs bulk-inserted straight into the database through
   the storage layer (``runyard.storage.db.bulk.insert_rows``: Core ``insert()``, executemany, 10,000
   a batch), copies of its real run with fresh ids, created one second apart going back, with a mix of
   statuses, three instances and two versions (the "rare" values only on the oldest runs, so that a
   list read in order without the right index would scan the whole app to find them).
   PostgreSQL gets ``VACUUM (ANALYZE)`` (autovacuum would soon), SQLite a WAL checkpoint.
2. Measured interleaved: every round sends each case once (below) in a fresh random order, one at a
   time, and reads the server's own time from the ``Server-Timing`` header (``app;dur=``: from the
   request's arrival in the ASGI stack to the response's head, the body being built by then). Client
   time is recorded beside it. The first rounds are a warm-up.
3. The baseline, measured in the same rounds: the first page of the 10-run app (a bare API list call).

The goal: every case's first page (and the second page through its token) under 300 ms of server time
at p99 on both databases. The query plan of every case (the statement the server's code builds, run
under ``EXPLAIN QUERY PLAN`` / ``EXPLAIN (ANALYZE, BUFFERS)``) is recorded with the figures.

To add a case (engineer C's browser half adds its own measurement beside this one), append to
``cases()``; ``run()`` returns one ``by_backend`` entry per database and the report reads them generically.
"""

from __future__ import annotations

import gc
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select

from bench.common import (
    TRIVIAL_INPUT,
    Server,
    SetupError,
    deploy,
    explain_sent,
    postgres_half,
    settle_database,
    summary_ms,
    write_trivial_app,
)
from runyard.services.blob_keys import input_key
from runyard.storage.db import Application, Run, create_database
from runyard.storage.db.bulk import insert_rows

GOAL_SERVER_P99_MS = 300.0
BASELINE_RUNS = 10
BIG_APP, SMALL_APP = "p9-big", "p9-small"
RARE = 200  # the oldest runs: queued (in a class no worker serves), of instance "rare", version "v-rare"
PAUSE_S = 0.002


@dataclass
class Case:
    """One list request: a path, its query, and (for the plan) the filter the server applies."""

    name: str
    path: str
    params: dict[str, str]
    baseline: bool = False


def cases(old: str) -> list[Case]:
    """Every request measured; ``old`` is a time among the oldest runs of the big app."""
    big = f"/v1/applications/{BIG_APP}/runs"
    return [
        Case("baseline: 10-run app, first page", f"/v1/applications/{SMALL_APP}/runs", {}, baseline=True),
        Case("first page", big, {}),
        Case("second page (token)", big, {"pagetoken": "SECOND"}),
        Case("status=failed", big, {"status": "failed"}),
        Case("status=queued,running (rare)", big, {"status": "queued,running"}),
        Case("instance_id=rare", big, {"instance_id": "rare"}),
        Case("instance_id=main (most runs)", big, {"instance_id": "main"}),
        Case("version_id=v-rare", big, {"version_id": "v-rare"}),
        Case("created_before (oldest runs)", big, {"created_before": old}),
        Case("created_after (last hour)", big, {"created_after": "HOUR"}),
        Case("instance_id=main&status=canceled", big, {"instance_id": "main", "status": "canceled"}),
        Case("account-wide GET /v1/runs", "/v1/runs", {}),
        Case("account-wide status=queued", "/v1/runs", {"status": "queued"}),
    ]


@dataclass
class Backend:
    name: str
    url: str
    base: Path
    key: str = field(default_factory=lambda: "bench-" + uuid.uuid4().hex)
    server: Server | None = None
    session: requests.Session | None = None
    db: Any = None

    def get(self, path: str, params: dict[str, str]) -> tuple[float, float, dict[str, Any]]:
        """(server seconds from Server-Timing, client seconds, body) of one list request."""
        assert self.server is not None and self.session is not None
        started = time.perf_counter()
        response = self.session.get(self.server.url + path, params={**params, "pagereturn": "true"}, timeout=60)
        took = time.perf_counter() - started
        if response.status_code != 200:
            raise SetupError(f"{self.name}: GET {path} {params}: {response.status_code} {response.text[:300]}")
        timing = response.headers.get("server-timing", "")
        if not timing.startswith("app;dur="):
            raise SetupError(f"{self.name}: no Server-Timing header on GET {path}")
        return float(timing.split("=", 1)[1]) / 1000, took, response.json()


def _seed(backend: Backend, app_dir: Path, n: int) -> dict[str, Any]:
    server = backend.server
    assert server is not None
    _, small_instance = deploy(server, app_dir, SMALL_APP)
    _, big_instance = deploy(server, app_dir, BIG_APP)
    for app, instance, count in ((SMALL_APP, small_instance, BASELINE_RUNS), (BIG_APP, big_instance, 1)):
        for _ in range(count):
            run_id = server.call("POST", f"/v1/applications/{app}/runs", backend.session, params={"instance_id": instance},
                                 json={"input": TRIVIAL_INPUT})["run_id"]
            status = server.call("GET", f"/v1/applications/{app}/runs/{run_id}/metadata", backend.session,
                                 params={"wait": "30"})["metadata"]["status_v2"]
            if status != "succeeded":
                raise SetupError(f"run {run_id} ended {status}: the stub executor did not complete it")
    table = Run.__table__
    with backend.db.engine.connect() as conn:
        template = dict(conn.execute(select(table).where(table.c.app_id == BIG_APP)).mappings().one())
    newest = template["created_at"] - timedelta(seconds=1)
    outcome = ("succeeded",) * 8 + ("failed", "canceled")
    instances = ("main", "main", "canary")

    def rows() -> Any:
        for i in range(n):
            rare = i >= n - RARE
            run_id = f"run-bulk{i:09d}"
            yield {"id": run_id, "created_at": newest - timedelta(seconds=i),
                   "status": "queued" if rare else outcome[i % 10],
                   "instance_id": "rare" if rare else instances[i % 3],
                   "version_id": "v-rare" if rare else template["version_id"],
                   # (queued in a class no worker serves: the dispatcher leaves them queued)
                   "execution_class": "parked" if rare else template["execution_class"],
                   "input_key": input_key(run_id), "idempotency_key": None}

    constant = {k: v for k, v in template.items() if k not in ("id", "created_at", "status", "instance_id", "version_id",
                                                                "execution_class", "input_key", "idempotency_key")}
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int) -> None:
        if time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            print(f"   {backend.name}: {done:,} / {n:,} runs inserted", flush=True)

    inserted = insert_rows(backend.db.engine, table, constant, rows(), progress=progress)
    seconds = time.perf_counter() - started
    with backend.db.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(table).where(table.c.app_id == BIG_APP)).scalar_one()
    if total != n + 1:
        raise SetupError(f"{backend.name}: the big app holds {total} runs, not {n + 1}")
    return {"rows": inserted, "seconds": round(seconds, 1), "rows_per_s": round(inserted / seconds),
            "runs_of_the_app": total, "oldest_rare": (newest - timedelta(seconds=n - RARE)).isoformat()}


def _plan(db: Any, case: Case, token: str | None) -> list[str]:
    """The plan of the statement the server's listing code builds for ``case`` (captured, then explained)."""
    from runyard.services.runs import listing

    f = listing.RunFilter.parse(**{k: v for k, v in case.params.items() if k != "pagetoken"})
    with db.session() as s:
        account = s.scalar(select(Application.account_id).where(Application.id == BIG_APP))
        app_pk = s.scalar(select(Application.pk).where(Application.id == (SMALL_APP if case.baseline else BIG_APP)))
    account_wide = case.path == "/v1/runs"
    statement, params = listing.page_statement(f, account if account_wide else app_pk, account_wide=account_wide,
                                               token=token, limit=50)
    rows = explain_sent(db, statement, params)
    return [str(row[-1]) for row in rows]  # SQLite's detail column; PostgreSQL's one line per row


def _measure(backend: Backend, all_cases: list[Case], rounds: int, warmup: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    order = list(all_cases)
    server: dict[str, list[float]] = {c.name: [] for c in all_cases}
    client: dict[str, list[float]] = {c.name: [] for c in all_cases}
    sizes: dict[str, int] = {}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(warmup + rounds):
            rng.shuffle(order)
            for case in order:
                s, c, body = backend.get(case.path, case.params)
                sizes[case.name] = len(body["runs"])
                if r >= warmup:
                    server[case.name].append(s)
                    client[case.name].append(c)
                time.sleep(PAUSE_S)
            if r % 50 == 49:
                gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: {"server": summary_ms(server[name]), "client": summary_ms(client[name]), "runs_on_page": sizes[name]}
            for name in server}


def _backend(name: str, url: str, work: Path, n: int, rounds: int, warmup: int) -> dict[str, Any]:
    app_dir = write_trivial_app(work / "app")
    backend = Backend(name, url, work / f"server-{name}")
    try:
        backend.db = create_database(url, pool_size=2)
        backend.server = Server(backend.base, executor="stub", database_url=url, key=backend.key).start()
        backend.session = backend.server.session()
        seeded = _seed(backend, app_dir, n)
        settle_database(backend.db)
        hour = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        all_cases = cases(seeded["oldest_rare"])
        for case in all_cases:
            case.params = {k: hour if v == "HOUR" else v for k, v in case.params.items()}
        first = backend.get(f"/v1/applications/{BIG_APP}/runs", {})[2]
        second = next(c for c in all_cases if c.params.get("pagetoken") == "SECOND")
        second.params = {"pagetoken": first["next_page_token"]}
        for case in all_cases:  # every case answers with runs (a filter matching nothing measures nothing)
            if not backend.get(case.path, case.params)[2]["runs"]:
                raise SetupError(f"{name}: {case.name} answered no runs")
        plans = {c.name: _plan(backend.db, c, c.params.get("pagetoken")) for c in all_cases}
        started = time.monotonic()
        measured = _measure(backend, all_cases, rounds, warmup, seed=sum(map(ord, name)))
        seconds = time.monotonic() - started
    finally:
        if backend.server is not None:
            backend.server.stop()
        if backend.session is not None:
            backend.session.close()
        if backend.db is not None:
            backend.db.dispose()
    base = measured[all_cases[0].name]["server"]
    worst = max(m["server"]["p99_ms"] for c, m in measured.items() if c != all_cases[0].name)
    return {"backend": name, "bulk_insert": seeded, "cases": measured, "plans": plans, "baseline_case": all_cases[0].name,
            "baseline_server_p50_ms": base["p50_ms"], "worst_server_p99_ms": worst, "measure_seconds": round(seconds, 1),
            "met": worst < GOAL_SERVER_P99_MS}




def run(work: Path, quick: bool) -> dict[str, Any]:
    n = 100_000 if quick else 1_000_000
    rounds, warmup = (30, 5) if quick else (200, 20)
    rows = [_backend("sqlite", f"sqlite:///{work / 'sqlite' / 'runyard.db'}", work / "sqlite", n, rounds, warmup)]
    pg_row, skipped = postgres_half("P9", quick, lambda cluster: _backend(
        "postgresql", cluster.create_database("bench_p9"), work / "postgresql", n, rounds, warmup))
    rows += [pg_row] if pg_row else []
    return {
        "id": "P9",
        "runs_inserted": n,
        "rounds": rounds,
        "warmup_rounds": warmup,
        "by_backend": rows,
        "skipped": skipped,
        "baseline_is": (f"the first page of an app with {BASELINE_RUNS} runs on the same server, in the same rounds "
                        f"(every round sends every case once, shuffled; {warmup} warm-up + {rounds} rounds)"),
        "goal": {"server_p99_below_ms": GOAL_SERVER_P99_MS, "statistic": "Server-Timing app;dur, p99, worst case",
                 "met": all(r["met"] for r in rows) and skipped is None},
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
