"""``runyard shadow``, ``runyard switchback`` and ``runyard ensemble``: experiments on live traffic and
ensembles of runs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.text import Text

from runyard.cli import render
from runyard.cli.base import Cli, CliError, command

shadow = typer.Typer(help="Shadow tests: runs on a baseline instance mirrored to candidate instances.", no_args_is_help=True)
switchback = typer.Typer(help="Switchback tests: runs on a baseline sent to the baseline or the candidate, unit by "
                              "unit of a random plan.", no_args_is_help=True)
ensemble = typer.Typer(help="Ensemble definitions: run groups fanned out on one input, the best child by the rules.",
                       no_args_is_help=True)

AppId = Annotated[str, typer.Argument(help="The application id.", show_default=False)]
TestId = Annotated[str, typer.Argument(help="The test id.", show_default=False)]
DefinitionId = Annotated[str, typer.Argument(help="The ensemble definition id.", show_default=False)]
Name = Annotated[str | None, typer.Option(help="Display name (default: the id).", show_default=False)]
Description = Annotated[str | None, typer.Option(help="A description.", show_default=False)]
Intent = Annotated[str, typer.Option(help="complete: keep what ran; cancel: also cancel candidate runs not yet ended.")]


def _time(value: str | None, what: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{what} {value!r} is not an ISO 8601 date-time") from None


def _runs_table(runs: list[Any]) -> Any:
    t = render.table("run", "arm", "instance", "unit", "status", "mirrors", title="Runs")
    for r in runs:
        t.add_row(r.id, r.arm or "", r.application_instance_id or "", "" if r.unit_index is None else str(r.unit_index),
                  render.status(r.status_v2), r.baseline_run_id or "")
    return t


def _tests_table(items: list[Any], id_attr: str) -> Any:
    t = render.table("id", "name", "status", "created")
    for x in items:
        t.add_row(getattr(x, id_attr) or "", x.name or "", render.status(x.status), render.when(x.created_at))
    return t


def _results(test: Any, head: Any) -> Any:
    parts = [head]
    groups = test.grouped_distributional_summaries or []
    if groups:
        parts += [Text(""), render.summaries(groups, (), 5, {})]
    if test.runs:
        parts += [Text(""), _runs_table(test.runs)]
    return Group(*parts)


# shadow tests
@command(shadow, "create")
def shadow_create(
    cli: Cli,
    app_id: AppId,
    baseline: Annotated[str, typer.Option(help="The baseline (production) instance.", show_default=False)],
    candidate: Annotated[list[str], typer.Option(help="A candidate instance; repeat for several.", show_default=False)],
    maximum_runs: Annotated[int, typer.Option(help="End after this many baseline runs were mirrored (1–300).",
                                              min=1, max=300, show_default=False)],
    test_id: Annotated[str | None, typer.Option("--id", help="Test id (default: generated).", show_default=False)] = None,
    name: Name = None,
    description: Description = None,
    start_time: Annotated[str | None, typer.Option(help="Start at this time (ISO 8601) instead of on `start`.",
                                                   show_default=False)] = None,
    end_time: Annotated[str | None, typer.Option(help="End at this time (ISO 8601).", show_default=False)] = None,
    start: Annotated[bool, typer.Option("--start", help="Start it now.")] = False,
) -> None:
    """Create a shadow test (a draft unless --start)."""
    from runyard import cloud

    target = cli.app(app_id)
    made = target.new_shadow_test(
        comparisons={baseline: candidate},
        termination_events=cloud.TerminationEvents(maximum_runs=maximum_runs, time=_time(end_time, "--end-time")),
        shadow_test_id=test_id, name=name, description=description,
        start_events=cloud.StartEvents(time=_time(start_time, "--start-time")) if start_time else None)
    if start:
        target.start_shadow_test(made.shadow_test_id)
        made = target.shadow_test(made.shadow_test_id)
    cli.emit(made, lambda: _shadow(made))


def _shadow(t: Any) -> Any:
    comparisons = "; ".join(f"{c.baseline_instance_id} → {', '.join(c.candidate_instance_ids)}" for c in t.comparisons or [])
    end = t.termination_events
    head = render.fields([
        ("id", t.shadow_test_id), ("name", t.name), ("status", render.status(t.status)), ("comparisons", comparisons),
        ("ends", f"after {end.maximum_runs} baseline runs" + (f" or at {render.when(end.time)}" if end and end.time else "")
         if end else ""),
        ("runs", f"{t.number_of_baseline_runs or 0} baseline, {t.number_of_candidate_runs or 0} candidate"),
        ("started", render.when(t.started_at)), ("completed", render.when(t.completed_at)),
    ])
    return _results(t, head)


@command(shadow, "get")
def shadow_get(cli: Cli, app_id: AppId, test_id: TestId) -> None:
    """Show a shadow test: status, summaries per instance, and its runs tagged baseline or candidate."""
    found = cli.app(app_id).shadow_test(test_id)
    cli.emit(found, lambda: _shadow(found))


@command(shadow, "list")
def shadow_list(cli: Cli, app_id: AppId) -> None:
    """List an application's shadow tests."""
    items = cli.app(app_id).list_shadow_tests()
    cli.emit(items, lambda: _tests_table(items, "shadow_test_id"))


@command(shadow, "start")
def shadow_start(cli: Cli, app_id: AppId, test_id: TestId) -> None:
    """Start mirroring now."""
    cli.app(app_id).start_shadow_test(test_id)
    cli.emit({"id": test_id, "started": True}, lambda: f"shadow test {test_id} started")


@command(shadow, "stop")
def shadow_stop(cli: Cli, app_id: AppId, test_id: TestId, intent: Intent = "complete") -> None:
    """End a shadow test."""
    cli.app(app_id).stop_shadow_test(test_id, intent)
    cli.emit({"id": test_id, "stopped": intent}, lambda: f"shadow test {test_id} stopped ({intent})")


@command(shadow, "delete")
def shadow_delete(cli: Cli, app_id: AppId, test_id: TestId) -> None:
    """Delete a shadow test (its runs are kept)."""
    cli.app(app_id).delete_shadow_test(test_id)
    cli.emit({"id": test_id, "deleted": True}, lambda: f"shadow test {test_id} deleted")


@command(shadow, "analysis")
def shadow_analysis(cli: Cli, app_id: AppId, test_id: TestId) -> None:
    """Candidate against baseline per metric, paired by mirrored input: CI, p-value, effect size, verdict."""
    found = cli.app(app_id).shadow_test_analysis(test_id)
    cli.emit(found, lambda: render.analysis(found))


# switchback tests
@command(switchback, "create")
def switchback_create(
    cli: Cli,
    app_id: AppId,
    baseline: Annotated[str, typer.Option(help="The baseline (production) instance.", show_default=False)],
    candidate: Annotated[str, typer.Option(help="The candidate instance.", show_default=False)],
    units: Annotated[int, typer.Option(help="Number of plan units (1–1000).", min=1, max=1000, show_default=False)],
    unit_minutes: Annotated[float, typer.Option(help="Length of a unit in minutes (1–10080).", show_default=False)],
    test_id: Annotated[str | None, typer.Option("--id", help="Test id (default: generated).", show_default=False)] = None,
    name: Name = None,
    description: Description = None,
    plan_start: Annotated[str | None, typer.Option(help="When the first unit begins (ISO 8601; default: when the "
                                                        "test starts).", show_default=False)] = None,
    start: Annotated[bool, typer.Option("--start", help="Start it now.")] = False,
) -> None:
    """Create a switchback test with a random plan, balanced within one unit."""
    from runyard import cloud

    target = cli.app(app_id)
    made = target.new_switchback_test(
        comparison=cloud.TestComparisonSingle(baseline_instance_id=baseline, candidate_instance_id=candidate),
        unit_duration_minutes=unit_minutes, units=units, switchback_test_id=test_id, name=name, description=description,
        start=_time(plan_start, "--plan-start"))
    if start:
        target.start_switchback_test(made.switchback_test_id)
        made = target.switchback_test(made.switchback_test_id)
    cli.emit(made, lambda: _switchback(made))


def _switchback(t: Any) -> Any:
    plan = t.plan
    units = plan.units if plan and plan.units else []
    order = " ".join("B" if t.comparison and u.instance_id == t.comparison.baseline_instance_id else "C" for u in units)
    head = render.fields([
        ("id", t.switchback_test_id), ("name", t.name), ("status", render.status(t.status)),
        ("baseline", t.comparison.baseline_instance_id if t.comparison else ""),
        ("candidate", t.comparison.candidate_instance_id if t.comparison else ""),
        ("plan", f"{len(units)} units from {render.when(plan.start) if plan and plan.start else 'the start'}: {order}"),
        ("seed", plan.seed if plan else None),
        ("started", render.when(t.started_at)), ("completed", render.when(t.completed_at)),
    ])
    return _results(t, head)


@command(switchback, "get")
def switchback_get(cli: Cli, app_id: AppId, test_id: TestId) -> None:
    """Show a switchback test: its plan (B = baseline, C = candidate), summaries per arm, its runs."""
    found = cli.app(app_id).switchback_test(test_id)
    cli.emit(found, lambda: _switchback(found))


@command(switchback, "list")
def switchback_list(cli: Cli, app_id: AppId) -> None:
    """List an application's switchback tests."""
    items = cli.app(app_id).list_switchback_tests()
    cli.emit(items, lambda: _tests_table(items, "switchback_test_id"))


@command(switchback, "start")
def switchback_start(cli: Cli, app_id: AppId, test_id: TestId) -> None:
    """Start routing now."""
    cli.app(app_id).start_switchback_test(test_id)
    cli.emit({"id": test_id, "started": True}, lambda: f"switchback test {test_id} started")


@command(switchback, "stop")
def switchback_stop(cli: Cli, app_id: AppId, test_id: TestId, intent: Intent = "complete") -> None:
    """End a switchback test."""
    cli.app(app_id).stop_switchback_test(test_id, intent)
    cli.emit({"id": test_id, "stopped": intent}, lambda: f"switchback test {test_id} stopped ({intent})")


@command(switchback, "delete")
def switchback_delete(cli: Cli, app_id: AppId, test_id: TestId) -> None:
    """Delete a switchback test (its runs are kept)."""
    cli.app(app_id).delete_switchback_test(test_id)
    cli.emit({"id": test_id, "deleted": True}, lambda: f"switchback test {test_id} deleted")


@command(switchback, "analysis")
def switchback_analysis(cli: Cli, app_id: AppId, test_id: TestId) -> None:
    """Candidate units against baseline units per metric: CI, p-value, effect size, verdict."""
    found = cli.app(app_id).switchback_test_analysis(test_id)
    cli.emit(found, lambda: render.analysis(found))


# ensembles
def parse_group(spec: str) -> Any:
    """``ID:INSTANCE[:REPETITIONS][:k=v,k=v]``."""
    from runyard import cloud

    parts = spec.split(":")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise CliError(f"--group {spec!r} must look like ID:INSTANCE[:REPETITIONS][:name=value,…]")
    reps = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 0
    options = dict(p.split("=", 1) for p in parts[3].split(",") if "=" in p) if len(parts) > 3 else None
    return cloud.RunGroup(id=parts[0], instance_id=parts[1], repetitions=reps, options=options)


def parse_rule(spec: str, index: int) -> Any:
    """``PATH:min|max[:TOLERANCE]`` (tolerance absolute, or relative with %)."""
    from runyard import cloud

    parts = spec.split(":")
    if len(parts) not in (2, 3) or parts[1] not in ("min", "max", "minimize", "maximize"):
        raise CliError(f"--rule {spec!r} must look like PATH:min|max[:TOLERANCE]")
    raw = parts[2] if len(parts) == 3 else "0"
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        raise CliError(f"--rule {spec!r}: tolerance {raw!r} is not a number") from None
    relative = raw.endswith("%")
    return cloud.EvaluationRule(
        id=f"rule-{index}", statistics_path=parts[0], index=index,
        objective=cloud.RuleObjective.maximize if parts[1].startswith("max") else cloud.RuleObjective.minimize,
        tolerance=cloud.RuleTolerance(value=value / 100 if relative else value,
                                      type=cloud.RuleToleranceType.relative if relative else cloud.RuleToleranceType.absolute))


def _definition(d: Any) -> Any:
    groups = render.table("group", "instance", "children", "options", title="Run groups")
    for g in d.run_groups:
        groups.add_row(g.id, g.instance_id, str((g.repetitions or 0) + 1), json.dumps(g.options or {}))
    rules = render.table("#", "statistic", "objective", "tolerance", title="Rules, in order")
    for r in sorted(d.rules, key=lambda r: r.index):
        tol = f"{r.tolerance.value * 100:g}%" if r.tolerance.type == "relative" else f"{r.tolerance.value:g}"
        rules.add_row(str(r.index), r.statistics_path, str(r.objective), tol)
    return Group(render.fields([("id", d.id), ("name", d.name), ("description", d.description)]), groups, rules)


@command(ensemble, "create")
def ensemble_create(
    cli: Cli,
    app_id: AppId,
    group: Annotated[list[str], typer.Option(help="A run group, ID:INSTANCE[:REPETITIONS][:name=value,…]; repeat.",
                                             show_default=False)],
    rule: Annotated[list[str] | None, typer.Option(help="A rule, PATH:min|max[:TOLERANCE] (e.g. $.result.value:min:5%); "
                                                        "repeat; applied in the order given.", show_default=False)] = None,
    definition_id: Annotated[str | None, typer.Option("--id", help="Definition id (default: generated).",
                                                      show_default=False)] = None,
    name: Name = None,
    description: Description = None,
) -> None:
    """Define an ensemble."""
    made = cli.app(app_id).new_ensemble_definition(
        run_groups=[parse_group(g) for g in group], rules=[parse_rule(r, i) for i, r in enumerate(rule or [])],
        id=definition_id, name=name, description=description)
    cli.emit(made, lambda: _definition(made))


@command(ensemble, "get")
def ensemble_get(cli: Cli, app_id: AppId, definition_id: DefinitionId) -> None:
    """Show an ensemble definition."""
    found = cli.app(app_id).ensemble_definition(definition_id)
    cli.emit(found, lambda: _definition(found))


@command(ensemble, "list")
def ensemble_list(cli: Cli, app_id: AppId) -> None:
    """List an application's ensemble definitions."""
    items = cli.app(app_id).list_ensemble_definitions()

    def table() -> Any:
        t = render.table("id", "name", "groups", "rules", "created")
        for d in items:
            t.add_row(d.id, d.name, str(len(d.run_groups)), str(len(d.rules)), render.when(d.created_at))
        return t

    cli.emit(items, table)


@command(ensemble, "delete")
def ensemble_delete(cli: Cli, app_id: AppId, definition_id: DefinitionId) -> None:
    """Delete an ensemble definition."""
    cli.app(app_id).delete_ensemble_definition(definition_id)
    cli.emit({"id": definition_id, "deleted": True}, lambda: f"ensemble definition {definition_id} deleted")


@command(ensemble, "result")
def ensemble_result(cli: Cli, app_id: AppId, run_id: Annotated[str, typer.Argument(help="The ensemble run id.")]) -> None:
    """Show an ensemble run: its children, how each rule narrowed them, and the winner."""
    found = cli.app(app_id).ensemble_run(run_id)

    def view() -> Any:
        t = render.table("child", "group", "rep", "status", "winner", title=f"Ensemble run {run_id}")
        for c in found.get("child_runs", []):
            t.add_row(c["id"], c.get("run_group_id") or "", str(c.get("repetition")), render.status(c.get("status_v2")),
                      "★" if c["id"] == found.get("winner_run_id") else "")
        rules = render.table("rule", "best", "kept", title="Rules")
        for ev in found.get("rule_evaluations", []):
            rules.add_row(ev["rule_id"], render.number(ev.get("best")), ", ".join(ev.get("kept") or []))
        return Group(t, rules)

    cli.emit(found, view)
