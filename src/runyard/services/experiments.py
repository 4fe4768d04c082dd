"""Batch experiments and scenario tests (acceptance tests are in ``services.acceptance``).

Experiment runs go through the same queue as every run, one priority step behind interactive
runs, so a large experiment never starves people waiting on a single run. Status, counts,
distribution summaries and acceptance verdicts are brought up to date whenever they are read.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from runyard.domain import acceptance, stats
from runyard.domain.errors import Conflict, Invalid, NotFound
from runyard.domain.ids import new_id
from runyard.domain.runs import TERMINAL, RunStatus
from runyard.services import events
from runyard.services.apps import check_user_id, load_app
from runyard.services.blob_keys import run_prefix
from runyard.services.inputs import load_input_set, resolve_input
from runyard.services.instances import load_instance
from runyard.services.pagination import Page, paginate
from runyard.services.platform import Platform, Principal
from runyard.services.runs.requests import ExperimentFields, RunRequest, RunSource
from runyard.services.runs.submission import insert_runs, queued_run_row
from runyard.storage.db import AcceptanceTest, Application, Experiment, Run

EXPERIMENT_PRIORITY = 7
MAX_RUNS = 10_000


@dataclass
class RunSpec:
    input_id: str
    instance_id: str | None = None
    version_id: str | None = None
    option_set: str | None = None
    input_set_id: str | None = None
    scenario_id: str | None = None
    repetition: int | None = None


@dataclass
class BatchRequest:
    experiment_id: str | None = None
    name: str | None = None
    description: str | None = None
    type: str = "batch"
    input_set_id: str | None = None
    instance_ids: list[str] = field(default_factory=list)
    option_sets: dict[str, dict[str, Any]] | None = None
    runs: list[RunSpec] | None = None


def _specs(session: Session, app: Application, req: BatchRequest) -> list[RunSpec]:
    if req.runs:
        return req.runs
    if not req.input_set_id or not req.instance_ids:
        raise Invalid("a batch experiment needs runs, or an input_set_id and instance_ids")
    input_set = load_input_set(session, app, req.input_set_id)
    option_names: list[str | None] = list(req.option_sets or {}) or [None]
    return [
        RunSpec(input_id=i, instance_id=inst, option_set=opt, input_set_id=req.input_set_id)
        for inst, opt, i in itertools.product(req.instance_ids, option_names, input_set.input_ids or [])
    ]


def _check_specs(session: Session, app: Application, req: BatchRequest, specs: list[RunSpec]) -> dict[str, RunSource]:
    """Validate every run; returns the input of each distinct input id (each is looked up once)."""
    if not specs:
        raise Invalid("the experiment would have no runs")
    if len(specs) > MAX_RUNS:
        raise Invalid(f"an experiment may have at most {MAX_RUNS} runs")
    sources: dict[str, RunSource] = {}
    instances: set[str] = set()
    for i, spec in enumerate(specs):
        if not spec.instance_id and not spec.version_id:
            raise Invalid(f"runs[{i}] needs an instance_id or a version_id")
        if spec.option_set and spec.option_set not in (req.option_sets or {}):
            raise Invalid(f"runs[{i}].option_set {spec.option_set!r} is not among option_sets")
        if spec.input_id not in sources:
            sources[spec.input_id] = resolve_input(session, app, spec.input_id)
        if spec.instance_id and spec.instance_id not in instances:
            load_instance(session, app, spec.instance_id)
            instances.add(spec.instance_id)
    return sources


def create_batch(platform: Platform, principal: Principal, app_id: str, req: BatchRequest) -> Experiment:
    """Create the experiment and queue all of its runs at once; nothing is created if any run is invalid."""
    if req.type not in ("batch", "scenario"):
        raise Invalid("type must be 'batch' or 'scenario'")
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        exp_id = check_user_id(req.experiment_id, "experiment id") if req.experiment_id else new_id("batch")
        if s.scalar(select(Experiment.pk).where(Experiment.app_pk == app.pk, Experiment.id == exp_id)):
            raise Conflict(f"experiment {exp_id!r} already exists")
        specs = _specs(s, app, req)
        sources = _check_specs(s, app, req, specs)
        instance_ids = list(dict.fromkeys(x.instance_id for x in specs if x.instance_id))
        exp = Experiment(app_pk=app.pk, id=exp_id, name=(req.name or "").strip() or exp_id, description=req.description or "",
                         type=req.type, input_set_id=req.input_set_id or next((x.input_set_id for x in specs if x.input_set_id), "") or "",
                         instance_ids=instance_ids, option_sets=req.option_sets, requested_runs=len(specs))
        s.add(exp)
        targets: dict[tuple[str, str], Any] = {}
        rows = []
        for spec in specs:
            options = (req.option_sets or {}).get(spec.option_set or "", {}) if spec.option_set else {}
            request = RunRequest(instance_id=spec.instance_id, options=dict(options))
            fields = ExperimentFields(exp_id, spec.input_id, spec.input_set_id, spec.option_set, spec.scenario_id, spec.repetition)
            rows.append(queued_run_row(platform, s, principal, app, request, version_id=spec.version_id,
                                       source=sources[spec.input_id], experiment=fields,
                                       priority=EXPERIMENT_PRIORITY, targets=targets))
        s.flush()  # the experiment first
        insert_runs(s, rows)  # then every run in one statement
        emit_status(s, exp, app, account_id=principal.account_id)
    platform.wakeup()
    return exp


def load_experiment(session: Session, app: Application, exp_id: str) -> Experiment:
    row = session.scalar(select(Experiment).where(Experiment.app_pk == app.pk, Experiment.id == exp_id))
    if row is None:
        raise NotFound(f"experiment {exp_id!r} of application {app.id!r} does not exist")
    return row


@dataclass
class Counts:
    total: int = 0
    finished: int = 0
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0


_RUNS, _EXPERIMENTS, _APPS = Run.__table__, Experiment.__table__, Application.__table__
_COUNTS = (
    select(_RUNS.c.status, func.count())
    .where(_RUNS.c.app_pk == bindparam("app_pk"), _RUNS.c.experiment_id == bindparam("exp_id"))
    .group_by(_RUNS.c.status)
)
_APP_PK = select(_APPS.c.pk).where(_APPS.c.account_id == bindparam("account_id"), _APPS.c.id == bindparam("app_id"))
_EXPERIMENT = select(_EXPERIMENTS).where(_EXPERIMENTS.c.app_pk == bindparam("app_pk"), _EXPERIMENTS.c.id == bindparam("exp_id"))


def counts(session: Session, exp: Experiment) -> Counts:
    return _tally(session.execute(_COUNTS, {"app_pk": exp.app_pk, "exp_id": exp.id}).all())


def _tally(rows: Any) -> Counts:
    c = Counts()
    for status, n in rows:
        c.total += n
        if status in TERMINAL:
            c.finished += n
        if hasattr(c, status):
            setattr(c, status, getattr(c, status) + n)
    return c


def _runs(session: Session, exp: Experiment) -> list[Run]:
    return list(session.scalars(select(Run).where(Run.app_pk == exp.app_pk, Run.experiment_id == exp.id).order_by(Run.created_at, Run.id)))


def run_values(run: Run) -> dict[str, Any]:
    """What the statistics read of a run, as plain values."""
    return {"instance_id": run.instance_id, "version_id": run.version_id, "option_set": run.option_set,
            "scenario_id": run.scenario_id, "status": run.status, "statistics": run.statistics, "metrics": run.metrics}


def summaries(exp: Experiment, runs: list[Run]) -> list[dict[str, Any]]:
    """Distribution summaries per (instance, version, option set[, scenario]) group."""
    keys = ["instance_id", "version_id", "option_set"] + (["scenario_id"] if exp.type == "scenario" else [])
    return stats.group_summaries(keys, [run_values(run) for run in runs])


def refresh(session: Session, exp: Experiment) -> Counts:
    """Bring status and summaries up to date; an experiment completes when all its runs have ended."""
    c = counts(session, exp)
    if exp.status == "started" and c.finished >= c.total:  # (no runs left: they were all deleted)
        # Claimed by a conditional write: a reader and the delivery worker may both find it done at once,
        # and only one of them completes it (and announces it).
        table = Experiment.__table__
        claimed = session.execute(update(table).where(table.c.pk == exp.pk, table.c.status == "started")
                                  .values(status=final_status(c))).rowcount
        if not claimed:
            session.refresh(exp)  # completed by the other meanwhile: as it left it
            return c
        exp.status = final_status(c)
        exp.summaries = summaries(exp, _runs(session, exp))
        exp.completed_at = exp.updated_at = datetime.now(UTC)
        test = session.scalar(select(AcceptanceTest).where(AcceptanceTest.app_pk == exp.app_pk, AcceptanceTest.id == exp.id))
        if test is not None:
            evaluate_acceptance(session, test, exp)
        app = session.get(Application, exp.app_pk)
        if app is not None:
            emit_status(session, exp, app, account_id=app.account_id, counts=c, acceptance=test)
    return c


def emit_status(session: Session, exp: Experiment, app: Application, *, account_id: str, counts: Counts | None = None,
                acceptance: AcceptanceTest | None = None) -> None:
    """An ``experiment.status`` event: the experiment started, completed, failed or was canceled."""
    body: dict[str, Any] = {
        "experiment_id": exp.id, "application_id": app.id, "type": "acceptance" if acceptance is not None else exp.type,
        "status": exp.status, "name": exp.name, "requested_runs": exp.requested_runs,
        "created_at": _ts(exp.created_at), "completed_at": _ts(exp.completed_at),
    }
    if counts is not None:
        body["runs"] = {"succeeded": counts.succeeded, "failed": counts.failed, "canceled": counts.canceled, "total": counts.total}
    if acceptance is not None:
        body["acceptance"] = {"status": acceptance.status, "passed": (acceptance.results or {}).get("passed")}
    events.emit(session, "experiment.status", body, account_id=account_id, subject=exp.id, app_id=app.id, detail=exp.status)


def _ts(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


# Whether an experiment still has a run to wait for: read through the application's status index (the
# runs queued or running in the application), where counting every run of the experiment on each run's
# end made a fan-out of N runs cost N² row reads.
_STILL_RUNNING = select(_RUNS.c.id).where(
    _RUNS.c.app_pk == bindparam("app_pk"), _RUNS.c.experiment_id == bindparam("exp_id"),
    or_(*(_RUNS.c.status == s.value for s in RunStatus if s not in TERMINAL))).limit(1)


def runs_left(conn: Connection | Session, app_pk: int, exp_id: str) -> bool:
    """Whether a run of the experiment is still queued or running (then its end completes it, not this one's)."""
    return conn.execute(_STILL_RUNNING, {"app_pk": app_pk, "exp_id": exp_id}).first() is not None


def complete_if_done(session: Session, app_pk: int, exp_id: str) -> None:
    """Complete an experiment whose last run has just ended (the delivery worker calls this for each
    final run status of an experiment's run, so its ``experiment.status`` goes out without a reader)."""
    if runs_left(session, app_pk, exp_id):
        return
    exp = session.scalar(select(Experiment).where(Experiment.app_pk == app_pk, Experiment.id == exp_id).with_for_update())
    if exp is not None and exp.status == "started":
        refresh(session, exp)


def evaluate_acceptance(session: Session, test: AcceptanceTest, exp: Experiment) -> None:
    """An acceptance test's results from its ended experiment's runs."""
    runs = [run_values(run) for run in _runs(session, exp)]
    test.results = acceptance.results(test.metrics, test.control, test.candidate, runs)
    test.status = "completed" if exp.status == "completed" else exp.status
    test.updated_at = datetime.now(UTC)


def final_status(c: Counts) -> str:
    """``completed`` once every run has ended and one succeeded (failed runs are counted, not fatal);
    ``failed`` when none succeeded and one failed; ``canceled`` when every run was canceled (or deleted)."""
    if c.succeeded:
        return "completed"
    return "failed" if c.failed else "canceled"


def get_batch(platform: Platform, principal: Principal, app_id: str, exp_id: str) -> tuple[Experiment, Counts]:
    with platform.db.session() as s:
        exp = load_experiment(s, load_app(s, principal, app_id), exp_id)
        return exp, refresh(s, exp)


def peek_batch(platform: Platform, principal: Principal, app_id: str, exp_id: str, *,
               complete: bool = True) -> tuple[Any, Counts] | None:
    """``get_batch`` for readers that poll: statements built once, run as ``PointRead``s, with no session
    or commit (a client waiting for an experiment asks many times a second). The experiment comes back
    as a read-only row with ``Experiment``'s columns. One whose last run has ended goes through
    ``get_batch``, which completes it; with ``complete=False`` the answer is then None instead."""
    db = platform.db
    app = _peeked_app(db.first(_APP_PK, {"account_id": principal.account_id, "app_id": app_id}), app_id)
    exp = _peeked_experiment(db.first(_EXPERIMENT, {"app_pk": app.pk, "exp_id": exp_id}), app_id, exp_id)
    c = _tally(db.all(_COUNTS, {"app_pk": app.pk, "exp_id": exp_id}))
    if _due(exp, c):
        return get_batch(platform, principal, app_id, exp_id) if complete else None
    return exp, c


async def peek_batch_on_loop(platform: Platform, principal: Principal, app_id: str, exp_id: str) -> tuple[Any, Counts] | None:
    """``peek_batch(..., complete=False)`` with its reads awaited on the event loop (``Database.afirst``)."""
    db = platform.db
    app = _peeked_app(await db.afirst(_APP_PK, {"account_id": principal.account_id, "app_id": app_id}), app_id)
    exp = _peeked_experiment(await db.afirst(_EXPERIMENT, {"app_pk": app.pk, "exp_id": exp_id}), app_id, exp_id)
    c = _tally(await db.aall(_COUNTS, {"app_pk": app.pk, "exp_id": exp_id}))
    return None if _due(exp, c) else (exp, c)


def _peeked_app(app: Any, app_id: str) -> Any:
    if app is None:
        raise NotFound(f"application {app_id!r} does not exist")
    return app


def _peeked_experiment(exp: Any, app_id: str, exp_id: str) -> Any:
    if exp is None:
        raise NotFound(f"experiment {exp_id!r} of application {app_id!r} does not exist")
    return exp


def _due(exp: Any, c: Counts) -> bool:
    """Its last run has ended but it has not been completed yet."""
    return bool(exp.status == "started" and c.finished >= c.total)


def batch_runs_page(platform: Platform, principal: Principal, app_id: str, exp_id: str, *, statuses: tuple[str, ...] = (),
                    token: str | None = None, limit: int | None = None) -> Page[Run]:
    """The experiment's runs in the order they were made (those with one of ``statuses``, if given), a
    keyset page at a time through ``ix_runs_experiment_created``; ``limit=None``: all of them."""
    with platform.db.session() as s:
        exp = load_experiment(s, load_app(s, principal, app_id), exp_id)
        query = select(Run).where(Run.app_pk == exp.app_pk, Run.experiment_id == exp.id)
        if statuses:
            query = query.where(Run.status.in_(statuses))
        return paginate(s, query, created=Run.created_at, key=Run.id, token=token, limit=limit, ascending=True)


def list_batches(
    platform: Platform, principal: Principal, app_id: str, *, kind: str | None, token: str | None, limit: int | None
) -> tuple[list[tuple[Experiment, Counts]], str | None]:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        query = select(Experiment).where(Experiment.app_pk == app.pk)
        if kind:
            query = query.where(Experiment.type == kind)
        page: Page[Experiment] = paginate(s, query, created=Experiment.created_at, key=Experiment.id, token=token, limit=limit)
        return [(e, refresh(s, e)) for e in page.items], page.next_token


def update_batch(platform: Platform, principal: Principal, app_id: str, exp_id: str, *, name: str | None, description: str | None) -> tuple[Experiment, Counts]:
    with platform.db.session() as s:
        exp = load_experiment(s, load_app(s, principal, app_id), exp_id)
        if name is not None:
            exp.name = name.strip() or exp.id
        if description is not None:
            exp.description = description
        exp.updated_at = datetime.now(UTC)
        return exp, refresh(s, exp)


STOP_WAIT_SECONDS = 10.0


def delete_batch(platform: Platform, principal: Principal, app_id: str, exp_id: str) -> None:
    """Delete the experiment with its runs and their payloads.

    Runs still queued are canceled so they never start; running ones are stopped and waited for
    (a bounded time) before anything is deleted, because a run writes its log and output until it
    has ended: deleting its files first would leave files behind that nothing refers to.
    """
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        exp = load_experiment(s, app, exp_id)
        app_pk, exp_pk = app.pk, exp.pk
    _stop_runs(platform, app_pk, exp_id)
    with platform.db.session() as s:
        members = list(s.scalars(select(Run.id).where(Run.app_pk == app_pk, Run.experiment_id == exp_id)))
        s.execute(delete(Run).where(Run.app_pk == app_pk, Run.experiment_id == exp_id))
        s.execute(delete(AcceptanceTest).where(AcceptanceTest.app_pk == app_pk, AcceptanceTest.id == exp_id))
        s.execute(delete(Experiment).where(Experiment.pk == exp_pk))
    for run_id in members:
        platform.cancel_hook(run_id)  # one that outlived the wait (it finds no row to report to)
        platform.blobs.delete_prefix(run_prefix(run_id))


def _stop_runs(platform: Platform, app_pk: int, exp_id: str) -> None:
    mine = (Run.app_pk == app_pk, Run.experiment_id == exp_id)
    now = datetime.now(UTC)
    with platform.db.session() as s:
        queued = list(s.scalars(select(Run.id).where(*mine, Run.status == RunStatus.QUEUED).with_for_update()))
        if queued:
            s.execute(update(Run).where(Run.id.in_(queued), Run.status == RunStatus.QUEUED)
                      .values(status=RunStatus.CANCELED, error="the experiment was deleted", finished_at=now, cancel_requested=True))
            events.record_run_status(s, queued, now=now)
        s.execute(update(Run).where(*mine, Run.status == RunStatus.RUNNING).values(cancel_requested=True))
    deadline = time.monotonic() + STOP_WAIT_SECONDS + platform.settings.execution.kill_grace_seconds
    while True:
        with platform.db.session() as s:
            running = list(s.scalars(select(Run.id).where(*mine, Run.status == RunStatus.RUNNING)))
        if not running or time.monotonic() > deadline:
            return
        for run_id in running:  # again each round: a run claimed just now reaches the executor late
            platform.cancel_hook(run_id)
        time.sleep(0.05)
