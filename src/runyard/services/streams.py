"""Reading the outbox as streams: an account's events after an id, and one run's status changes and
log lines after a cursor. The server turns them into Server-Sent Events; the cursor is the event id
a client resumes from (``Last-Event-ID``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select

from runyard.domain import runs as states
from runyard.domain.errors import Gone, Invalid
from runyard.domain.webhooks import RUN_STATUS
from runyard.services.blob_keys import log_key
from runyard.services.events import pruned_through, run_status_data
from runyard.services.platform import Platform, Principal
from runyard.services.runs.reads import get_run
from runyard.storage.db import Event, Run

BATCH = 500
# On PostgreSQL, ids come from a sequence and a transaction that took a lower id can commit after one
# that took a higher id: a reader holds back at a gap until it fills or this long has passed (a gap
# left by a rolled-back transaction never fills).
GAP_WAIT_SECONDS = 2.0
LOG_READ_BYTES = 256 * 1024


def event_doc(event: Event, run: Any | None) -> dict[str, Any]:
    """An event as streams and webhooks show it."""
    data = event.body
    if data is None and event.type == RUN_STATUS:
        data = run_status_data(run, event.detail) if run is not None else {
            "run_id": event.subject, "application_id": event.app_id, "status_v2": event.detail}
    return {"event_id": f"evt-{event.id}", "event_type": event.type,
            "created_at": event.created_at.isoformat().replace("+00:00", "Z"), "data": data or {}}


@dataclass
class Cursor:
    """Where a reader is: the last event id it saw and, for a gap it waits at, since when."""

    last_id: int
    gap_since: float | None = None


def parse_event_id(value: str | None) -> int | None:
    if not value:
        return None
    raw = value.removeprefix("evt-").split(".", 1)[0]
    if not raw.isdigit():
        raise Invalid(f"Last-Event-ID {value!r} is not an id this server sent")
    return int(raw)


def check_resumable(platform: Platform, after_id: int) -> None:
    """A stream resumes after ``after_id`` only if nothing after it was pruned: otherwise it would skip
    events silently, so it is refused (410) with what to do instead."""
    with platform.db.session() as s:
        horizon = pruned_through(s)
    if after_id < horizon:
        raise Gone(f"events after evt-{after_id} up to evt-{horizon} have been pruned (the janitor keeps events "
                   f"RUNYARD_JANITOR__EVENT_RETENTION_SECONDS); reconnect without Last-Event-ID to follow from now, "
                   f"and read what was missed from the resources themselves (runs, experiments)")


def latest_event_id(platform: Platform) -> int:
    with platform.db.session() as s:
        return int(s.scalar(select(func.max(Event.id))) or 0)


def read_events(platform: Platform, principal: Principal, cursor: Cursor, *, app_id: str | None = None,
                types: list[str] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """The account's events after the cursor (filtered), in id order, never past an unfilled gap."""
    with platform.db.session() as s:
        query = select(Event).where(Event.id > cursor.last_id).order_by(Event.id).limit(BATCH)
        rows = list(s.scalars(query))
        run_ids = {e.subject for e in rows if e.type == RUN_STATUS and e.body is None and e.account_id == principal.account_id}
        runs = {r.id: r for r in s.scalars(select(Run).where(Run.id.in_(run_ids)))} if run_ids else {}
        out: list[tuple[int, dict[str, Any]]] = []
        expected = cursor.last_id + 1
        for event in rows:
            if event.id != expected and not _gap_is_old(cursor, platform.db.dialect):
                break
            cursor.gap_since, expected = None, event.id + 1
            cursor.last_id = event.id
            if event.account_id != principal.account_id or (app_id and event.app_id != app_id):
                continue
            if types and event.type not in types:
                continue
            out.append((event.id, event_doc(event, runs.get(event.subject))))
        return out


def _gap_is_old(cursor: Cursor, dialect: str) -> bool:
    if dialect == "sqlite":  # one writer at a time: ids commit in order, a gap is a rollback
        return True
    now = time.monotonic()
    if cursor.gap_since is None:
        cursor.gap_since = now
    return now - cursor.gap_since >= GAP_WAIT_SECONDS


@dataclass
class RunCursor:
    """A run stream's position: its last status event and the byte offset in its log."""

    event_id: int = 0
    log_offset: int = 0
    ended: bool = False

    def token(self) -> str:
        return f"{self.event_id}.{self.log_offset}"

    @classmethod
    def parse(cls, value: str | None) -> RunCursor:
        if not value:
            return cls()
        event, _, offset = value.partition(".")
        if not event.isdigit() or (offset and not offset.isdigit()):
            raise Invalid(f"Last-Event-ID {value!r} is not an id this server sent")
        return cls(event_id=int(event), log_offset=int(offset or 0))


# A run's status events after an id: read on every wake-up of the run's stream, as a point read (the
# ORM's per-query work cost more than the rest of the stream's read together).
_RUN_STATUS_AFTER = (
    select(Event.__table__)
    .where(Event.subject == bindparam("run_id"), Event.type == bindparam("type"),
           Event.account_id == bindparam("account_id"), Event.id > bindparam("after"))
    .order_by(Event.id)
)

EndData = Callable[[Any, dict[str, Any]], "dict[str, Any] | bytes"]


def read_run(platform: Platform, principal: Principal, app_id: str, run_id: str, cursor: RunCursor, *,
             logs: bool = True, end_data: EndData | None = None) -> list[tuple[str, str, dict[str, Any] | bytes]]:
    """A run's new status changes and log lines (unless ``logs`` is false) after the cursor (advanced),
    then ``end`` once it has ended and everything before was sent; ``end_data(run, data)`` gives that
    event's data (a dict, or JSON bytes) instead of ``data``."""
    run = get_run(platform, principal, app_id, run_id)  # NotFound for another account's run
    out: list[tuple[str, str, dict[str, Any] | bytes]] = []
    rows = platform.db.all(_RUN_STATUS_AFTER, {"type": RUN_STATUS, "run_id": run_id, "account_id": principal.account_id,
                                               "after": cursor.event_id})
    # Status changes before the log lines read now, the final status after them: the order they happened.
    final = [e for e in rows if states.is_terminal(e.detail)]
    for event in [e for e in rows if not states.is_terminal(e.detail)]:
        cursor.event_id = event.id
        out.append(("status", cursor.token(), event_doc(event, run)))
    if logs:
        out += _log_lines(platform, run_id, cursor)
    for event in final:
        cursor.event_id = event.id
        out.append(("status", cursor.token(), event_doc(event, run)))
    # The run was read first: if it had ended then, its final status event was committed before the
    # events were read, so it is in ``rows`` or was sent before.
    if states.is_terminal(run.status) and (not logs or _log_done(platform, run_id, cursor)):
        cursor.ended = True
        end = {"run_id": run_id, "status_v2": run.status}
        out.append(("end", cursor.token(), end if end_data is None else end_data(run, end)))
    return out


def _log_lines(platform: Platform, run_id: str, cursor: RunCursor) -> list[tuple[str, str, dict[str, Any] | bytes]]:
    key = log_key(run_id)
    if not platform.blobs.exists(key):
        return []
    with platform.blobs.open(key) as f:
        f.seek(cursor.log_offset)
        data = f.read(LOG_READ_BYTES)
    complete = data[: data.rfind(b"\n") + 1]
    out = []
    for raw in complete.splitlines(keepends=True):
        cursor.log_offset += len(raw)
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        out.append(("log", cursor.token(), {"timestamp": rec.get("t", ""), "log": rec.get("l", "")}))
    return out


def _log_done(platform: Platform, run_id: str, cursor: RunCursor) -> bool:
    key = log_key(run_id)
    return not platform.blobs.exists(key) or platform.blobs.size(key) <= cursor.log_offset
