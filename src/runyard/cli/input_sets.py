"""``runyard input-set``: named collections of inputs that experiments run over."""

from __future__ import annotations

from typing import Annotated

import typer

from runyard.cli import render
from runyard.cli.base import Cli, CliError, command

app = typer.Typer(help="Input sets: the inputs batch experiments, scenario and acceptance tests run over.",
                  no_args_is_help=True)

AppId = Annotated[str, typer.Argument(help="The application id.", show_default=False)]


@command(app, "create")
def create(
    cli: Cli,
    app_id: AppId,
    run: Annotated[list[str] | None, typer.Option("--run", help="A run whose input joins the set; repeat for several.",
                                                  show_default=False)] = None,
    instance: Annotated[str | None, typer.Option(help="Take the inputs of this instance's latest runs instead.",
                                                 show_default=False)] = None,
    maximum_runs: Annotated[int | None, typer.Option(help="With --instance: at most this many runs.",
                                                     show_default=False)] = None,
    set_id: Annotated[str | None, typer.Option("--id", help="Input set id (default: generated).", show_default=False)] = None,
    name: Annotated[str | None, typer.Option(help="Display name (default: the id).", show_default=False)] = None,
    description: Annotated[str | None, typer.Option(help="A description.", show_default=False)] = None,
) -> None:
    """Create an input set from runs (by id, or an instance's latest runs)."""
    if not run and not instance:
        raise CliError("give the runs (--run ID ...) or an instance (--instance ID)")
    created = cli.app(app_id).new_input_set(id=set_id, name=name or set_id or "", description=description,  # type: ignore[arg-type]
                                            run_ids=run or None, instance_id=instance, maximum_runs=maximum_runs)
    cli.emit(created, lambda: render.input_sets([created]))


@command(app, "list")
def list_(cli: Cli, app_id: AppId) -> None:
    """List an application's input sets."""
    items = cli.app(app_id).list_input_sets()
    cli.emit(items, lambda: render.input_sets(items))
