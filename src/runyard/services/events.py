"""The event outbox: every change a user may want to hear about is written here in the transaction
that made it, so a crash between the change and its webhook (or stream) loses nothing.

``emit`` is the one call other services make; run status changes go through ``record_run_status``,
which the run transition statements call with the ids of the runs they moved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, insert, literal, or_, select
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from runyard.domain import runs as states
from runyard.domain.runs import RunStatus
from runyard.domain.webhooks import RUN_STATUS
from runyard.storage.db import Event, Run, ServerState, Webhook

_EVENTS, _RUNS, _HOOKS = Event.__table__, Run.__table__, Webhook.__table__
_FLAG = "runyard.events"  # set on a connection that wrote events: its commit wakes the event streams
_FAN_OUT = "runyard.events.fan_out"  # ... of which one waits to be fanned out: its commit wakes the delivery worker
_MOVED = "runyard.events.runs"  # the runs whose status it changed: their waiters here are woken first

# One statement per status change, built once: the event row is made from the run row itself, so
# every caller passes only ids and the event says exactly what the run says after the change.
# An event that no webhook of its account can receive and no experiment waits for has nothing to be
# fanned out to: it is written as fanned out, so the delivery worker's round after the change writes
# nothing (on SQLite it would take the write lock the next submission or claim is about to ask for).
# A webhook created later receives what happens after it, as always. An experiment waits only for its
# runs' final statuses (the fan-out of one completes the experiment once its last run has ended).
_NOTHING_TO_FAN_OUT = and_(
    ~exists().where(_HOOKS.c.account_id == _RUNS.c.account_id, _HOOKS.c.status == "enabled"),
    or_(_RUNS.c.experiment_id.is_(None), *(_RUNS.c.status == s.value for s in RunStatus if s not in states.TERMINAL)),
)
_RUN_STATUS = insert(_EVENTS).from_select(
    ["account_id", "type", "subject", "app_id", "detail", "fanned_out", "created_at"],
    select(_RUNS.c.account_id, literal(RUN_STATUS), _RUNS.c.id, _RUNS.c.app_id, _RUNS.c.status, _NOTHING_TO_FAN_OUT,
           bindparam("now", type_=_EVENTS.c.created_at.type))
    .where(_RUNS.c.id.in_(bindparam("ids", expanding=True))),
).returning(_EVENTS.c.fanned_out)  # whether the delivery worker has anything to do with them


PRUNED_THROUGH = "events.pruned_through"  # server_state key: the highest event id the janitor removed


def pruned_through(session: Session) -> int:
    """Events with an id up to this one may have been pruned (0: none ever was)."""
    value = session.scalar(select(ServerState.value).where(ServerState.key == PRUNED_THROUGH))
    return int(value) if value else 0


def raise_pruned_through(session: Session, event_id: int) -> None:
    row = session.get(ServerState, PRUNED_THROUGH, with_for_update=True)
    if row is None:
        session.add(ServerState(key=PRUNED_THROUGH, value=str(event_id)))
    elif int(row.value or 0) < event_id:
        row.value = str(event_id)


def _mark(conn: Connection | Session, run_ids: Iterable[str] = (), *, fan_out: bool = True) -> None:
    info = conn.connection().info if isinstance(conn, Session) else conn.info
    info[_FLAG] = True
    if fan_out:
        info[_FAN_OUT] = True
    if run_ids:
        info.setdefault(_MOVED, set()).update(run_ids)


def record_run_status(conn: Connection | Session, run_ids: Iterable[str], *, now: datetime | None = None) -> None:
    """Outbox rows for runs whose status ``conn`` just changed (in its transaction)."""
    ids = list(run_ids)
    if ids:
        written = conn.execute(_RUN_STATUS, {"ids": ids, "now": now or datetime.now(UTC)}).scalars().all()
        # Events written as fanned out wake no delivery worker: its round would find nothing to do, and on
        # every status change of every run it cost the server as much CPU as recording the change.
        _mark(conn, ids, fan_out=not all(written))


def emit(session: Connection | Session, event_type: str, body: dict[str, Any], *, account_id: str, subject: str = "",
         app_id: str = "", detail: str = "") -> None:
    """Write an event of ``event_type`` with ``body`` (its ``data``) to the outbox, in the caller's
    transaction: it is delivered if and only if that transaction commits."""
    session.execute(insert(_EVENTS).values(account_id=account_id, type=event_type, subject=subject, app_id=app_id,
                                           detail=detail, body=body, fanned_out=False, created_at=datetime.now(UTC)))
    _mark(session)


def run_status_data(run: Any, status: str) -> dict[str, Any]:
    """The ``data`` of a ``run.status`` event: the run as it stood when it reached ``status``."""
    terminal = states.is_terminal(status)
    return {
        "run_id": run.id,
        "application_id": run.app_id,
        "instance_id": run.instance_id or "",
        "version_id": run.version_id or "",
        "status_v2": status,
        "status": states.status_v1(status),
        "created_at": _ts(run.created_at),
        "started_at": _ts(run.started_at) if status != "queued" else None,
        "finished_at": _ts(run.finished_at) if terminal else None,
        "duration_ms": run.duration_ms if terminal else None,
        "error": (run.error or "") if status in ("failed", "canceled") else "",
        "experiment_id": run.experiment_id,
    }


def _ts(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


ALL = "*"  # the key under which event streams wait in ``RunEvents``


class Wakeup:
    """Wakes the event streams (``listeners``) after a transaction that wrote events commits, and the
    delivery worker (``fan_out``) if one of them waits to be fanned out (on this server; others find them
    on their next poll); with ``runs``, first ``runs(run_id)`` for each run whose status it changed."""

    def __init__(self, *listeners: Callable[[], None], runs: Callable[[str], None] | None = None,
                 fan_out: Callable[[], None] | None = None) -> None:
        self.listeners = listeners
        self.runs = runs
        self.fan_out = fan_out

    def install(self, engine: Any) -> None:
        # A connection goes back to the pool after its transaction ended: only then can the worker
        # read what it wrote (the "commit" event comes before the commit itself).
        sa_event.listen(engine, "rollback", self._on_rollback)
        sa_event.listen(engine.pool, "checkin", self._on_checkin)

    def _on_checkin(self, _dbapi_conn: Any, record: Any) -> None:
        if record is None:
            return
        moved = record.info.pop(_MOVED, ())
        fan_out = record.info.pop(_FAN_OUT, False)
        if record.info.pop(_FLAG, False):
            # A client waiting on a run (a stream's end, a long-poll) first, before the delivery worker
            # starts its round and competes with it for the interpreter.
            if self.runs is not None:
                for run_id in moved:
                    self.runs(run_id)
            if fan_out and self.fan_out is not None:
                self.fan_out()
            for listener in self.listeners:
                listener()

    @staticmethod
    def _on_rollback(conn: Connection) -> None:
        conn.info.pop(_FLAG, None)
        conn.info.pop(_FAN_OUT, None)
        conn.info.pop(_MOVED, None)
