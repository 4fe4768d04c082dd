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
