"""``runyard batch``: batch experiments, the same inputs run on several instances."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import typer

from runyard.cli import render
from runyard.cli.base import Cli, command

app = typer.Typer(help="Batch experiments: an input set run on several instances, summarized per group.",
                  no_args_is_help=True)

AppId = Annotated[str, typer.Argument(help="The application id.", show_default=False)]
ExperimentId = Annotated[str, typer.Argument(help="The experiment id.", show_default=False)]
Indicators = Annotated[list[str] | None, typer.Option(
    "--indicator", help="Indicator to show, e.g. result.value; repeat for several (default: the first five).",
    show_default=False)]
Wait = Annotated[bool, typer.Option("--wait", "-w", help="Show progress until every run has ended, then the results.")]
Timeout = Annotated[float, typer.Option(help="Give up waiting after this many seconds (0: no limit).")]
DONE = ("completed", "failed", "canceled")
POLL_SECONDS = 0.5


@command(app, "create")
def create(
    cli: Cli,
    app_id: AppId,
    input_set: Annotated[str, typer.Option(help="The input set to run.", show_default=False)],
    instance: Annotated[list[str], typer.Option(help="An instance to run it on; repeat for several.",
                                                show_default=False)],
    experiment_id: Annotated[str | None, typer.Option("--id", help="Experiment id (default: generated).",
                                                      show_default=False)] = None,
    name: Annotated[str | None, typer.Option(help="Display name (default: the id).", show_default=False)] = None,
    description: Annotated[str | None, typer.Option(help="A description.", show_default=False)] = None,
    wait: Wait = False,
    timeout: Timeout = 0,
    indicator: Indicators = None,
) -> None:
    """Start a batch experiment: every input of the set on every instance."""
    target = cli.app(app_id)
    new_id = target.new_batch_experiment(name=name or "", input_set_id=input_set, instance_ids=instance,
                                         description=description, id=experiment_id)
    if not wait:
        cli.emit({"id": new_id}, lambda: new_id)
        return
    done = wait_for(cli, new_id, target.batch_experiment, timeout)
    cli.emit(done, lambda: render.experiment(done, indicator or ()))


@command(app, "get")
def get(cli: Cli, app_id: AppId, experiment_id: ExperimentId, indicator: Indicators = None,
        wait: Wait = False, timeout: Timeout = 0) -> None:
    """Show a batch experiment: run counts and a summary of the main indicators per group."""
    target = cli.app(app_id)
    found = wait_for(cli, experiment_id, target.batch_experiment, timeout) if wait else target.batch_experiment(experiment_id)
    cli.emit(found, lambda: render.experiment(found, indicator or ()))


@command(app, "analysis")
def analysis(cli: Cli, app_id: AppId, experiment_id: ExperimentId,
             baseline: Annotated[str | None, typer.Option(help="The baseline instance (default: the experiment's first).",
                                                          show_default=False)] = None) -> None:
    """Each instance against the baseline, paired by input: CI, p-value, effect size, runs needed, verdict."""
    found = cli.app(app_id).batch_experiment_analysis(experiment_id, baseline_instance_id=baseline)
    cli.emit(found, lambda: render.analysis(found))


@command(app, "list")
def list_(cli: Cli, app_id: AppId) -> None:
    """List an application's batch experiments."""
    items = cli.app(app_id).list_batch_experiments()
    cli.emit(items, lambda: render.experiments(items))


def wait_for(cli: Cli, experiment_id: str, fetch: Callable[[str], Any], timeout: float) -> Any:
    """Poll ``fetch`` with a progress bar (runs done of runs requested) until the experiment ends."""
    deadline = time.monotonic() + timeout if timeout > 0 else None
    with render.progress(f"experiment {experiment_id}", total=None, enabled=not cli.json) as update:
        while True:
            found = fetch(experiment_id)
            total = found.number_of_requested_runs or found.number_of_runs or None
            update(found.number_of_completed_runs or 0, total=total)
            if found.status in DONE:
                return found
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"experiment {experiment_id} is still {found.status} after {timeout:g}s")
            time.sleep(POLL_SECONDS)
