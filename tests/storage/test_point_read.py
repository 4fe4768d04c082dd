"""``Database.first`` (a ``PointRead``) gives the row Core gives, value for value, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, func, select, update

from runyard.storage.db import Account, Application, Run, create_database

RUN = select(Run.__table__).where(Run.id == bindparam("run_id"), Run.account_id == bindparam("account_id"))
APP_COUNT = select(Application.id, Application.locked).where(Application.account_id == bindparam("account_id"))
BY_STATUS = select(Run.status, func.count()).where(Run.account_id == bindparam("account_id")).group_by(Run.status)


def test_a_point_read_decodes_every_column_as_core_does(database_url: str) -> None:
    db = create_database(database_url)
    db.migrate()
    with db.session() as s:
        s.add(Account(id="acct", name="acct"))
        s.flush()
        app = Application(account_id="acct", id="app", name="app", locked=True)
        s.add(app)
        s.flush()
        s.add(Run(id="run-2", app_pk=app.pk, account_id="acct", app_id="app", status="queued"))
        s.add(Run(
            id="run-1", app_pk=app.pk, account_id="acct", app_id="app", status="succeeded", has_output=True,
            options={"request": {"duration": "3s"}, "summary": [{"name": "duration", "value": "3s"}]},
            configuration={"queuing": {"priority": 2}}, statistics={"result": {"value": 3.5, "custom": {"é": [1, 2]}}},
            metrics={"m": 1}, error_log=None, priority=2, queuing_disabled=True, input_size=2**40, duration_ms=12.5,
            created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), started_at=None,
            finished_at=datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC), repetition=None,
        ))
    params = {"run_id": "run-1", "account_id": "acct"}
    with db.engine.connect() as conn:
        expected = conn.execute(RUN, params).first()
    assert expected is not None
    for _ in range(2):  # the first call learns the processors, the second uses them
        row = db.first(RUN, params)
        assert row._asdict() == expected._asdict()
        assert [type(v) for v in row] == [type(v) for v in expected]
    assert row.created_at.tzinfo is UTC and row.options["summary"][0]["value"] == "3s"
    assert row.has_output is True and row.queuing_disabled is True and row.statistics["result"]["custom"] == {"é": [1, 2]}
    assert db.first(RUN, {"run_id": "run-3", "account_id": "acct"}) is None
    assert db.first(RUN, {"run_id": "run-1", "account_id": "other"}) is None  # every parameter is bound
    assert tuple(db.first(APP_COUNT, {"account_id": "acct"})) == ("app", True)  # a second statement, its own row type
    assert sorted(tuple(r) for r in db.all(BY_STATUS, {"account_id": "acct"})) == [("queued", 1), ("succeeded", 1)]
    assert db.all(BY_STATUS, {"account_id": "other"}) == []
    db.dispose()


def _one_queued_run(db: Any) -> dict[str, str]:
    """The database migrated with an account, an application and a queued run; the run's read parameters."""
    db.migrate()
    with db.session() as s:
        s.add(Account(id="acct", name="acct"))
        s.flush()
        app = Application(account_id="acct", id="app", name="app")
        s.add(app)
        s.flush()
        s.add(Run(id="run-1", app_pk=app.pk, account_id="acct", app_id="app", status="queued"))
    return {"run_id": "run-1", "account_id": "acct"}


def test_point_reads_survive_connections_the_server_dropped(database_url: str) -> None:
    """The pool of point reads pings nothing before use: a connection PostgreSQL ended is found out on
    its first use and the read goes through on a fresh one."""
    db = create_database(database_url)
    params = _one_queued_run(db)
    assert db.first(RUN, params).status == "queued"
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:  # every other session of this database ends, the pooled reads' too
            ended = conn.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()").scalar()
        assert ended >= 1
    for _ in range(3):
        assert db.first(RUN, params).status == "queued"
    db.dispose()


@pytest.fixture(params=["asyncpg", "psycopg"])
def loop_driver_name(request: pytest.FixtureRequest) -> str:
    """The driver of PostgreSQL's reads on the event loop (SQLite reads inline, whichever is named)."""
    return str(request.param)


def _seed_experiment(db) -> None:  # type: ignore[no-untyped-def]
    from runyard.storage.db import Experiment

    with db.session() as s:
        app = s.query(Application).filter_by(account_id="acct", id="app").one()
        s.add(Experiment(id="exp", app_pk=app.pk, name="exp", type="batch", status="started", instance_ids=["a", "b"],
                         option_sets={"a": {"duration": "1s"}}, summaries=[{"x": 1.5, "é": None}],
                         created_at=datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
                         updated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)))
        for i, status in enumerate(["queued", "succeeded", "succeeded", "failed"]):
            s.add(Run(id=f"exp-run-{i}", app_pk=app.pk, account_id="acct", app_id="app", status=status,
                      experiment_id="exp"))


def test_reads_on_the_event_loop_decode_as_the_pooled_reads_do(database_url: str, loop_driver_name: str) -> None:
    """``afirst``/``aall`` (asyncpg or psycopg connections on the event loop, on PostgreSQL) give the rows
    ``first``/``all`` give, for the statements the poll paths read; the connections close with ``aclose``."""
    import asyncio

    from runyard.services import experiments
    from runyard.services.runs import reads

    db = create_database(database_url, loop_driver_name=loop_driver_name)
    db.migrate()
    with db.session() as s:
        s.add(Account(id="acct", name="acct"))
        s.flush()
        app = Application(account_id="acct", id="app", name="app", locked=True)
        s.add(app)
        s.flush()
        s.add(Run(
            id="run-1", app_pk=app.pk, account_id="acct", app_id="app", status="succeeded", has_output=True,
            options={"request": {"duration": "3s"}}, statistics={"result": {"value": 3.5, "custom": {"é": [1, 2]}}},
            priority=2, queuing_disabled=True, input_size=2**40, duration_ms=12.5,
            created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), finished_at=datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC),
        ))
    _seed_experiment(db)
    app_pk = db.first(experiments._APP_PK, {"account_id": "acct", "app_id": "app"}).pk
    firsts = [
        (RUN, {"run_id": "run-1", "account_id": "acct"}),
        (reads._RUN_OF_APP, {"account_id": "acct", "app_id": "app", "run_id": "run-1"}),
        (reads._RUN_OF_APP, {"account_id": "acct", "app_id": "app", "run_id": "nope"}),
        (experiments._APP_PK, {"account_id": "acct", "app_id": "app"}),
        (experiments._EXPERIMENT, {"app_pk": app_pk, "exp_id": "exp"}),
        (APP_COUNT, {"account_id": "acct"}),
    ]
    alls = [(experiments._COUNTS, {"app_pk": app_pk, "exp_id": "exp"}), (BY_STATUS, {"account_id": "acct"}),
            (BY_STATUS, {"account_id": "other"})]

    async def on_loop() -> tuple[list[Any], list[Any]]:
        got_first = [await db.afirst(statement, params) for statement, params in firsts]
        got_all = [await db.aall(statement, params) for statement, params in alls]
        await db.aclose()
        return got_first, got_all

    for loop_first in (True, False):  # fresh PointReads learn their result processors on one side or the other
        db._prepared.clear()
        if loop_first:
            got_first, got_all = asyncio.run(on_loop())
        expected_first = [db.first(statement, params) for statement, params in firsts]
        expected_all = [db.all(statement, params) for statement, params in alls]
        if not loop_first:
            got_first, got_all = asyncio.run(on_loop())
        assert [None if r is None else r._asdict() for r in got_first] == [None if r is None else r._asdict() for r in expected_first]
        assert [[type(v) for v in r] for r in got_first if r] == [[type(v) for v in r] for r in expected_first if r]
        assert [sorted(map(tuple, rows)) for rows in got_all] == [sorted(map(tuple, rows)) for rows in expected_all]
    run = got_first[1]
    assert run.created_at == datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC) and run.created_at.tzinfo is UTC
    assert run.statistics["result"]["custom"] == {"é": [1, 2]} and run.input_size == 2**40 and run.queuing_disabled is True
    assert got_first[4].option_sets == {"a": {"duration": "1s"}} and got_first[4].summaries == [{"x": 1.5, "é": None}]
    assert got_first[4].status == "started" and sorted(map(tuple, got_all[0])) == [("failed", 1), ("queued", 1), ("succeeded", 2)]
    assert db.reads_on_loop is (db.dialect == "postgresql")
    db.dispose()


def test_reads_on_the_event_loop_survive_connections_the_server_dropped(database_url: str, loop_driver_name: str) -> None:
    """Every connection of the loop's reads ended by PostgreSQL: the next read goes through on a new one."""
    import asyncio

    db = create_database(database_url, loop_readers=2, loop_driver_name=loop_driver_name)
    params = _one_queued_run(db)

    async def reads() -> list[str]:
        # Both connections open: reads that differ (equal ones would share one query).
        others = [{**params, "run_id": f"run-{i}"} for i in range(2, 5)]
        first, *missing = await asyncio.gather(db.afirst(RUN, params), *(db.afirst(RUN, p) for p in others))
        assert missing == [None] * 3
        found = [first.status]
        if db.dialect == "postgresql":
            with db.engine.connect() as conn:
                ended = conn.exec_driver_sql(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()").scalar()
            assert ended >= 2
        for _ in range(3):
            found.append((await db.afirst(RUN, params)).status)
        await db.aclose()
        return found

    assert asyncio.run(reads()) == ["queued"] * 4
    db.dispose()


class _Gated:
    """The database's own driver of reads on the event loop, counting the queries it is given and holding
    each answer at a gate until the test opens it."""

    def __init__(self, driver: Any) -> None:
        import asyncio

        self._driver = driver
        self.dialect, self.errors = driver.dialect, driver.errors
        self.queries = 0
        self.held = asyncio.Event()
        self.gate = asyncio.Event()

    async def connect(self) -> Any:
        return await self._driver.connect()

    async def fetch(self, conn: Any, sql: str, bound: Any, *, one: bool, describe: bool) -> Any:
        self.queries += 1
        found = await self._driver.fetch(conn, sql, bound, one=one, describe=describe)
        self.held.set()  # answered by the database, not yet handed back
        await self.gate.wait()
        return found

    async def close(self, conn: Any) -> None:
        await self._driver.close(conn)


def test_equal_reads_waiting_at_once_share_one_query_that_sees_every_earlier_write(database_url: str, loop_driver_name: str) -> None:
    """Pollers of one run: a read asked for while an equal one waits for a connection joins it (one
    query, one row for all); one asked for after a write committed always sees it, even while an equal read
    sent before the write is still on its way."""
    import asyncio

    from runyard.storage.db import Run

    db = create_database(database_url, loop_readers=1, loop_driver_name=loop_driver_name)
    params = _one_queued_run(db)

    def write(status: str) -> None:
        with db.session() as s:
            s.execute(update(Run).where(Run.id == "run-1").values(status=status))

    async def polls() -> tuple[Any, list[Any], int]:
        gated = None
        if db.reads_on_loop:
            gated = db.loop_driver = _Gated(db.loop_driver)
        first = asyncio.create_task(db.afirst(RUN, params))
        if gated is not None:
            await gated.held.wait()  # the first read is answered (and holds the one connection)
        else:
            await first  # (SQLite reads inline)
        write("running")  # committed after the first read was answered, before the others are asked for
        later = [asyncio.create_task(db.afirst(RUN, params)) for _ in range(8)]
        other = asyncio.create_task(db.afirst(RUN, {**params, "run_id": "run-2"}))  # a different read: its own query
        if gated is not None:
            gated.gate.set()
        rows = await asyncio.gather(*later)
        assert await other is None
        await first
        queries = gated.queries if gated is not None else 0
        await db.aclose()
        return first.result(), rows, queries

    first, rows, queries = asyncio.run(polls())
    assert [r.status for r in rows] == ["running"] * 8  # never the status from before the write
    if db.dialect == "postgresql":
        assert first.status == "queued"  # (read before the write: later readers must not join it)
        assert queries == 3  # the first read, the eight equal ones together, the other run's
        assert all(r is rows[0] for r in rows)
    db.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # reads on the event loop: PostgreSQL's
def test_reads_of_different_runs_waiting_at_once_share_one_query(database_url: str, loop_driver_name: str) -> None:
    """Pollers of many runs of one application: reads of different runs asked for while one waits for a
    connection go as one query (``= ANY``), each reader getting its own run's row, as it is after every
    write committed before it asked; a run that does not exist reads None, and a read with other
    parameters (another application) goes on its own."""
    import asyncio

    from runyard.services.runs.reads import _RUNS_OF_APP

    db = create_database(database_url, loop_readers=1, loop_driver_name=loop_driver_name)
    _one_queued_run(db)
    with db.session() as s:
        app = s.query(Application).filter_by(account_id="acct", id="app").one()
        s.add(Application(account_id="acct", id="other", name="other"))
        for i in range(2, 6):
            s.add(Run(id=f"run-{i}", app_pk=app.pk, account_id="acct", app_id="app", status="queued"))

    def params(run_id: str, app_id: str = "app") -> dict[str, str]:
        return {"account_id": "acct", "app_id": app_id, "run_ids": run_id}

    def read(run_id: str, app_id: str = "app") -> Any:
        return asyncio.create_task(db.afirst_keyed(_RUNS_OF_APP, params(run_id, app_id), key="run_ids", column="id"))

    async def polls() -> tuple[Any, list[Any], Any, Any, int]:
        gated = db.loop_driver = _Gated(db.loop_driver)
        first = read("run-1")
        await gated.held.wait()  # answered, and holding the one connection
        with db.session() as s:  # committed after the first read was answered, before the others ask
            s.execute(update(Run).where(Run.id.in_(["run-1", "run-3"])).values(status="running"))
        wanted = ["run-1", "run-2", "run-3", "run-4", "run-5", "run-3", "run-1"]
        later = [read(run_id) for run_id in wanted]
        missing, elsewhere = read("run-404"), read("run-2", "other")
        gated.gate.set()
        rows = await asyncio.gather(*later)
        await db.aclose()
        return (await first), rows, await missing, await elsewhere, gated.queries

    first, rows, missing, elsewhere, queries = asyncio.run(polls())
    assert first.id == "run-1" and first.status == "queued"  # read before the write
    assert [(r.id, r.status) for r in rows] == [("run-1", "running"), ("run-2", "queued"), ("run-3", "running"),
                                                ("run-4", "queued"), ("run-5", "queued"), ("run-3", "running"),
                                                ("run-1", "running")]
    assert rows[0] is rows[6] and rows[2] is rows[5]
    assert missing is None and elsewhere is None  # run-2 is not the other application's
    assert queries == 3  # the first read; the seven (and the missing one) together; the other application's
    db.dispose()
