"""P5: list-runs pages and run submission with a million runs in the database (SQLite and PostgreSQL).

Per backend, two databases of the same kind and two ``runyard serve`` processes with the same settings
(stub executor: a submitted run is completed at once, without a process):

1. Setup: each server starts on its fresh, migrated database, a trivial app is pushed and
   ``SEED_RUNS`` runs are submitted (and completed by the stub). Then, with both servers idle, the
   *loaded* database gets N more runs, bulk-inserted with SQLAlchemy Core ``insert()`` in batches
   (executemany): copies of a real finished run of the same app with fresh ids and older
   ``created_at`` values. The *empty* database keeps only its seeded runs.
2. Both databases are brought to a steady state the same way, as an installation that has been up
   for a while would have them: PostgreSQL gets ``VACUUM (ANALYZE)`` and a ``CHECKPOINT`` (so
   autovacuum does not scan the freshly loaded table while we measure), SQLite a
   ``wal_checkpoint(TRUNCATE)`` (and, as Runyard leaves it, no ``sqlite_stat1``).
3. Both servers are measured **at the same time, interleaved**: every round sends the same six
   requests (first page, deep page and ``POST …/runs``, to each server) in a freshly shuffled order,
   one at a time. Drift of a shared machine (other processes, CPU frequency, page cache) therefore
   lands on both sides alike instead of showing up as a ratio. The first rounds are a warm-up and
   are dropped. Each ``POST`` is followed (untimed) by a long-poll on that run until the stub has
   finished it, so no queue builds up and every timed request meets an idle server: a submission
   costs one insert (and the stub's completion, untimed) on each side alike.

Statistics: p50/p95/p99 per side and request, the ratio loaded/empty of each, the median of the
per-round ratios (paired in time) and a paired bootstrap 95% interval of the p50 ratio. The goals are
judged on: the loaded side's page p99 (the worse of first and deep page) < 20 ms, and the submission
ratio of p50s (loaded p50 / empty p50, from the interleaved samples) ≤ 1.2.

The query plans of the first and the deep page on the loaded database are recorded with the figures
(``EXPLAIN QUERY PLAN`` / ``EXPLAIN (ANALYZE, BUFFERS)``).
"""

from __future__ import annotations

import gc
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, insert, select

from bench.common import (
    TRIVIAL_INPUT,
    Server,
    SetupError,
    deploy,
    explain_sent,
    percentile,
    postgres_half,
    settle_database,
    summary_ms,
    write_trivial_app,
)
from runyard.services.blob_keys import input_key
from runyard.storage.db import Application, Run, create_database

GOAL_PAGE_P99_MS = 20.0
GOAL_SUBMIT_RATIO = 1.2
BATCH = 10_000
APP_ID = "p5-app"
SEED_RUNS = 60  # real submissions per side before measuring: enough for a deep page on the empty side
OPS = ("first_page", "deep_page", "submit")
PAUSE_S = 0.002  # untimed gap after each request, so a response's tail work never overlaps the next request
BOOTSTRAP = 400


@dataclass
class Side:
    """One server and its database: ``empty`` (only the seeded runs) or ``loaded`` (plus N bulk runs)."""

    name: str
    url: str
    base: Path
    key: str = field(default_factory=lambda: "bench-" + uuid.uuid4().hex)
    db: Any = None
    server: Server | None = None
    session: requests.Session | None = None
    instance: str = ""
    app_pk: int = 0
    deep_token: str = ""

    @property
    def runs_url(self) -> str:
        assert self.server is not None
        return f"{self.server.url}/v1/applications/{APP_ID}/runs"

    def start(self) -> None:
        self.server = Server(self.base, executor="stub", database_url=self.url, key=self.key).start()
        self.session = self.server.session()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.session is not None:
            self.session.close()
        self.server = self.session = None

    def runs_in_db(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(Run).where(Run.app_pk == self.app_pk)))

    # ---- the three timed requests; each returns seconds

    def page(self, params: dict[str, str]) -> float:
        assert self.session is not None
        started = time.perf_counter()
        response = self.session.get(self.runs_url, params=params, timeout=60)
        took = time.perf_counter() - started
        if response.status_code != 200 or len(response.json()["runs"]) != 50:
            raise SetupError(f"{self.name}: GET runs {params}: {response.status_code} {response.text[:300]}")
        return took

    def submit(self) -> float:
        """One ``POST …/runs``, timed; then (untimed) wait until the stub has finished that run."""
        assert self.session is not None
        started = time.perf_counter()
        response = self.session.post(self.runs_url, params={"instance_id": self.instance}, json={"input": TRIVIAL_INPUT},
                                     timeout=60, headers={"Idempotency-Key": uuid.uuid4().hex})
        took = time.perf_counter() - started
        if response.status_code != 200 or "run_id" not in response.json():
            raise SetupError(f"{self.name}: POST runs: {response.status_code} {response.text[:300]}")
        self.wait_finished(response.json()["run_id"])
        return took

    def wait_finished(self, run_id: str) -> None:
        assert self.session is not None
        response = self.session.get(f"{self.runs_url}/{run_id}/metadata", params={"wait": "30"}, timeout=60)
        status = response.json().get("metadata", {}).get("status_v2") if response.status_code == 200 else None
        if status != "succeeded":
            raise SetupError(f"{self.name}: run {run_id} was not finished by the stub executor: "
                             f"{response.status_code} {response.text[:300]}")

    def do(self, op: str) -> float:
        if op == "first_page":
            return self.page({"pagereturn": "true"})
        if op == "deep_page":
            return self.page({"pagereturn": "true", "pagetoken": self.deep_token})
        return self.submit()


def _deep_token(db: Any, app_pk: int) -> str:
    """The page token a client would hold after paging half-way down the list (the server's own encoding),
    leaving at least one full page after it."""
    from runyard.services.pagination import _encode

    with db.session() as s:
        count = s.scalar(select(func.count()).select_from(Run).where(Run.app_pk == app_pk))
        offset = max(0, min(count // 2, count - 51))
        row = s.execute(
            select(Run.created_at, Run.id).where(Run.app_pk == app_pk)
            .order_by(Run.created_at.desc(), Run.id.desc()).offset(offset).limit(1)
        ).one()
    return _encode(row.created_at, row.id)


def _bulk_insert(db: Any, app_pk: int, n: int) -> dict[str, Any]:
    """``n`` copies of the app's oldest finished run, with fresh ids, created one second apart going back.

    The statement is SQLAlchemy Core's ``insert(runs)`` compiled for the dialect and sent with the
    driver's executemany in batches; values go through the columns' own bind processors (the same
    conversions an ORM insert makes), applied once for the constant columns and per row for the rest.
    """
    table = Run.__table__
    dialect = db.engine.dialect
    names = [c.name for c in table.columns]
    compiled = insert(table).compile(dialect=dialect, column_keys=names)
    processors = {c.name: c.type._cached_bind_processor(dialect) for c in table.columns}

    def bound(name: str, value: Any) -> Any:
        process = processors[name]
        return process(value) if process is not None else value

    with db.session() as s:
        template = s.execute(
            select(table).where(table.c.app_pk == app_pk, table.c.status == "succeeded")
            .order_by(table.c.created_at).limit(1)
        ).mappings().first()
        oldest = s.scalar(select(func.min(table.c.created_at)).where(table.c.app_pk == app_pk))
    if template is None or oldest is None:
        raise SetupError("no finished run to copy: the stub executor did not complete the seeded submissions")
    constant = {name: bound(name, template[name]) for name in names}
    constant["idempotency_key"] = None
    start = oldest - timedelta(seconds=1)
    statuses = [bound("status", x) for x in ("succeeded",) * 8 + ("failed", "canceled")]
    order = list(compiled.positiontup) if compiled.positional else None
    started = time.perf_counter()
    for offset in range(0, n, BATCH):
        batch = []
        for i in range(offset, min(n, offset + BATCH)):
            created = start - timedelta(seconds=i)
            run_id = f"run-bulk{i:09d}"
            row = {
                **constant,
                "id": run_id,
                "created_at": bound("created_at", created),
                "started_at": bound("started_at", created + timedelta(milliseconds=20)),
                "finished_at": bound("finished_at", created + timedelta(milliseconds=120)),
                "status": statuses[i % len(statuses)],
                "input_key": input_key(run_id),
                "statistics": bound("statistics", {"result": {"value": i}}),
            }
            batch.append(tuple(row[k] for k in order) if order is not None else row)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(str(compiled), batch)
    seconds = time.perf_counter() - started
    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(table).where(table.c.app_pk == app_pk))
        newest_bulk = s.get(Run, "run-bulk000000000")
        if total < n or newest_bulk is None or newest_bulk.created_at >= oldest:
            raise SetupError(f"the bulk insert did not leave {n} readable runs (found {total})")
    return {"rows": n, "seconds": round(seconds, 1), "rows_per_s": round(n / seconds), "runs_of_the_app": total}


def _plan(db: Any, app_pk: int, token: str | None) -> list[str]:
    """The query plan of a page: the exact statement and parameters the server's runs list sends, explained."""
    from runyard.services.runs import listing

    statement, params = listing.page_statement(listing.RunFilter(), app_pk, account_wide=False, token=token, limit=50)
    rows = explain_sent(db, statement, params)
    return [" | ".join(str(c) for c in row) for row in rows]


def _setup_side(side: Side, app_dir: Path) -> None:
    """Start the server, deploy the app and seed ``SEED_RUNS`` real (finished) runs; the server stays up."""
    side.start()
    assert side.server is not None
    _, side.instance = deploy(side.server, app_dir, APP_ID)
    with side.db.session() as s:
        side.app_pk = int(s.scalar(select(Application.pk).where(Application.id == APP_ID)))
    for _ in range(SEED_RUNS):
        side.submit()


def _interleaved(sides: list[Side], rounds: int, warmup: int, seed: int) -> dict[str, Any]:
    """``warmup + rounds`` rounds; each sends every (side, request) once, in a fresh random order."""
    rng = random.Random(seed)
    tasks = [(side, op) for side in sides for op in OPS]
    samples: list[dict[tuple[str, str], float]] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the client's own collections would land on whichever request happens to be in flight
    try:
        for r in range(warmup + rounds):
            rng.shuffle(tasks)
            this_round = {}
            for side, op in tasks:
                this_round[(side.name, op)] = side.do(op)
                time.sleep(PAUSE_S)
            if r >= warmup:
                samples.append(this_round)
            if r % 50 == 49:
                gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    return {"samples": samples}


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def _paired_bootstrap_p50(loaded: list[float], empty: list[float], rng: random.Random) -> list[float]:
    """95% interval of p50(loaded)/p50(empty), resampling whole rounds (the pairs stay together)."""
    n = len(loaded)
    ratios = []
    for _ in range(BOOTSTRAP):
        pick = [rng.randrange(n) for _ in range(n)]
        ratios.append(statistics.median([loaded[i] for i in pick]) / statistics.median([empty[i] for i in pick]))
    return [round(percentile(ratios, 2.5), 3), round(percentile(ratios, 97.5), 3)]


def _analyse(samples: list[dict[tuple[str, str], float]], seed: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    rng = random.Random(seed)
    empty, loaded, ratios = {}, {}, {}
    for op in OPS:
        e = [s[("empty", op)] for s in samples]
        lo = [s[("loaded", op)] for s in samples]
        empty[op], loaded[op] = summary_ms(e), summary_ms(lo)
        half = len(samples) // 2
        ratios[op] = {
            "p50": _ratio(loaded[op]["p50_ms"], empty[op]["p50_ms"]),
            "p95": _ratio(loaded[op]["p95_ms"], empty[op]["p95_ms"]),
            "p99": _ratio(loaded[op]["p99_ms"], empty[op]["p99_ms"]),
            "median_of_round_ratios": round(statistics.median(x / y for x, y in zip(lo, e, strict=True)), 3),
            "p50_ratio_95ci": _paired_bootstrap_p50(lo, e, rng),
            # the same p50 ratio over the first and the second half of the rounds: a drift check
            "p50_by_half": [round(statistics.median(lo[:half]) / statistics.median(e[:half]), 3),
                            round(statistics.median(lo[half:]) / statistics.median(e[half:]), 3)],
        }
    return empty, loaded, ratios


def _backend(name: str, urls: dict[str, str], work: Path, n: int, rounds: int, warmup: int) -> dict[str, Any]:
    app_dir = write_trivial_app(work / "app")
    sides = [Side(side, urls[side], work / f"server-{name}-{side}") for side in ("empty", "loaded")]
    empty_side, loaded_side = sides
    try:
        for side in sides:
            side.db = create_database(side.url, pool_size=2)
            _setup_side(side, app_dir)
        loaded = _bulk_insert(loaded_side.db, loaded_side.app_pk, n)  # the loaded side's server sits idle meanwhile
        for side in sides:
            settle_database(side.db)
            side.deep_token = _deep_token(side.db, side.app_pk)
        plans = {"first_page": _plan(loaded_side.db, loaded_side.app_pk, None),
                 "deep_page": _plan(loaded_side.db, loaded_side.app_pk, loaded_side.deep_token)}
        in_db_before = {side.name: side.runs_in_db() for side in sides}
        started = time.monotonic()
        measured = _interleaved(sides, rounds, warmup, seed=sum(map(ord, name)))
        seconds = time.monotonic() - started
        in_db_after = {side.name: side.runs_in_db() for side in sides}
    finally:
        for side in sides:
            side.stop()
            if side.db is not None:
                side.db.dispose()
    empty, full, ratios = _analyse(measured["samples"], seed=1)
    for stats, side in ((empty, empty_side), (full, loaded_side)):
        stats["runs_in_db"] = in_db_before[side.name]
        stats["runs_in_db_after"] = in_db_after[side.name]
    submit_ratio = ratios["submit"]["p50"]
    page_p99 = max(full["first_page"]["p99_ms"], full["deep_page"]["p99_ms"])
    return {
        "backend": name,
        "bulk_insert": loaded,
        "empty": empty,
        "loaded": full,
        "ratios": ratios,
        "rounds": rounds,
        "warmup_rounds": warmup,
        "measure_seconds": round(seconds, 1),
        "deep_page_plan": plans["deep_page"],
        "first_page_plan": plans["first_page"],
        "submit_p50_ratio": submit_ratio,
        "page_p99_ms": page_p99,
        "met": page_p99 < GOAL_PAGE_P99_MS and submit_ratio <= GOAL_SUBMIT_RATIO,
    }


def run(work: Path, quick: bool) -> dict[str, Any]:
    n = 100_000 if quick else 1_000_000
    rounds, warmup = (100, 10) if quick else (1000, 60)
    sqlite_urls = {side: f"sqlite:///{work / f'sqlite-{side}' / 'runyard.db'}" for side in ("empty", "loaded")}
    rows = [_backend("sqlite", sqlite_urls, work / "sqlite", n, rounds, warmup)]
    pg_row, skipped = postgres_half("P5", quick, lambda cluster: _backend(
        "postgresql", {side: cluster.create_database(f"bench_p5_{side}") for side in ("empty", "loaded")},
        work / "postgresql", n, rounds, warmup))
    rows += [pg_row] if pg_row else []
    return {
        "id": "P5",
        "runs_inserted": n,
        "requests_each": rounds,
        "by_backend": rows,
        "skipped": skipped,
        "baseline_is": (f"a second server with the same settings on a database of the same kind holding only its own runs "
                        f"({SEED_RUNS} seeded, growing by one per round), measured at the same time: "
                        f"{warmup} warm-up + {rounds} rounds, each sending first page, deep page and POST to both "
                        f"servers in a shuffled order; the POST ratio is loaded p50 / empty p50"),
        "goal": {"page_p99_below_ms": GOAL_PAGE_P99_MS, "submit_ratio_at_most": GOAL_SUBMIT_RATIO,
                 "submit_ratio_statistic": "p50(loaded) / p50(empty), interleaved samples",
                 "page_statistic": "p99 of the loaded side, worse of first and deep page",
                 "met": all(r["met"] for r in rows) and skipped is None},
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
