"""``runyard acceptance``: acceptance tests, a candidate instance checked against a baseline."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from runyard.cli import render
from runyard.cli.base import Cli, CliError, command
from runyard.cli.batch import AppId, Timeout

app = typer.Typer(help="Acceptance tests: a candidate instance compared with a baseline, metric by metric.",
                  no_args_is_help=True)

TestId = Annotated[str, typer.Argument(help="The acceptance test id.", show_default=False)]
METRIC_HELP = ("A metric, FIELD:STATISTIC:OPERATOR[:TOLERANCE], e.g. result.value:mean:le:5% (candidate mean ≤ "
               "control mean + 5%). STATISTIC: mean, min, max, std, p50, …; OPERATOR: eq, ne, gt, ge, lt, le; "
               "TOLERANCE: absolute, or relative with %. Repeat for several.")


def parse_metric(spec: str) -> Any:
    """``result.value:mean:le:5%`` as an SDK ``Metric``."""
    from runyard import cloud

    parts = spec.split(":")
    if len(parts) not in (3, 4) or not parts[0]:
        raise CliError(f"--metric {spec!r} must look like FIELD:STATISTIC:OPERATOR[:TOLERANCE]")
    field, statistic, operator = parts[:3]
    tolerance = cloud.MetricTolerance(type=cloud.ToleranceType.undefined, value=0)
    if len(parts) == 4 and parts[3]:
        raw = parts[3].strip()
        try:
            value = float(raw.rstrip("%"))
        except ValueError:
            raise CliError(f"--metric {spec!r}: tolerance {raw!r} is not a number") from None
        relative = raw.endswith("%")
        tolerance = cloud.MetricTolerance(type=cloud.ToleranceType.relative if relative else cloud.ToleranceType.absolute,
                                          value=value / 100 if relative else value)
    try:
        return cloud.Metric(field=field, metric_type=cloud.MetricType.direct_comparison, statistic=statistic,
                            params=cloud.MetricParams(operator=operator, tolerance=tolerance))
    except ValueError:
        raise CliError(f"--metric {spec!r}: unknown statistic {statistic!r} or operator {operator!r}") from None


@command(app, "create")
def create(
    cli: Cli,
    app_id: AppId,
    test_id: Annotated[str, typer.Option("--id", help="Test id; also the id of its batch experiment.",
                                         show_default=False)],
    candidate: Annotated[str, typer.Option(help="The candidate instance.", show_default=False)],
    baseline: Annotated[str, typer.Option(help="The baseline (control) instance.", show_default=False)],
    metric: Annotated[list[str], typer.Option(help=METRIC_HELP, show_default=False)],
    input_set: Annotated[str | None, typer.Option(help="Input set to run (else: the existing batch experiment with "
                                                       "the same id).", show_default=False)] = None,
    name: Annotated[str | None, typer.Option(help="Display name (default: the id).", show_default=False)] = None,
    description: Annotated[str | None, typer.Option(help="A description.", show_default=False)] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Wait for the verdict and show it; exit 1 unless the "
                                                           "candidate passes.")] = False,
    timeout: Timeout = 0,
) -> None:
    """Start an acceptance test; with --wait, show the verdict per metric."""
    from runyard import cloud

    target = cli.app(app_id)
    metrics = [parse_metric(m) for m in metric]
    arguments = dict(candidate_instance_id=candidate, baseline_instance_id=baseline, id=test_id, metrics=metrics,
                     name=name or test_id, input_set_id=input_set, description=description)
    if not wait:
        test = target.new_acceptance_test(**arguments)
    else:
        polling = cloud.PollingOptions(initial_delay=0.2, delay=0.2, backoff=0.1, max_delay=2, jitter=0.1,
                                       max_duration=timeout if timeout > 0 else -1)
        with render.spinner(f"waiting for acceptance test {test_id}", enabled=not cli.json):
            test = target.new_acceptance_test_with_result(**arguments, polling_options=polling)
    cli.emit(test, lambda: render.acceptance_test(test))
    if wait and not (test.results and test.results.passed):
        render.error(f"acceptance test {test_id}: the candidate did not pass")
        raise typer.Exit(1)


@command(app, "get")
def get(cli: Cli, app_id: AppId, test_id: TestId) -> None:
    """Show an acceptance test: control vs candidate per metric, and the verdict."""
    test = cli.app(app_id).acceptance_test(test_id)
    cli.emit(test, lambda: render.acceptance_test(test))


@command(app, "list")
def list_(cli: Cli, app_id: AppId) -> None:
    """List an application's acceptance tests."""
    items = cli.app(app_id).list_acceptance_tests()
    cli.emit(items, lambda: render.acceptance_tests(items))


@command(app, "analysis")
def analysis(cli: Cli, app_id: AppId, test_id: TestId) -> None:
    """The candidate against the control per metric, paired by input: CI, p-value, effect size, verdict."""
    found = cli.app(app_id).acceptance_test_analysis(test_id)
    cli.emit(found, lambda: render.analysis(found))
