"""``runyard scenario``: scenario tests, an input set run under combinations of option values."""

from __future__ import annotations

from typing import Annotated

import typer

from runyard.cli import render
from runyard.cli.base import Cli, CliError, command
from runyard.cli.batch import AppId, ExperimentId, Indicators, Timeout, Wait, wait_for

app = typer.Typer(help="Scenario tests: an input set run under every combination of option values.",
                  no_args_is_help=True)


def _configurations(options: list[str] | None) -> list[object] | None:
    from runyard import cloud

    out = []
    for spec in options or []:
        name, sep, values = spec.partition("=")
        if not sep or not name.strip() or not values:
            raise CliError(f"--option {spec!r} must look like name=value1,value2")
        out.append(cloud.ScenarioConfiguration(name=name.strip(), values=values.split(",")))
    return out or None


@command(app, "create")
def create(
    cli: Cli,
    app_id: AppId,
    input_set: Annotated[str, typer.Option(help="The input set to run.", show_default=False)],
    instance: Annotated[str, typer.Option(help="The instance to run it on.", show_default=False)],
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="An option and the values to try, name=v1,v2; repeat for several (all combinations run).",
        show_default=False)] = None,
    repetitions: Annotated[int, typer.Option(help="Extra runs of every combination.", min=0)] = 0,
    experiment_id: Annotated[str | None, typer.Option("--id", help="Scenario test id (default: generated).",
                                                      show_default=False)] = None,
    name: Annotated[str | None, typer.Option(help="Display name (default: the id).", show_default=False)] = None,
    description: Annotated[str | None, typer.Option(help="A description.", show_default=False)] = None,
    wait: Wait = False,
    timeout: Timeout = 0,
    indicator: Indicators = None,
) -> None:
    """Start a scenario test."""
    from runyard import cloud

    scenario = cloud.Scenario(
        scenario_input=cloud.ScenarioInput(scenario_input_type=cloud.ScenarioInputType.INPUT_SET,
                                           scenario_input_data=input_set),
        instance_id=instance, configuration=_configurations(option))
    target = cli.app(app_id)
    new_id = target.new_scenario_test(id=experiment_id, name=name or "", scenarios=[scenario],  # type: ignore[arg-type]
                                      description=description, repetitions=repetitions)
    if not wait:
        cli.emit({"id": new_id}, lambda: new_id)
        return
    done = wait_for(cli, new_id, target.scenario_test, timeout)
    cli.emit(done, lambda: render.experiment(done, indicator or ()))


@command(app, "get")
def get(cli: Cli, app_id: AppId, experiment_id: ExperimentId, indicator: Indicators = None,
        wait: Wait = False, timeout: Timeout = 0) -> None:
    """Show a scenario test: run counts and the main indicators per scenario and option set."""
    target = cli.app(app_id)
    found = wait_for(cli, experiment_id, target.scenario_test, timeout) if wait else target.scenario_test(experiment_id)
    cli.emit(found, lambda: render.experiment(found, indicator or ()))


@command(app, "list")
def list_(cli: Cli, app_id: AppId) -> None:
    """List an application's scenario tests."""
    items = cli.app(app_id).list_scenario_tests()
    cli.emit(items, lambda: render.experiments(items))
