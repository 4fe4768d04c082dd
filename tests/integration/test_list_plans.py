"""Listing runs reads the (app_pk, created_at, id) index in order, whatever the table's size: the
database returns the page's rows without sorting the application's runs (a join to ``applications``
once made PostgreSQL sort every run of the app: 585 ms a page at a million runs). Claiming queued runs
reads the queue index and updates by primary key."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, insert, select, text

from runyard.storage.db import Run

from .conftest import Api

MANY = 20_000


def _fill(engine: Any, app_id: str) -> None:
    """``MANY`` copies of the app's one tracked run, older than it, inserted in one executemany."""
    table = Run.__table__
    with engine.begin() as conn:
        template = dict(conn.execute(select(table).where(table.c.app_id == app_id)).mappings().one())
        rows = [{**template, "id": f"run-bulk{i:08d}", "created_at": template["created_at"] - timedelta(seconds=i + 1),
                 "idempotency_key": None} for i in range(MANY)]
        conn.execute(insert(table), rows)
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE runs"))


def _page_statements(engine: Any, api: Api, path: str) -> list[tuple[str, Any]]:
    """The SELECTs on ``runs`` that answering ``GET path`` executed."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM runs" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        answer = api.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["runs"]) == 50
    return seen


def _plan(engine: Any, statement: str, parameters: Any) -> str:
    with engine.connect() as conn:
        cursor = conn.connection.cursor()
        if engine.dialect.name == "postgresql":
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            return json.dumps(cursor.fetchone()[0])
        cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def test_a_page_of_runs_is_an_ordered_index_read(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    api.new_app("many", push=False)
    first = api.post("/v1/applications/many/runs", json={"input": {}, "result": {"status": "succeeded"}}).json()["run_id"]
    engine = client.app.state.platform.db.engine
    _fill(engine, "many")
    page = api.get("/v1/applications/many/runs?pagereturn=true").json()
    assert page["runs"][0]["id"] == first and page["next_page_token"]
    for path in ("/v1/applications/many/runs?pagereturn=true",
                 f"/v1/applications/many/runs?pagereturn=true&pagetoken={page['next_page_token']}"):
        statements = _page_statements(engine, api, path)
        assert statements, "the page was read from the runs table"
        for statement, parameters in statements:
            plan = _plan(engine, statement, parameters)
            assert "ix_runs_app_created" in plan, plan
            assert '"Sort"' not in plan and "TEMP B-TREE" not in plan, f"the page sorted the app's runs:\n{plan}"


def test_claiming_queued_runs_reads_them_by_key(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    """The dispatcher's claim (one UPDATE … RETURNING for the next runs of a class) finds the queued runs
    through the queue index and updates them by primary key: it never scans the class's whole queue
    (SQLite once read the outer condition through the queue index: every queued run, for every claim)."""
    from datetime import UTC, datetime

    from runyard.services.dispatch import _CLAIM

    api.new_app("queued", push=False)
    api.post("/v1/applications/queued/runs", json={"input": {}, "result": {"status": "succeeded"}})
    engine = client.app.state.platform.db.engine
    table = Run.__table__
    with engine.begin() as conn:  # a long queue in a class no worker serves, so nothing takes them meanwhile
        conn.execute(table.update().where(table.c.app_id == "queued").values(status="queued", execution_class="parked"))
    _fill(engine, "queued")
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    with engine.connect() as conn:
        event.listen(conn, "before_cursor_execute", record)
        with conn.begin() as transaction:
            claimed = conn.execute(_CLAIM, {"cls": "parked", "free": 2, "now": datetime.now(UTC), "owner": "w",
                                            "lease": datetime.now(UTC)}).all()
            claim = seen[-1]
            runs = sa.table("runs", sa.column("id"), sa.column("status"))
            statuses = set(conn.execute(sa.select(runs.c.status).where(runs.c.id.in_([r.id for r in claimed]))).scalars())
            transaction.rollback()
    assert len(claimed) == 2 and statuses == {"running"}
    plan = _plan(engine, *claim)
    if engine.dialect.name == "postgresql":
        assert '"Index Name": "pk_runs"' in plan and "Seq Scan" not in plan, plan
    else:
        assert "(id=?)" in plan and "ix_runs_queue (status=?)\n" not in plan + "\n", plan


LARGE = 200_000
RARE = 40  # runs with the rare status, instance and version: the oldest ones, so a scan in list order would read them last
PAGE = 50


def _fill_large(engine: Any, app_id: str) -> None:
    """``LARGE`` runs of the app (mostly succeeded, of instance ``main``, version ``v1``), the oldest
    ``RARE`` of them queued, of instance ``rare`` and version ``v-rare``."""
    from runyard.storage.db.bulk import insert_rows

    table = Run.__table__
    with engine.connect() as conn:
        template = dict(conn.execute(select(table).where(table.c.app_id == app_id)).mappings().one())
    start = template["created_at"]
    outcome = ("succeeded",) * 8 + ("failed", "canceled")
    rows = ({"id": f"run-large{i:08d}", "created_at": start - timedelta(seconds=i + 1),
             "status": "queued" if i >= LARGE - RARE else outcome[i % 10],
             "instance_id": "rare" if i >= LARGE - RARE else "main",
             "version_id": "v-rare" if i >= LARGE - RARE else "v1",
             # (queued in a class no worker serves, so the dispatcher leaves them queued)
             "execution_class": "parked" if i >= LARGE - RARE else template["execution_class"]} for i in range(LARGE))
    constant = {k: v for k, v in template.items()
                if k not in ("id", "created_at", "status", "instance_id", "version_id", "execution_class")}
    insert_rows(engine, table, {**constant, "idempotency_key": None}, rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE runs"))


def _analyzed(engine: Any, statement: str, parameters: Any) -> list[dict[str, Any]]:
    """The nodes of PostgreSQL's executed plan (EXPLAIN ANALYZE), flattened."""
    with engine.connect() as conn:
        cursor = conn.connection.cursor()
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        root = cursor.fetchone()[0][0]["Plan"]
    nodes, todo = [], [root]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo += node.get("Plans", [])
    return nodes


def _list_statement(engine: Any, api: Api, path: str, params: dict[str, str]) -> tuple[str, Any]:
    """The one SELECT of a runs page that answering ``GET path`` sent (not the background workers' reads)."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM runs" in statement and "created_at DESC" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        answer = api.get(path, params=params)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert answer.status_code == 200, answer.text
    assert answer.json()["runs"], (path, params)
    assert len(seen) == 1, seen
    return seen[0]


LARGE_CASES = [  # (path, query, the index SQLite must read)
    ("/v1/applications/large/runs", {}, "ix_runs_app_created"),
    ("/v1/applications/large/runs", {"created_before": "OLD"}, "ix_runs_app_created"),
    ("/v1/applications/large/runs", {"status": "queued"}, "ix_runs_app_status"),
    ("/v1/applications/large/runs", {"status": "queued,running"}, "ix_runs_app_status"),
    ("/v1/applications/large/runs", {"instance_id": "rare"}, "ix_runs_app_instance"),
    ("/v1/applications/large/runs", {"version_id": "v-rare"}, "ix_runs_app_version"),
    ("/v1/applications/large/runs", {"instance_id": "rare", "status": "queued"}, "ix_runs_app_instance"),
    ("/v1/runs", {}, "ix_runs_account_status"),
    ("/v1/runs", {"status": "queued"}, "ix_runs_account_status"),
    ("/v1/runs", {"application_id": "large", "status": "queued"}, "ix_runs_app_status"),
]


def test_every_filter_of_a_large_runs_list_reads_an_index_in_list_order(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    """With 200,000 runs, each filter's page is a few ordered index ranges (one per status where the index
    has the status first): SQLite reads the filter's own index, PostgreSQL's executed plan reads at most a
    page and one row from each range and never scans the table, whatever the filter matches (a filter
    on the oldest 40 runs included: a scan in list order would read the whole app to find them)."""
    api.new_app("large", push=False)
    api.post("/v1/applications/large/runs", json={"input": {}, "result": {"status": "succeeded"}})
    engine = client.app.state.platform.db.engine
    _fill_large(engine, "large")
    with engine.connect() as conn:
        newest = conn.execute(select(sa.func.max(Run.__table__.c.created_at)).where(Run.__table__.c.app_id == "large")).scalar_one()
    old = (newest - timedelta(seconds=LARGE - RARE)).isoformat()  # where the rare runs start
    for path, query, index in LARGE_CASES:
        query = {k: old if v == "OLD" else v for k, v in query.items()}
        statement, parameters = _list_statement(engine, api, path, {**query, "pagereturn": "true"})
        if engine.dialect.name == "postgresql":
            nodes = _analyzed(engine, statement, parameters)
            scans = [n for n in nodes if "Scan" in n["Node Type"]]
            assert scans and all(n["Node Type"] in ("Index Scan", "Index Only Scan", "Subquery Scan") for n in scans), nodes
            for n in scans:
                read = n["Actual Rows"] + n.get("Rows Removed by Filter", 0) + n.get("Rows Removed by Index Recheck", 0)
                assert read <= PAGE + 1, f"{path} {query}: {n['Node Type']} on {n.get('Index Name')} read {read} rows"
        else:
            plan = _plan(engine, statement, parameters)
            reads = [line for line in plan.splitlines() if line.startswith(("SEARCH runs", "SCAN runs"))]
            ranges = [line for line in reads if not line.endswith("(id=?)")]  # (the page's rows, read by key)
            assert ranges and all(f"USING INDEX {index} " in line or f"USING COVERING INDEX {index} " in line
                                  for line in ranges), f"{path} {query}:\n{plan}"
