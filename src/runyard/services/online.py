"""Shadow tests and switchback tests: experiments on live traffic.

While a test is started, runs submitted to its baseline instance (by any client) are acted on at
submission: a shadow test mirrors each to its candidate instances with the same input and options;
a switchback test sends it to the instance its current plan unit names. Mirrored runs queue at the
lowest priority, behind every production run, and the baseline run never waits for them: it is
queued first, in the same transaction, at its own priority.

Time-driven changes (start at ``start_events.time``, end at ``termination_events.time`` or at the
end of the last unit) are applied whenever a test is read and whenever a run is submitted.
"""

from __future__ import annotations

import functools
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, select, update
from sqlalchemy.orm import Session

from runyard.domain import analysis as analysis_lib
from runyard.domain import online as dom
from runyard.domain import stats
from runyard.domain.errors import Conflict, Invalid, NotFound, RunyardError
from runyard.domain.ids import new_id
from runyard.domain.runs import RunStatus
from runyard.services import events
from runyard.services.apps import check_user_id, load_app
from runyard.services.instances import load_instance
from runyard.services.pagination import Page, paginate
from runyard.services.platform import Platform, Principal
from runyard.services.runs import submission
from runyard.services.runs.requests import ExperimentFields, RunRequest, RunSource
from runyard.services.runs.submission import Routed, insert_runs, queued_run_row
from runyard.storage.db import Application, Experiment, OnlineTest, OnlineTestRun, Run

log = logging.getLogger(__name__)

SHADOW, SWITCHBACK = "shadow", "switchback"
CANDIDATE_PRIORITY = 9  # the last priority: mirrored work never goes before production work
MAX_SHADOW_RUNS = 300
MAX_UNITS, MAX_UNIT_MINUTES = 1000, 10080


def clock() -> datetime:
    """Now, in UTC (tests replace it to drive time-based starts, ends and plan units)."""
    return datetime.now(UTC)


def emit_event(session: Session, test: OnlineTest, status: str) -> None:
    """An ``experiment.status`` event (the webhook outbox) for a shadow or switchback test, in the
    caller's transaction: the body of batch experiments' events, with ``type`` the test's kind."""
    app = session.get(Application, test.app_pk)
    if app is None:
        return
    body = {"experiment_id": test.id, "application_id": app.id, "type": test.kind, "status": status, "name": test.name,
            "created_at": test.created_at.isoformat().replace("+00:00", "Z") if test.created_at else None}
    events.emit(session, "experiment.status", body, account_id=app.account_id, subject=test.id, app_id=app.id, detail=status)


@dataclass
class ShadowRequest:
    test_id: str | None
    name: str | None
    description: str | None
    comparisons: dict[str, list[str]]
    maximum_runs: int | None
    end_time: datetime | None = None
    start_time: datetime | None = None


@dataclass
class SwitchbackRequest:
    test_id: str | None
    name: str | None
    description: str | None
    baseline_instance_id: str
    candidate_instance_id: str
    unit_minutes: float
    units: int
    start: datetime | None = None
    seed: int | None = None


# creation
def create_shadow(platform: Platform, principal: Principal, app_id: str, req: ShadowRequest) -> OnlineTest:
    """A shadow test in ``draft``; it starts with ``start`` or at ``start_time``."""
    if not req.comparisons:
        raise Invalid("comparisons must map at least one baseline instance id to its candidate instance ids")
    if req.maximum_runs is None or not 1 <= req.maximum_runs <= MAX_SHADOW_RUNS:
        raise Invalid(f"termination_events.maximum_runs must be an integer from 1 to {MAX_SHADOW_RUNS}")
    if req.start_time and req.end_time and req.end_time <= req.start_time:
        raise Invalid("termination_events.time must be after start_events.time")
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        comparisons = []
        for baseline, candidates in req.comparisons.items():
            if not isinstance(candidates, list) or not candidates or not all(isinstance(c, str) and c for c in candidates):
                raise Invalid(f"comparisons.{baseline} must be a non-empty list of candidate instance ids")
            if baseline in candidates:
                raise Invalid(f"instance {baseline!r} cannot be its own candidate")
            for instance_id in [baseline, *candidates]:
                load_instance(s, app, instance_id)
            comparisons.append({"baseline_instance_id": baseline, "candidate_instance_ids": list(dict.fromkeys(candidates))})
        test = _new_test(s, app, SHADOW, req.test_id, req.name, req.description, comparisons)
        test.maximum_runs, test.start_time, test.end_time = req.maximum_runs, req.start_time, req.end_time
        s.flush()
        return test


def create_switchback(platform: Platform, principal: Principal, app_id: str, req: SwitchbackRequest) -> OnlineTest:
    """A switchback test in ``draft`` with its random plan: balanced within one unit, shuffled, seeded."""
    if not 1 <= req.units <= MAX_UNITS:
        raise Invalid(f"generate_random_plan.units must be an integer from 1 to {MAX_UNITS}")
    if not 1 <= req.unit_minutes <= MAX_UNIT_MINUTES:
        raise Invalid(f"generate_random_plan.unit_duration_minutes must be from 1 to {MAX_UNIT_MINUTES}")
    if req.baseline_instance_id == req.candidate_instance_id:
        raise Invalid("comparison.candidate_instance_id must differ from comparison.baseline_instance_id")
    seed = req.seed if req.seed is not None else secrets.randbits(32)
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        for instance_id in (req.baseline_instance_id, req.candidate_instance_id):
            load_instance(s, app, instance_id)
        comparison = {"baseline_instance_id": req.baseline_instance_id, "candidate_instance_id": req.candidate_instance_id}
        test = _new_test(s, app, SWITCHBACK, req.test_id, req.name, req.description, [comparison])
        units = dom.random_plan(req.baseline_instance_id, req.candidate_instance_id, units=req.units,
                                unit_minutes=req.unit_minutes, seed=seed)
        test.plan = {"seed": seed, "unit_duration_minutes": req.unit_minutes, "units": units,
                     "start": req.start.isoformat() if req.start else None}
        test.start_time = req.start
        s.flush()
        return test


def _new_test(s: Session, app: Application, kind: str, test_id: str | None, name: str | None, description: str | None,
              comparisons: list[dict[str, Any]]) -> OnlineTest:
    test_id = check_user_id(test_id, f"{kind} test id") if test_id else new_id(kind)
    if s.scalar(select(OnlineTest.pk).where(OnlineTest.app_pk == app.pk, OnlineTest.kind == kind, OnlineTest.id == test_id)):
        raise Conflict(f"{kind} test {test_id!r} already exists")
    now = clock()
    test = OnlineTest(app_pk=app.pk, kind=kind, id=test_id, name=(name or "").strip() or test_id, description=description or "",
                      status=dom.DRAFT, comparisons=comparisons, created_at=now, updated_at=now)
    s.add(test)
    return test


# reading
@dataclass
class TestView:
    """A test with what its views show: its runs (tagged), summaries and counts."""

    test: OnlineTest
    runs: list[tuple[Run, OnlineTestRun]]
    summaries: list[dict[str, Any]]
    unit_summaries: list[dict[str, Any]] | None = None


def load_test(s: Session, app: Application, kind: str, test_id: str, *, lock: bool = False) -> OnlineTest:
    query = select(OnlineTest).where(OnlineTest.app_pk == app.pk, OnlineTest.kind == kind, OnlineTest.id == test_id)
    row = s.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(f"{kind} test {test_id!r} of application {app.id!r} does not exist")
    return row


def _baseline_count(s: Session, test: OnlineTest) -> int:
    return int(s.scalar(select(func.count()).select_from(OnlineTestRun)
                        .where(OnlineTestRun.test_pk == test.pk, OnlineTestRun.role == "baseline")) or 0)


def _plan_start(test: OnlineTest) -> datetime | None:
    raw = (test.plan or {}).get("start")
    return datetime.fromisoformat(raw) if raw else None


def refresh(s: Session, test: OnlineTest, now: datetime | None = None) -> None:
    """Apply the time- and count-driven status changes that are due.

    A test that reaches its end while candidate runs are still queued or running is ``stopping``
    (it takes no new runs) and completes when the last of them ends.
    """
    if test.status in dom.ENDED:
        return
    now = now or clock()
    if test.status == dom.STOPPING:
        if not _pending_candidates(s, test):
            _set_status(s, test, dom.COMPLETED, now)
        return
    start = _plan_start(test)
    end_of_plan = dom.plan_end(test.plan["units"], start) if test.kind == SWITCHBACK and start and test.plan else None
    life = dom.Lifecycle(status=test.status, start_time=test.start_time, end_time=test.end_time,
                         maximum_runs=test.maximum_runs if test.kind == SHADOW else None,
                         baseline_runs=_baseline_count(s, test) if test.kind == SHADOW else 0, plan_end=end_of_plan)
    target = life.next_status(now)
    if target == test.status:
        return
    if test.status == dom.DRAFT:  # (it may start and end within one read: a window that has passed)
        _mark_started(test, test.start_time or now)
    _set_status(s, test, target, now)


def _mark_started(test: OnlineTest, when: datetime) -> None:
    test.status, test.started_at = dom.STARTED, when
    if test.kind == SWITCHBACK and test.plan is not None and not test.plan.get("start"):
        test.plan = {**test.plan, "start": when.isoformat()}


def _pending_candidates(s: Session, test: OnlineTest) -> int:
    mine = select(OnlineTestRun.run_id).where(OnlineTestRun.test_pk == test.pk, OnlineTestRun.role == "candidate")
    pending = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)
    return int(s.scalar(select(func.count()).select_from(Run).where(Run.id.in_(mine), Run.status.in_(pending))) or 0)


def _set_status(s: Session, test: OnlineTest, status: str, now: datetime) -> None:
    if status == dom.COMPLETED and test.kind == SHADOW and _pending_candidates(s, test):
        status = dom.STOPPING
    test.status, test.updated_at = status, now
    if status in dom.ENDED:
        test.completed_at = now
    emit_event(s, test, status)


def _tagged_runs(s: Session, test: OnlineTest) -> list[tuple[Run, OnlineTestRun]]:
    rows = s.execute(select(Run, OnlineTestRun).join(OnlineTestRun, OnlineTestRun.run_id == Run.id)
                     .where(OnlineTestRun.test_pk == test.pk).order_by(OnlineTestRun.pk))
    return [(run, tag) for run, tag in rows.all()]


def _values(run: Run, tag: OnlineTestRun) -> dict[str, Any]:
    return {"instance_id": run.instance_id, "version_id": run.version_id, "role": tag.role, "unit_index": None if tag.unit_index is None else str(tag.unit_index),
            "status": run.status, "statistics": run.statistics, "metrics": run.metrics}


def _summaries(test: OnlineTest, runs: list[tuple[Run, OnlineTestRun]]) -> list[dict[str, Any]]:
    """Distribution summaries per instance (and version), as batch experiments report them."""
    return stats.group_summaries(["instance_id", "version_id"], [_values(r, t) for r, t in runs])


def view(s: Session, test: OnlineTest) -> TestView:
    runs = _tagged_runs(s, test)
    summaries = _summaries(test, runs)
    units = None
    if test.kind == SWITCHBACK:
        units = stats.group_summaries(["unit_index", "instance_id"], [_values(r, t) for r, t in runs if t.unit_index is not None])
    return TestView(test, runs, summaries, units)


def get_test(platform: Platform, principal: Principal, app_id: str, kind: str, test_id: str) -> TestView:
    with platform.db.session() as s:
        test = load_test(s, load_app(s, principal, app_id), kind, test_id)
        refresh(s, test)
        return view(s, test)


def list_tests(platform: Platform, principal: Principal, app_id: str, kind: str, *, token: str | None,
               limit: int | None) -> Page[OnlineTest]:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        query = select(OnlineTest).where(OnlineTest.app_pk == app.pk, OnlineTest.kind == kind)
        page: Page[OnlineTest] = paginate(s, query, created=OnlineTest.created_at, key=OnlineTest.id, token=token, limit=limit)
        for test in page.items:
            refresh(s, test)
        return page


def update_test(platform: Platform, principal: Principal, app_id: str, kind: str, test_id: str, *, name: str | None,
                description: str | None) -> TestView:
    if not (name or "").strip() and description is None:
        raise Invalid("send a name or a description to change")
    with platform.db.session() as s:
        test = load_test(s, load_app(s, principal, app_id), kind, test_id)
        if name is not None and name.strip():
            test.name = name.strip()
        if description is not None:
            test.description = description
        test.updated_at = clock()
        refresh(s, test)
        return view(s, test)


# lifecycle
def start_test(platform: Platform, principal: Principal, app_id: str, kind: str, test_id: str) -> OnlineTest:
    """Start a draft now (a started test is left as it is; an ended one cannot start again)."""
    with platform.db.session() as s:
        test = load_test(s, load_app(s, principal, app_id), kind, test_id, lock=True)
        now = clock()
        refresh(s, test, now)
        if test.status in dom.ENDED or test.status == dom.STOPPING:
            raise Conflict(f"{kind} test {test_id!r} has ended ({test.status}) and cannot start again")
        if test.status == dom.DRAFT:
            _mark_started(test, now)
            test.updated_at = now
            emit_event(s, test, test.status)
        return test


def stop_test(platform: Platform, principal: Principal, app_id: str, kind: str, test_id: str, intent: str) -> OnlineTest:
    """End the test: ``complete`` keeps what ran; ``cancel`` also stops candidate runs not yet ended."""
    if intent not in ("complete", "cancel"):
        raise Invalid("intent must be 'complete' or 'cancel'")
    with platform.db.session() as s:
        test = load_test(s, load_app(s, principal, app_id), kind, test_id, lock=True)
        now = clock()
        refresh(s, test, now)
        if test.status in dom.ENDED or (test.status == dom.STOPPING and intent == "complete"):
            raise Conflict(f"{kind} test {test_id!r} has already ended ({test.status})")
        stopped = _stop_candidates(s, test, now) if intent == "cancel" else []
        _set_status(s, test, dom.COMPLETED if intent == "complete" else dom.CANCELED, now)
    for run_id in stopped:
        platform.cancel_hook(run_id)
    return test


def _stop_candidates(s: Session, test: OnlineTest, now: datetime) -> list[str]:
    """Cancel the test's queued candidate runs; ask running ones to stop. Returns the running ones."""
    mine = select(OnlineTestRun.run_id).where(OnlineTestRun.test_pk == test.pk, OnlineTestRun.role == "candidate")
    s.execute(update(Run).where(Run.id.in_(mine), Run.status == RunStatus.QUEUED.value)
              .values(status=RunStatus.CANCELED.value, error=f"the {test.kind} test was canceled", finished_at=now,
                      cancel_requested=True))
    running = list(s.scalars(select(Run.id).where(Run.id.in_(mine), Run.status == RunStatus.RUNNING.value)))
    if running:
        s.execute(update(Run).where(Run.id.in_(running)).values(cancel_requested=True))
    return running


def delete_test(platform: Platform, principal: Principal, app_id: str, kind: str, test_id: str) -> None:
    """Delete the test; its candidate runs not yet ended are canceled, every run itself is kept."""
    with platform.db.session() as s:
        test = load_test(s, load_app(s, principal, app_id), kind, test_id, lock=True)
        stopped = _stop_candidates(s, test, clock())
        s.execute(delete(OnlineTestRun).where(OnlineTestRun.test_pk == test.pk))
        s.execute(delete(OnlineTest).where(OnlineTest.pk == test.pk))
    for run_id in stopped:
        platform.cancel_hook(run_id)


# submission: routing and mirroring
def submit_run(platform: Platform, principal: Principal, app_id: str, request: RunRequest, *,
               input_id: str | None = None) -> str:
    """Queue a run through ``runs.submission``; the started tests on its instance act on it there."""
    return submission.submit_run(platform, principal, app_id, request, input_id=input_id,
                                 hook=functools.partial(_route, platform, principal))


def _route(platform: Platform, principal: Principal, s: Session, app: Any, request: RunRequest) -> Routed:
    """A switchback test sends the run to its unit's instance; shadow tests mirror it once it has committed;
    a run attached to a batch experiment joins it and triggers no test."""
    instance_id = request.instance_id or app.default_instance or "latest"
    attached = _attach_to_batch(s, app, request.batch_experiment_id)
    tests = [] if attached else _live_tests(s, app.pk, instance_id)  # such runs trigger no test
    now = clock()
    routing, unit_tag = _switchback_route(s, tests, instance_id, now)
    routed = Routed(request)
    if routing is not None:
        if routing["instance_id"] != instance_id:
            routed.request = replace(request, instance_id=routing["instance_id"])
        routed.row = {"routing": routing, "experiment_id": routing["switchback_test_id"]}
    if attached:
        routed.row["experiment_id"] = attached
    if unit_tag is not None:
        test, role, unit_index = unit_tag
        routed.on_insert = lambda s, row: s.add(OnlineTestRun(
            test_pk=test.pk, run_id=row["id"], role=role, instance_id=row["instance_id"], unit_index=unit_index,
            created_at=now))
    shadows = [t.pk for t in tests if t.kind == SHADOW] if routing is None else []
    if shadows:
        routed.after_commit = functools.partial(_mirror_after_commit, platform, principal, app.id, shadows, request, now)
    return routed


def _mirror_after_commit(platform: Platform, principal: Principal, app_id: str, shadows: list[int], request: RunRequest,
                         now: datetime, row: dict[str, Any]) -> None:
    """The production run is committed and started: now its mirrors are made."""
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        tests = list(s.scalars(select(OnlineTest).where(OnlineTest.pk.in_(shadows)).order_by(OnlineTest.pk)))
        _mirror(platform, s, principal, app, tests, request, row, now)
    platform.start_queued()


def _attach_to_batch(s: Session, app: Any, batch_id: str | None) -> str | None:
    """The batch experiment a run is attached to (it must exist in the application)."""
    if not batch_id:
        return None
    if s.scalar(select(Experiment.pk).where(Experiment.app_pk == app.pk, Experiment.id == batch_id)) is None:
        raise NotFound(f"batch experiment {batch_id!r} of application {app.id!r} does not exist")
    return batch_id


_TESTS = OnlineTest.__table__
# Whether the application has a test that may be live: one indexed read that every submission makes, so
# the usual answer (none) costs no ORM query.
_MAY_BE_LIVE = select(exists().where(_TESTS.c.app_pk == bindparam("app_pk"),
                                     _TESTS.c.status.in_((dom.DRAFT, dom.STARTED, dom.STOPPING))))


def _live_tests(s: Session, app_pk: int, instance_id: str) -> list[OnlineTest]:
    """Tests of the application that may act on a run of ``instance_id`` now (locked: counts must hold)."""
    if not s.connection().execute(_MAY_BE_LIVE, {"app_pk": app_pk}).scalar():
        return []
    query = (select(OnlineTest).where(OnlineTest.app_pk == app_pk, OnlineTest.status.in_((dom.DRAFT, dom.STARTED, dom.STOPPING)))
             .order_by(OnlineTest.created_at, OnlineTest.pk))
    live = []
    for test in s.scalars(query):
        if not any(c.get("baseline_instance_id") == instance_id for c in test.comparisons or []):
            continue
        refresh(s, test)
        if test.status == dom.STARTED:
            live.append(test)
    return live


def _switchback_route(s: Session, tests: list[OnlineTest], instance_id: str,
                      now: datetime) -> tuple[dict[str, Any] | None, tuple[OnlineTest, str, int] | None]:
    for test in tests:
        start = _plan_start(test)
        if test.kind != SWITCHBACK or start is None or test.plan is None:
            continue
        unit = dom.unit_at(test.plan["units"], start, now)
        if unit is None:
            continue
        comparison = test.comparisons[0]
        role = "baseline" if unit["instance_id"] == comparison["baseline_instance_id"] else "candidate"
        routing = {"experiment_type": SWITCHBACK, "switchback_test_id": test.id, "requested_instance_id": instance_id,
                   "instance_id": unit["instance_id"], "unit_index": unit["index"], "arm": role}
        return routing, (test, role, int(unit["index"]))
    return None, None


def _mirror(platform: Platform, s: Session, principal: Principal, app: Any, tests: list[OnlineTest], request: RunRequest,
            baseline: dict[str, Any], now: datetime) -> None:
    """Each started shadow test on the run's instance gets the run as a baseline and one candidate run
    per candidate instance, with the same input and options, at the lowest priority."""
    for test in tests:
        if test.kind != SHADOW:
            continue
        s.refresh(test, with_for_update=True)  # two submissions at once must not both take the last slot
        if test.status != dom.STARTED or _baseline_count(s, test) >= (test.maximum_runs or 0):
            continue
        s.add(OnlineTestRun(test_pk=test.pk, run_id=baseline["id"], role="baseline", instance_id=baseline["instance_id"],
                            created_at=now))
        comparison = next(c for c in test.comparisons if c["baseline_instance_id"] == baseline["instance_id"])
        source = RunSource(key=baseline["input_key"], size=int(baseline["input_size"] or 0), format=baseline["input_format"])
        configuration = {k: v for k, v in request.configuration.items() if k != "queuing"}  # never refused for capacity
        if platform.settings.execution.shadow_class:  # off production capacity altogether
            configuration["execution_class"] = platform.settings.execution.shadow_class
        rows = []
        for candidate in comparison["candidate_instance_ids"]:
            mirrored = RunRequest(instance_id=candidate, options=dict(request.options), configuration=configuration,
                                  name=request.name, description=request.description)
            try:
                row = queued_run_row(platform, s, principal, app, mirrored, source=source, priority=CANDIDATE_PRIORITY,
                                     experiment=ExperimentFields(experiment_id=test.id))
            except RunyardError as exc:  # the production run goes ahead whatever happens to its mirror
                log.warning("shadow test %s: no mirror of run %s on %s: %s", test.id, baseline["id"], candidate, exc)
                continue
            row["routing"] = {"experiment_type": SHADOW, "shadow_test_id": test.id, "baseline_run_id": baseline["id"],
                              "baseline_instance_id": baseline["instance_id"], "arm": "candidate"}
            rows.append(row)
            s.add(OnlineTestRun(test_pk=test.pk, run_id=row["id"], role="candidate", instance_id=candidate,
                                source_run_id=baseline["id"], created_at=now))
        insert_runs(s, rows)
        s.flush()
        refresh(s, test, now)  # the run that reaches maximum_runs completes the test


# analysis (beyond the reference: its own endpoint, apart from the schemas the SDKs parse)
def analysis(platform: Platform, principal: Principal, app_id: str, kind: str, test_id: str) -> dict[str, Any]:
    """Per candidate and metric: shadow runs paired by mirrored input, switchback units compared unpaired."""
    if not analysis_lib.available():
        raise Conflict("this server cannot analyse: the analysis needs numpy and scipy (pip install 'runyard[analysis]')")
    v = get_test(platform, principal, app_id, kind, test_id)
    seed = int((v.test.plan or {}).get("seed") or 0) if kind == SWITCHBACK else 0
    values = {run.id: stats.indicator_values(run.statistics, run.metrics) for run, _ in v.runs if run.status == "succeeded"}
    comparisons = _shadow_pairs(v, values) if kind == SHADOW else _switchback_units(v, values)
    out = []
    for (baseline, candidate), per_metric in comparisons.items():
        metrics = {}
        for metric, (base_values, cand_values) in sorted(per_metric.items()):
            test = analysis_lib.paired if kind == SHADOW else analysis_lib.unpaired
            metrics[metric] = test(base_values, cand_values, seed=seed)
        out.append({"baseline_instance_id": baseline, "candidate_instance_id": candidate, "metrics": metrics})
    return {"id": test_id, "status": v.test.status, "alpha": analysis_lib.ALPHA, "power": analysis_lib.POWER,
            "comparisons": out}


def _shadow_pairs(v: TestView, values: dict[str, dict[str, float]]) -> dict[tuple[str, str], dict[str, tuple[list[float], list[float]]]]:
    instance_of = {run.id: run.instance_id for run, _ in v.runs}
    out: dict[tuple[str, str], dict[str, tuple[list[float], list[float]]]] = {}
    for run, tag in v.runs:
        if tag.role != "candidate" or tag.source_run_id is None:
            continue
        base, cand = values.get(tag.source_run_id), values.get(run.id)
        key = (instance_of.get(tag.source_run_id, ""), run.instance_id)
        per_metric = out.setdefault(key, {})
        if base is None or cand is None:
            continue
        for metric in sorted(set(base) & set(cand)):
            pair = per_metric.setdefault(metric, ([], []))
            pair[0].append(base[metric])
            pair[1].append(cand[metric])
    return out


def _switchback_units(v: TestView, values: dict[str, dict[str, float]]) -> dict[tuple[str, str], dict[str, tuple[list[float], list[float]]]]:
    """One value per unit and metric (the mean of the unit's runs): the unit is the sample."""
    comparison = v.test.comparisons[0]
    per_unit: dict[tuple[int, str], dict[str, list[float]]] = {}
    for run, tag in v.runs:
        if tag.unit_index is None or run.id not in values:
            continue
        for metric, value in values[run.id].items():
            per_unit.setdefault((tag.unit_index, tag.role), {}).setdefault(metric, []).append(value)
    arms: dict[str, tuple[list[float], list[float]]] = {}
    for (_, role), metrics in sorted(per_unit.items()):
        for metric, unit_values in metrics.items():
            arms.setdefault(metric, ([], []))[0 if role == "baseline" else 1].append(sum(unit_values) / len(unit_values))
    return {(comparison["baseline_instance_id"], comparison["candidate_instance_id"]): arms}
