"""What the delivery worker has to fan out: only events a webhook could receive or an experiment waits
for. A status change nobody subscribed to is written as already fanned out, so the worker's round after
it writes nothing (on SQLite that write would take the lock the next submission asks for)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy import event as sa_event

from .conftest import create_webhook, start_batch_experiment, submit, wait_until


def _events(database_url: str, run_id: str) -> list[tuple[str, bool]]:
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT detail, fanned_out FROM events WHERE subject = :s AND type = 'run.status' "
                                     "ORDER BY id"), {"s": run_id}).all()
    finally:
        engine.dispose()
    return [(detail, bool(fanned)) for detail, fanned in rows]


def test_status_changes_nobody_subscribed_to_need_no_fan_out(start_server, database_url) -> None:  # type: ignore[no-untyped-def]
    api, client = start_server()
    client.app.state.runtime.webhooks.stop()  # no worker: what is fanned out was written so
    api.new_app("quiet")
    run_id = submit(api, "quiet")
    wait_until(lambda: len(_events(database_url, run_id)) == 3, what="the run's three status events")
    assert _events(database_url, run_id) == [("queued", True), ("running", True), ("succeeded", True)]


def test_a_webhook_gets_what_happens_after_its_creation(api, receiver, database_url) -> None:  # type: ignore[no-untyped-def]
    api.new_app("quiet")
    before = submit(api, "quiet")
    wait_until(lambda: len(_events(database_url, before)) == 3, what="the run's three status events")
    create_webhook(api, receiver.url)
    after = submit(api, "quiet")
    got = receiver.wait_for(3, timeout=60)
    assert [json.loads(request.body)["data"]["run_id"] for request in got] == [after] * 3
    assert [json.loads(request.body)["data"]["status_v2"] for request in got] == ["queued", "running", "succeeded"]
    # Subscribed: written pending, then fanned out by the worker (which is how they reached the receiver).
    wait_until(lambda: [f for _, f in _events(database_url, after)] == [True] * 3, what="the subscribed events fanned out")


def test_an_experiment_in_an_account_without_webhooks_still_completes(api, database_url) -> None:  # type: ignore[no-untyped-def]
    # Its runs' events are the ones the worker still fans out: that is where the experiment completes.
    api.new_app("exp")
    base = start_batch_experiment(api, "exp")
    wait_until(lambda: api.get(f"{base}/experiments/batch/b1").json().get("status") == "completed", timeout=60,
               what="the experiment completed")
    runs = api.get(f"{base}/experiments/batch/b1/runs").json()
    run_ids = [r["id"] for r in (runs.get("runs") or runs.get("items") or [])]
    assert run_ids
    # (Written pending, since an experiment waits on them; fanned out by the worker soon after.)
    wait_until(lambda: all(_events(database_url, run_id)[-1] == ("succeeded", True) for run_id in run_ids),
               what="the runs' last events fanned out")


def _experiment_status(database_url: str, exp_id: str) -> str | None:
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT status FROM experiments WHERE id = :e"), {"e": exp_id}).scalar()
    finally:
        engine.dispose()


def test_an_experiment_waits_only_for_its_runs_final_statuses(start_server, database_url) -> None:  # type: ignore[no-untyped-def]
    api, client = start_server()
    client.app.state.runtime.webhooks.stop()  # no worker: what is fanned out was written so
    api.new_app("exp")
    start_batch_experiment(api, "exp")
    wait_until(lambda: _run_ids_of(database_url, "b1") and all(
        len(_events(database_url, r)) == 3 for r in _run_ids_of(database_url, "b1")), what="every run's three status events")
    for run_id in _run_ids_of(database_url, "b1"):
        assert _events(database_url, run_id) == [("queued", True), ("running", True), ("succeeded", False)]
    assert _experiment_status(database_url, "b1") == "started"  # nobody read it, and no worker completed it


def test_the_worker_completes_an_experiment_with_no_reader(api, database_url) -> None:  # type: ignore[no-untyped-def]
    api.new_app("exp")
    start_batch_experiment(api, "exp", inputs=4)
    # (Read from the database, not the API: a reader of the experiment would complete it itself.)
    wait_until(lambda: _experiment_status(database_url, "b1") == "completed", timeout=60, what="the experiment completed")
    assert len(_run_ids_of(database_url, "b1")) == 4


def _run_ids_of(database_url: str, exp_id: str) -> list[str]:
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT id FROM runs WHERE experiment_id = :e"), {"e": exp_id}).scalars())
    finally:
        engine.dispose()


def test_runs_nobody_subscribed_to_cost_the_delivery_worker_nothing(start_server, database_url) -> None:  # type: ignore[no-untyped-def]
    # Its own poll (for events of other servers) far off: whatever it runs now, a run's changes woke it for.
    api, client = start_server(poll_seconds=3600, queue_wait_seconds=0)
    api.new_app("quiet")
    with _worker_statements(client) as by_worker:
        run_ids = [submit(api, "quiet") for _ in range(5)]
        wait_until(lambda: all(len(_events(database_url, r)) == 3 for r in run_ids), what="the runs' status events")
        time.sleep(0.3)  # (a worker woken by the last commit would be running its round by now)
    assert by_worker == []


def test_an_experiments_fan_out_looks_for_no_deliveries_where_it_made_none(start_server, database_url) -> None:  # type: ignore[no-untyped-def]
    api, client = start_server(poll_seconds=3600, queue_wait_seconds=0)
    api.new_app("exp")
    with _worker_statements(client) as by_worker:
        start_batch_experiment(api, "exp", inputs=4)
        wait_until(lambda: _experiment_status(database_url, "b1") == "completed", timeout=60, what="the experiment completed")
    assert any("UPDATE events" in statement for statement in by_worker)  # its runs' final statuses, fanned out
    assert [statement for statement in by_worker if "webhook_deliveries" in statement] == []


@contextmanager
def _worker_statements(client) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """The statements the delivery worker runs while the block runs, once its first round is over."""
    worker = client.app.state.runtime.webhooks
    engine = client.app.state.runtime.platform.db.engine
    by_worker: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "runyard-webhooks":
            by_worker.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        wait_until(lambda: not worker.wake.is_set() and not worker._events_written, what="the worker's first round")
        quiet_since = (time.monotonic(), len(by_worker))
        while time.monotonic() - quiet_since[0] < 0.5:  # its first round (at start-up) over
            if len(by_worker) != quiet_since[1]:
                quiet_since = (time.monotonic(), len(by_worker))
            time.sleep(0.02)
        by_worker.clear()
        yield by_worker
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)


def test_a_backlog_behind_a_slow_receiver_is_not_queried_at_every_event(start_server, receiver, database_url) -> None:  # type: ignore[no-untyped-def]
    """An endpoint at its cap (here 2 attempts, each held 5 s by the receiver): new events are fanned out,
    but the worker does not look for deliveries to start (none can, before an attempt ends) at each of
    them. It did: the backlog query and the endpoint's lease count ran with every run's every event,
    and on SQLite took the write lock the next submission waited for."""
    from runyard.testing.receiver import Answer

    api, client = start_server(poll_seconds=3600, queue_wait_seconds=0, concurrency_per_endpoint=2, timeout_seconds=30)
    api.new_app("held")
    create_webhook(api, receiver.url)
    receiver.default = Answer(200, delay=5.0)
    first = [submit(api, "held") for _ in range(2)]  # their first events fill the endpoint's two slots
    wait_until(lambda: receiver.in_flight == 2, what="the endpoint at its cap")
    with _worker_statements(client) as by_worker:
        run_ids = [submit(api, "held") for _ in range(5)]
        wait_until(lambda: all(fanned for r in run_ids for _, fanned in _events(database_url, r)) and
                   all(len(_events(database_url, r)) == 3 for r in run_ids), what="the runs' events fanned out")
        time.sleep(0.3)
    assert any("INSERT INTO webhook_deliveries" in statement for statement in by_worker)
    assert [statement for statement in by_worker if "lease_expires_at" in statement and "SELECT" in statement] == []
    assert receiver.in_flight == 2 and first
