"""Reading runs (one, the account's queue; lists are in ``listing``) and the caller's changes to them: cancel, delete, rename."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ARRAY, String, any_, bindparam, select, update
from sqlalchemy.orm import Session

from runyard.domain import runs as states
from runyard.domain.errors import Conflict, NotFound
from runyard.domain.runs import RunStatus
from runyard.services.apps import load_app
from runyard.services.blob_keys import run_prefix
from runyard.services.events import record_run_status
from runyard.services.platform import Platform, Principal, in_thread, reads_on_loop
from runyard.storage.db import Application, Run


def load_run(session: Session, app: Application, run_id: str) -> Run:
    run = session.scalar(select(Run).where(Run.id == run_id, Run.app_pk == app.pk))
    if run is None:
        raise NotFound(f"run {run_id!r} of application {app.id!r} does not exist")
    return run


# Reading one run is the hottest query (every poll): one statement compiled once, run as a ``PointRead``.
# Its row has the ``Run`` columns as attributes, read-only.
_RUN_OF_APP = (
    select(Run.__table__)
    .join(Application.__table__, Application.pk == Run.app_pk)
    .where(Application.account_id == bindparam("account_id"), Application.id == bindparam("app_id"), Run.id == bindparam("run_id"))
)


MAX_RUN_ID = 255
# The same on the event loop (PostgreSQL), by a list of run ids: pollers of different runs of one
# application that wait for a connection at once share one query.
_RUNS_OF_APP = (
    select(Run.__table__)
    .join(Application.__table__, Application.pk == Run.app_pk)
    .where(Application.account_id == bindparam("account_id"), Application.id == bindparam("app_id"),
           Run.id == any_(bindparam("run_ids", type_=ARRAY(String))))
)


async def _get_run_on_loop(platform: Platform, principal: Principal, app_id: str, run_id: str) -> Run:
    if "\x00" in run_id or len(run_id) > MAX_RUN_ID:  # no run has such an id, and it must not fail others' reads
        raise NotFound(f"run {run_id[:MAX_RUN_ID]!r} of application {app_id!r} does not exist")
    row = await platform.db.afirst_keyed(_RUNS_OF_APP, {"account_id": principal.account_id, "app_id": app_id, "run_ids": run_id},
                                         key="run_ids", column="id")
    if row is not None:
        return row  # type: ignore[return-value]  # a Row with Run's columns
    return await in_thread(_not_found, platform, principal, app_id, run_id)


@reads_on_loop(_get_run_on_loop)
def get_run(platform: Platform, principal: Principal, app_id: str, run_id: str) -> Run:
    """The caller's run, read-only; ``NotFound`` names the application when that is what is missing."""
    row = platform.db.first(_RUN_OF_APP, {"account_id": principal.account_id, "app_id": app_id, "run_id": run_id})
    if row is not None:
        return row  # type: ignore[return-value]  # a Row with Run's columns
    return _not_found(platform, principal, app_id, run_id)


def _not_found(platform: Platform, principal: Principal, app_id: str, run_id: str) -> Run:
    with platform.db.session() as s:
        load_run(s, load_app(s, principal, app_id), run_id)  # raises the right NotFound
    raise NotFound(f"run {run_id!r} of application {app_id!r} does not exist")  # pragma: no cover - a race with a delete


def cancel_run(platform: Platform, principal: Principal, app_id: str, run_id: str) -> None:
    """A queued run never starts; a running run's process tree is stopped and the run ends canceled."""
    now = datetime.now(UTC)
    with platform.db.session() as s:
        run = load_run(s, load_app(s, principal, app_id), run_id)
        if states.is_terminal(run.status):
            raise Conflict(f"run {run_id!r} has already ended ({run.status})")
        s.execute(update(Run).where(Run.id == run_id).values(cancel_requested=True))
        moved = s.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == RunStatus.QUEUED)
            .values(status=RunStatus.CANCELED, error="run was canceled", finished_at=now)
        ).rowcount
        if moved:
            record_run_status(s, [run_id], now=now)
    if not moved:
        platform.cancel_hook(run_id)
    elif platform.run_events is not None:
        platform.run_events.notify(run_id)


def delete_run(platform: Platform, principal: Principal, app_id: str, run_id: str) -> None:
    with platform.db.session() as s:
        run = load_run(s, load_app(s, principal, app_id), run_id)
        if not states.is_terminal(run.status):
            s.execute(update(Run).where(Run.id == run_id).values(cancel_requested=True))
        s.delete(run)
    platform.cancel_hook(run_id)
    platform.blobs.delete_prefix(run_prefix(run_id))


def update_run(platform: Platform, principal: Principal, app_id: str, run_id: str, *, name: str | None, description: str | None) -> Run:
    with platform.db.session() as s:
        run = load_run(s, load_app(s, principal, app_id), run_id)
        if name is not None:
            run.name = name
        if description is not None:
            run.description = description
        return run


def account_queue(platform: Platform, principal: Principal) -> list[Run]:
    """The account's runs that are waiting or executing, in the order they will be served."""
    with platform.db.session() as s:
        query = (
            select(Run)
            .where(Run.account_id == principal.account_id, Run.status.in_((RunStatus.QUEUED.value, RunStatus.RUNNING.value)))
            .order_by(Run.status.desc(), Run.priority, Run.created_at)
        )
        return list(s.scalars(query))
