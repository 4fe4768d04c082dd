"""Moving a run between statuses: conditional updates the state machine allows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.orm import Session

from runyard.domain import runs as states
from runyard.domain.runs import RunStatus
from runyard.services.events import record_run_status
from runyard.storage.db import Run


def status_among(column: Any, statuses: frozenset[RunStatus]) -> ColumnElement[bool]:
    """``column`` is one of ``statuses``, as plain comparisons: ``IN`` with a list would be an expanding
    parameter, which SQLAlchemy renders anew on every execution of a statement built once."""
    return or_(*(column == s.value for s in sorted(statuses)))


def transition(session: Session, run_id: str, target: RunStatus, *, guard: dict[str, Any] | None = None,
               **values: Any) -> bool:
    """Move a run to ``target`` only from a status the state machine allows (and, with ``guard``, only
    while those columns still hold those values); True if it moved."""
    # A Core UPDATE on the table: the ORM's bulk-update path would first evaluate the criteria against
    # every object in the session, which cost more than the statement on the hot path of every run.
    runs = Run.__table__
    allowed = status_among(runs.c.status, states.sources_of(target))
    same = [runs.c[name].is_(None) if value is None else runs.c[name] == value for name, value in (guard or {}).items()]
    result = session.execute(update(runs).where(runs.c.id == run_id, allowed, *same).values(status=target.value, **values))
    if not result.rowcount:
        return False
    record_run_status(session, [run_id])  # the outbox row commits with the change, or neither does
    return True
