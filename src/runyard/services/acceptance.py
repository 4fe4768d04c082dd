"""Acceptance tests: a batch experiment's candidate compared with its control, metric by metric.

The comparison itself is ``domain.acceptance``; a test is evaluated when its experiment ends
(``experiments.refresh``) or when it is created for an experiment that has already ended.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.domain import stats
from runyard.domain.errors import Conflict, Invalid, NotFound
from runyard.services.apps import load_app
from runyard.services.experiments import emit_status, evaluate_acceptance, load_experiment, refresh
from runyard.services.instances import load_instance
from runyard.services.pagination import Page, paginate
from runyard.services.platform import Platform, Principal
from runyard.storage.db import AcceptanceTest, Application, Experiment


def _check_metrics(metrics: Any) -> list[dict[str, Any]]:
    """Metrics in their full wire shape: what is stored is echoed back, and both SDKs require every
    key of a metric (a missing tolerance becomes ``{"type": "", "value": 0}``, i.e. none)."""
    if not isinstance(metrics, list) or not metrics:
        raise Invalid("metrics must be a non-empty list")
    out = []
    for i, m in enumerate(metrics):
        if not isinstance(m, dict) or not isinstance(m.get("field"), str) or not m["field"]:
            raise Invalid(f"metrics[{i}].field must be a non-empty string")
        if m.get("metric_type", "direct-comparison") != "direct-comparison":
            raise Invalid(f"metrics[{i}].metric_type must be direct-comparison")
        if m.get("statistic") not in stats.STATISTICS:
            raise Invalid(f"metrics[{i}].statistic must be one of {', '.join(stats.STATISTICS)}")
        params = m.get("params") if isinstance(m.get("params"), dict) else {}
        if params.get("operator") not in ("eq", "gt", "ge", "lt", "le", "ne"):
            raise Invalid(f"metrics[{i}].params.operator must be one of eq, gt, ge, lt, le, ne")
        tol = params.get("tolerance") or {}
        value = stats.numeric(tol.get("value", 0)) if isinstance(tol, dict) else None
        if value is None or value < 0 or tol.get("type", "") not in ("", "absolute", "relative"):
            raise Invalid(f"metrics[{i}].params.tolerance must be {{type: absolute|relative, value: a number ≥ 0}}")
        out.append({"field": m["field"], "metric_type": "direct-comparison", "statistic": m["statistic"],
                    "params": {"operator": params["operator"], "tolerance": {"type": tol.get("type", ""), "value": value}}})
    return out


def create_acceptance(platform: Platform, principal: Principal, app_id: str, *, test_id: str | None, experiment_id: str | None,
                      name: str | None, description: str | None, control: Any, candidate: Any, metrics: Any) -> AcceptanceTest:
    metrics = _check_metrics(metrics)
    sides = {}
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        exp_id = experiment_id or test_id
        if not exp_id:
            raise Invalid("experiment_id is required")
        if test_id and test_id != exp_id:
            raise Invalid("the acceptance test id must equal its batch experiment's id")
        exp = load_experiment(s, app, exp_id)
        for label, side in (("control", control), ("candidate", candidate)):
            if not isinstance(side, dict) or not side.get("instance_id"):
                raise Invalid(f"{label}.instance_id is required")
            inst = load_instance(s, app, side["instance_id"])
            sides[label] = {"instance_id": inst.id, "version_id": side.get("version_id") or inst.version_id or ""}
        if s.scalar(select(AcceptanceTest.pk).where(AcceptanceTest.app_pk == app.pk, AcceptanceTest.id == exp_id)):
            raise Conflict(f"acceptance test {exp_id!r} already exists")
        test = AcceptanceTest(app_pk=app.pk, id=exp_id, experiment_id=exp_id, name=(name or "").strip() or exp.name,
                              description=description or "", control=sides["control"], candidate=sides["candidate"], metrics=metrics)
        s.add(test)
        s.flush()
        if exp.status == "started":
            emit_status(s, exp, app, account_id=principal.account_id, acceptance=test)
        refresh(s, exp)
        if exp.status != "started" and test.results is None:
            evaluate_acceptance(s, test, exp)
        return test


def load_acceptance(session: Session, app: Application, test_id: str) -> AcceptanceTest:
    row = session.scalar(select(AcceptanceTest).where(AcceptanceTest.app_pk == app.pk, AcceptanceTest.id == test_id))
    if row is None:
        raise NotFound(f"acceptance test {test_id!r} of application {app.id!r} does not exist")
    return row


def get_acceptance(platform: Platform, principal: Principal, app_id: str, test_id: str) -> AcceptanceTest:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        test = load_acceptance(s, app, test_id)
        exp = s.scalar(select(Experiment).where(Experiment.app_pk == app.pk, Experiment.id == test.experiment_id))
        if exp is not None:
            refresh(s, exp)
        _reread_started(s, [test])
        return test


def _reread_started(session: Session, tests: list[AcceptanceTest]) -> None:
    """Tests still read as started: the delivery worker may have completed their experiment (and them)
    between the test's read and the experiment's, which ``refresh`` then found done; read them again."""
    started = [t for t in tests if t.status == "started"]
    if started:
        session.flush()
        for test in started:
            session.refresh(test)


def list_acceptance(platform: Platform, principal: Principal, app_id: str, *, token: str | None, limit: int | None) -> Page[AcceptanceTest]:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        query = select(AcceptanceTest).where(AcceptanceTest.app_pk == app.pk)
        page: Page[AcceptanceTest] = paginate(s, query, created=AcceptanceTest.created_at, key=AcceptanceTest.id, token=token, limit=limit)
        pending = [t.experiment_id for t in page.items if t.status == "started"]
        if pending:  # bring their status and results up to date, as reading one test does
            for exp in s.scalars(select(Experiment).where(Experiment.app_pk == app.pk, Experiment.id.in_(pending))):
                refresh(s, exp)
            _reread_started(s, page.items)
        return page


def update_acceptance(platform: Platform, principal: Principal, app_id: str, test_id: str, *, name: str | None, description: str | None) -> AcceptanceTest:
    with platform.db.session() as s:
        test = load_acceptance(s, load_app(s, principal, app_id), test_id)
        if name is not None:
            test.name = name.strip() or test.id
        if description is not None:
            test.description = description
        test.updated_at = datetime.now(UTC)
        return test


def delete_acceptance(platform: Platform, principal: Principal, app_id: str, test_id: str) -> None:
    with platform.db.session() as s:
        s.delete(load_acceptance(s, load_app(s, principal, app_id), test_id))
