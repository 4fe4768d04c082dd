"""``Database.first`` (a ``PointRead``) gives the row Core gives, value for value, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, func, select

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


def test_point_reads_survive_connections_the_server_dropped(database_url: str) -> None:
    """The pool of point reads pings nothing before use: a connection PostgreSQL ended is found out on
    its first use and the read goes through on a fresh one."""
    db = create_database(database_url)
    db.migrate()
    with db.session() as s:
        s.add(Account(id="acct", name="acct"))
        s.flush()
        app = Application(account_id="acct", id="app", name="app")
        s.add(app)
        s.flush()
        s.add(Run(id="run-1", app_pk=app.pk, account_id="acct", app_id="app", status="queued"))
    params = {"run_id": "run-1", "account_id": "acct"}
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
