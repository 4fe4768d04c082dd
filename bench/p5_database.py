"""P5: list-runs pages and run submission with a million runs in the database (SQLite and PostgreSQL).

Per backend, on one database:

1. ``runyard serve`` (stub executor: submissions are measured without execution) on a fresh,
   migrated database; a trivial app is pushed. Baseline, with the database otherwise empty:
   ``POST …/runs`` latency, then ``GET …/runs?pagereturn=true`` for the first page and for a deep
   page (the page token of the row half-way down the list).
2. The server stops; N runs are bulk-inserted with SQLAlchemy Core ``insert()`` in batches
   (executemany), copies of a real finished run of the same app with fresh ids and older
   ``created_at`` values. PostgreSQL is ``ANALYZE``d (its autovacuum would do so shortly after such a
   load); SQLite is left as Runyard leaves it (no ``sqlite_stat1``).
3. The server starts again on that database and the same requests are measured.

The query plans of the deep page (``EXPLAIN`` / ``EXPLAIN QUERY PLAN``) are recorded with the figures.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import event, func, insert, select, text

from bench.common import TRIVIAL_INPUT, Server, SetupError, deploy, summary_ms, write_trivial_app
from runyard.storage.db import Application, Run, create_database

GOAL_PAGE_P99_MS = 20.0
GOAL_SUBMIT_RATIO = 1.2
BATCH = 10_000
APP_ID = "p5-app"


def _measure(server: Server, instance: str, requests_each: int, deep_token: Callable[[], str],
             settle: Callable[[], None]) -> dict[str, Any]:
    """Submissions first (in the baseline they are what fills the list), then the first and a deep page."""
    session = server.session()
    base = f"{server.url}/v1/applications/{APP_ID}/runs"
    submit = _submissions(session, base, instance, requests_each)
    settle()

    def timed_get(params: dict[str, str]) -> float:
        started = time.perf_counter()
        response = session.get(base, params=params, timeout=60)
        took = time.perf_counter() - started
        if response.status_code != 200 or len(response.json()["runs"]) != 50:
            raise SetupError(f"GET runs {params}: {response.status_code} {response.text[:300]}")
        return took

    pages = {}
    for name, params in (("first_page", {"pagereturn": "true"}),
                         ("deep_page", {"pagereturn": "true", "pagetoken": deep_token()})):
        for _ in range(10):  # warm-up: connections, caches, statement compilation
            timed_get(params)
        pages[name] = summary_ms([timed_get(params) for _ in range(requests_each)])
    return {**pages, "submit": summary_ms(submit)}


def _settle(db: Any, app_pk: int, timeout: float = 60) -> None:
    """Wait until the stub executor has finished every submitted run, so pages are timed on a quiet server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            busy = s.scalar(select(func.count()).select_from(Run)
                            .where(Run.app_pk == app_pk, Run.status.in_(("queued", "running"))))
        if not busy:
            return
        time.sleep(0.1)
    raise SetupError(f"{busy} submitted runs were still not finished by the stub executor after {timeout:.0f}s")


def _submissions(session: requests.Session, base: str, instance: str, count: int) -> list[float]:
    times = []
    for i in range(count + 10):
        started = time.perf_counter()
        response = session.post(base, params={"instance_id": instance}, json={"input": TRIVIAL_INPUT}, timeout=60,
                                headers={"Idempotency-Key": uuid.uuid4().hex})
        took = time.perf_counter() - started
        if response.status_code != 200 or "run_id" not in response.json():
            raise SetupError(f"POST runs: {response.status_code} {response.text[:300]}")
        if i >= 10:  # the first ten warm up
            times.append(took)
    return times


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
        raise SetupError("no finished run to copy: the stub executor did not complete the baseline submissions")
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
                "input_key": f"runs/{run_id}/input",
                "statistics": bound("statistics", {"result": {"value": i}}),
            }
            batch.append(tuple(row[k] for k in order) if order is not None else row)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(str(compiled), batch)
    seconds = time.perf_counter() - started
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE runs"))
    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(table).where(table.c.app_pk == app_pk))
        newest_bulk = s.get(Run, "run-bulk000000000")
        if total < n or newest_bulk is None or newest_bulk.created_at >= oldest:
            raise SetupError(f"the bulk insert did not leave {n} readable runs (found {total})")
    return {"rows": n, "seconds": round(seconds, 1), "rows_per_s": round(n / seconds), "runs_of_the_app": total}


def _plan(db: Any, app_pk: int, token: str) -> list[str]:
    """The query plan of the deep page: the exact statement and parameters paginate() sends, explained."""
    from runyard.services.pagination import paginate

    captured: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        with db.session() as s:
            paginate(s, select(Run).where(Run.app_pk == app_pk), created=Run.created_at, key=Run.id, token=token, limit=50)
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    statement, parameters = next((c for c in captured if "FROM runs" in c[0]), captured[-1])
    explain = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(explain + statement, parameters)
        rows = cursor.fetchall()
    finally:
        raw.close()
    return [" | ".join(str(c) for c in row) for row in rows]


def _backend(name: str, url: str, work: Path, n: int, requests_each: int) -> dict[str, Any]:

    app_dir = write_trivial_app(work / "app")
    base = work / f"server-{name}"
    db = create_database(url, pool_size=2)
    try:
        with Server(base, executor="stub", database_url=url) as server:
            _, instance = deploy(server, app_dir, APP_ID)
            with db.session() as s:
                app_pk = s.scalar(select(Application.pk).where(Application.id == APP_ID))
            empty = _measure(server, instance, requests_each, lambda: _deep_token(db, app_pk),
                             lambda: _settle(db, app_pk))
            key = server.key
        with db.session() as s:
            empty["runs_in_db"] = s.scalar(select(func.count()).select_from(Run).where(Run.app_pk == app_pk))
        loaded = _bulk_insert(db, app_pk, n)
        token = _deep_token(db, app_pk)
        plan = _plan(db, app_pk, token)
        with Server(base, executor="stub", database_url=url, key=key) as server:
            full = _measure(server, instance, requests_each, lambda: token, lambda: _settle(db, app_pk))
    finally:
        db.dispose()
    submit_ratio = round(full["submit"]["p50_ms"] / empty["submit"]["p50_ms"], 3)
    page_p99 = max(full["first_page"]["p99_ms"], full["deep_page"]["p99_ms"])
    return {
        "backend": name,
        "bulk_insert": loaded,
        "empty": empty,
        "loaded": full,
        "deep_page_plan": plan,
        "submit_p50_ratio": submit_ratio,
        "page_p99_ms": page_p99,
        "met": page_p99 < GOAL_PAGE_P99_MS and submit_ratio <= GOAL_SUBMIT_RATIO,
    }


class PostgresMissing(SetupError):
    """No PostgreSQL server binaries on this machine."""


PG_HINT = "PostgreSQL server binaries not found: `sudo apt-get install -y postgresql` (or set RUNYARD_PG_BINDIR)"


def run(work: Path, quick: bool) -> dict[str, Any]:
    from runyard.testing.postgres import _bindir, start_cluster

    n = 100_000 if quick else 1_000_000
    requests_each = 50 if quick else 200
    rows = [_backend("sqlite", f"sqlite:///{work / 'sqlite' / 'runyard.db'}", work / "sqlite", n, requests_each)]
    skipped = None
    bindir = _bindir()
    if bindir is None or not (bindir / "initdb").exists():
        if not quick:
            raise PostgresMissing(PG_HINT)
        skipped = f"SKIPPED the PostgreSQL half: {PG_HINT}"
        print(f"!! P5 {skipped}", file=sys.stderr, flush=True)
    else:
        try:
            cluster = start_cluster()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            raise SetupError(f"could not start PostgreSQL for P5: {exc}") from None
        try:
            url = cluster.create_database("bench_p5")
            rows.append(_backend("postgresql", url, work / "postgresql", n, requests_each))
        finally:
            cluster.stop()
    return {
        "id": "P5",
        "runs_inserted": n,
        "requests_each": requests_each,
        "by_backend": rows,
        "skipped": skipped,
        "baseline_is": "the same requests on the same database before the bulk insert (only the runs the baseline submitted)",
        "goal": {"page_p99_below_ms": GOAL_PAGE_P99_MS, "submit_ratio_at_most": GOAL_SUBMIT_RATIO,
                 "met": all(r["met"] for r in rows) and skipped is None},
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
