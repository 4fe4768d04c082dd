"""How the CLI prints: JSON for machines, rich tables for people, progress on stderr.

Data goes to stdout and everything else (spinners, progress, notes, errors) to stderr, so
``runyard run result app run-1 > out.json`` stays clean.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)

STATUS_STYLE = {"succeeded": "green", "completed": "green", "failed": "red", "canceled": "yellow",
                "running": "cyan", "started": "cyan", "queued": "blue"}


# ------------------------------------------------------------------------------------ primitives


def to_data(value: Any) -> Any:
    """SDK models, lists and dicts as JSON-ready data (every field kept, so keys are stable)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list | tuple):
        return [to_data(v) for v in value]
    if isinstance(value, dict):
        return {k: to_data(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_data(value), indent=2, default=str) + "\n")
    sys.stdout.flush()


def show(renderable: Any) -> None:
    out.print(renderable)


def error(message: str) -> None:
    err.print(f"[bold red]error:[/bold red] [red]{escape(message)}[/red]", soft_wrap=True)


def note(message: str) -> None:
    """A remark for people, on stderr."""
    err.print(message, soft_wrap=True)


def when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def status(value: Any) -> Text:
    name = str(getattr(value, "value", value) or "")
    return Text(name, style=STATUS_STYLE.get(name, ""))


def table(*columns: str, title: str | None = None) -> Table:
    return Table(*columns, title=title, title_justify="left", header_style="bold")


def fields(pairs: Sequence[tuple[str, Any]], title: str | None = None) -> Table:
    """A two-column key/value table."""
    t = Table(show_header=False, title=title, title_justify="left", box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    for key, value in pairs:
        t.add_row(key, value if isinstance(value, Text) else ("" if value is None else str(value)))
    return t


def number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


# -------------------------------------------------------------------------------------- waiting


@contextmanager
def spinner(message: str, enabled: bool = True) -> Iterator[None]:
    """A spinner on stderr while a long call runs."""
    if not enabled:
        yield
        return
    with err.status(message):
        yield


@contextmanager
def progress(description: str, total: int | None, enabled: bool = True) -> Iterator[Any]:
    """A progress bar on stderr; yields ``update(completed, total=None, description=None)``."""
    if not enabled:
        yield lambda *a, **k: None
        return
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=err, transient=False)
    with bar:
        task = bar.add_task(description, total=total)

        def update(completed: int, total: int | None = None, description: str | None = None) -> None:
            changes: dict[str, Any] = {"completed": completed}
            if total is not None:
                changes["total"] = total
            if description is not None:
                changes["description"] = description
            bar.update(task, **changes)

        yield update


# ---------------------------------------------------------------------------- applications


def applications(items: Iterable[Any]) -> Table:
    t = table("id", "name", "description", "default instance", "created")
    for a in items:
        t.add_row(a.id, a.name, a.description or "", a.default_instance or "", when(a.created_at))
    return t


def application(a: Any) -> Table:
    return fields([("id", a.id), ("name", a.name), ("description", a.description), ("type", a.type),
                   ("default instance", a.default_instance), ("created", when(a.created_at)),
                   ("updated", when(a.updated_at))])


def versions(items: Iterable[Any]) -> Table:
    t = table("id", "name", "description", "executable", "created")
    for v in items:
        t.add_row(v.id, v.name, v.description, v.executable.id, when(v.created_at))
    return t


def instances(items: Iterable[Any]) -> Table:
    t = table("id", "name", "version", "execution class", "options", "created")
    for i in items:
        options = ", ".join(f"{k}={v}" for k, v in (i.configuration.options or {}).items())
        t.add_row(i.id, i.name, i.version_id, i.configuration.execution_class or "", options, when(i.created_at))
    return t


# ------------------------------------------------------------------------------------------ runs


def runs(items: Iterable[Any], *, with_app: bool = False) -> Table:
    t = table("id", *(("application",) if with_app else ()), "name", "status", "instance", "version", "created")
    for r in items:
        t.add_row(r.id, *((r.application_id or "",) if with_app else ()), r.name, status(r.status_v2),
                  r.application_instance_id or "", r.application_version_id or "", when(r.created_at))
    return t


def run_information(info: Any) -> Table:
    m = info.metadata
    rows: list[tuple[str, Any]] = [
        ("id", info.id), ("name", info.name), ("status", status(m.status_v2)), ("application", m.application_id),
        ("instance", m.application_instance_id), ("version", m.application_version_id), ("created", when(m.created_at)),
        ("duration", f"{m.duration / 1000:.3f}s" if m.duration else ""),
        ("input size", f"{int(m.input_size)} B"), ("output size", f"{int(m.output_size)} B"),
    ]
    if m.error:
        rows.append(("error", Text(m.error, style="red")))
    if getattr(info, "console_url", ""):
        rows.append(("console", info.console_url))
    return fields(rows)


def run_result(result: Any) -> Any:
    """The run's summary, then its output as JSON."""
    parts: list[Any] = [run_information(result)]
    if result.output is not None:
        parts.append(Text(json.dumps(result.output, indent=2, default=str)))
    return Group(*parts)


def queue(q: Any) -> Table:
    t = table("#", "run", "application", "instance", "status", "class", "created")
    for ix, r in enumerate(q.runs, start=1):
        t.add_row(str(ix), r.id, r.application_id, r.application_instance_id, status(r.status_v2), r.execution_class,
                  when(r.created_at))
    return t


# ------------------------------------------------------------------------------------- experiments


def input_sets(items: Iterable[Any]) -> Table:
    t = table("id", "name", "inputs", "created")
    for s in items:
        t.add_row(s.id, s.name, str(len(s.input_ids or s.inputs)), when(s.created_at))
    return t


def experiments(items: Iterable[Any]) -> Table:
    t = table("id", "name", "status", "runs", "created")
    for e in items:
        done = f"{e.number_of_completed_runs or 0}/{e.number_of_requested_runs or e.number_of_runs or 0}"
        t.add_row(e.id, e.name, status(e.status), done, when(e.created_at))
    return t


def experiment(e: Any, indicators: Sequence[str] = (), limit: int = 5) -> Any:
    """Counts, then per group (instance, version, option set[, scenario]) the main indicators."""
    groups = e.grouped_distributional_summaries or []
    succeeded = sum(g.get("number_of_runs_succeeded", 0) for g in groups)
    failed = sum(g.get("number_of_runs_failed", 0) for g in groups)
    head = fields([
        ("id", e.id), ("name", e.name), ("status", status(e.status)), ("input set", e.input_set_id),
        ("instances", ", ".join(e.instance_ids)),
        ("runs", f"{e.number_of_completed_runs or 0} of {e.number_of_requested_runs or e.number_of_runs or 0} done"
                 + (f", {succeeded} succeeded, {failed} failed" if groups else "")),
    ])
    if not groups:
        return Group(head, Text("no results yet", style="dim"))
    return Group(head, Text(""), summaries(groups, indicators, limit, e.option_sets or {}))


def summaries(groups: list[dict[str, Any]], indicators: Sequence[str], limit: int,
              option_sets: dict[str, dict[str, str]]) -> Table:
    keys = groups[0].get("group_keys") or []
    t = table(*[k.removesuffix("_id").replace("_", " ") for k in keys], "runs", "indicator", "mean", "min", "p50", "max",
              title="Results per group")
    for g in groups:
        values = [_group_value(k, str(v), option_sets) for k, v in zip(keys, g.get("group_values") or [], strict=False)]
        runs_cell = f"{g.get('number_of_runs_succeeded', 0)}/{g.get('number_of_runs_total', 0)}"
        names = [n for n in indicators if n in g.get("indicator_distributions", {})] if indicators else \
            list(g.get("indicator_keys") or [])[:limit]
        if not names:
            t.add_row(*values, runs_cell, Text("(none)", style="dim"), "", "", "", "")
        for ix, name in enumerate(names):
            d = g["indicator_distributions"][name]
            lead = values + [runs_cell] if ix == 0 else [""] * (len(values) + 1)
            t.add_row(*lead, name, number(d.get("mean")), number(d.get("min")),
                      number((d.get("percentiles") or {}).get("p50")), number(d.get("max")))
    return t


def _group_value(key: str, value: str, option_sets: dict[str, dict[str, str]]) -> str:
    """An option set shown with its values: ``scenario-1_0 (sleep=0)``."""
    if key == "option_set" and option_sets.get(value):
        return f"{value} ({', '.join(f'{k}={v}' for k, v in option_sets[value].items())})"
    return value


def acceptance_tests(items: Iterable[Any]) -> Table:
    t = table("id", "name", "control", "candidate", "status", "verdict", "created")
    for a in items:
        t.add_row(a.id, a.name, a.control.instance_id, a.candidate.instance_id, status(a.status), verdict(a),
                  when(a.created_at))
    return t


def verdict(test: Any) -> Text:
    if test.results is None:
        return Text("pending", style="dim")
    if test.results.error:
        return Text("error", style="bold red")
    return Text("pass", style="bold green") if test.results.passed else Text("fail", style="bold red")


OPERATORS = {"eq": "==", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def acceptance_test(a: Any) -> Any:
    """Control vs candidate per metric, each with its verdict, and the overall verdict."""
    head = fields([("id", a.id), ("name", a.name), ("status", status(a.status)),
                   ("control", f"{a.control.instance_id} ({a.control.version_id})"),
                   ("candidate", f"{a.candidate.instance_id} ({a.candidate.version_id})"), ("verdict", verdict(a))])
    results = a.results
    if results is None:
        return head
    if results.error:
        return Group(head, Text(results.error, style="red"))
    t = table("metric", "statistic", "check", "control", "candidate", "verdict", title="Metrics")
    for r in results.metric_results or []:
        m = r.metric
        tol = m.params.tolerance
        check = f"candidate {OPERATORS.get(m.params.operator.value, m.params.operator.value)} control"
        if tol.value:
            check += f" ± {tol.value * 100:g}%" if tol.type.value == "relative" else f" ± {tol.value:g}"
        t.add_row(m.field, m.statistic.value, check, number(_statistic(r.statistics.control, m.statistic.value)),
                  number(_statistic(r.statistics.candidate, m.statistic.value)),
                  Text("pass", style="bold green") if r.passed else Text("fail", style="bold red"))
    return Group(head, Text(""), t)


def _statistic(side: Any, name: str) -> float | None:
    for part in (side.distribution_summary_statistics, side.distribution_percentiles):
        if hasattr(part, name):
            return getattr(part, name)
    return None


# ------------------------------------------------------------------------------------------ keys


def keys(items: Iterable[Any]) -> Table:
    t = table("id", "account", "role", "name", "created", "revoked")
    for k in items:
        t.add_row(k.id, k.account_id, k.role, k.name, when(k.created_at),
                  Text(when(k.revoked_at), style="red") if k.revoked_at else "")
    return t


def analysis(found: dict[str, Any]) -> Table:
    """The analysis block of a shadow, switchback, batch or acceptance comparison."""
    t = table("baseline", "candidate", "metric", "n", "mean Δ", "95% CI", "p", "effect", "runs needed", "verdict",
              title=f"Candidate − baseline (α = {found.get('alpha')}, power {found.get('power')})")
    for c in found.get("comparisons", []):
        for metric, a in c.get("metrics", {}).items():
            n = a.get("n", f"{a.get('n_baseline', 0)}/{a.get('n_candidate', 0)}")
            ci = a.get("ci95")
            t.add_row(c["baseline_instance_id"], c["candidate_instance_id"], metric, str(n), number(a.get("mean_difference")),
                      f"[{number(ci[0])}, {number(ci[1])}]" if ci else "", number(a.get("p_value")),
                      number(a.get("effect_size")), number(a.get("runs_needed")), a.get("verdict", ""))
    return t
