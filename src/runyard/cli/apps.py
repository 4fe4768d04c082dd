"""``runyard app``: create, list, get, delete and push applications."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from runyard.cli import render
from runyard.cli.base import Cli, CliError, command

app = typer.Typer(help="Applications: create, list, get, delete, push.", no_args_is_help=True)

AppId = Annotated[str, typer.Argument(help="The application id.", show_default=False)]


@command(app, "create")
def create(
    cli: Cli,
    app_id: AppId,
    name: Annotated[str | None, typer.Option(help="Display name (default: the id).", show_default=False)] = None,
    description: Annotated[str | None, typer.Option(help="A description.", show_default=False)] = None,
) -> None:
    """Create an application."""
    from runyard import cloud

    created = cloud.Application.new(client=cli.client(), name=name or app_id, id=app_id, description=description)
    info = created.information()
    cli.emit(info, lambda: render.application(info))


@command(app, "list")
def list_(cli: Cli) -> None:
    """List applications."""
    from runyard import cloud

    items = cloud.list_applications(cli.client())
    cli.emit(items, lambda: render.applications(items))


@command(app, "get")
def get(cli: Cli, app_id: AppId) -> None:
    """Show an application."""
    info = cli.app(app_id).information()
    cli.emit(info, lambda: render.application(info))


@command(app, "delete")
def delete(
    cli: Cli,
    app_id: AppId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete an application with its versions, instances and runs."""
    if not yes:
        if not sys.stdin.isatty():
            raise CliError("pass --yes to delete without a prompt")
        typer.confirm(f"Delete application {app_id} with all its versions, instances and runs?", abort=True)
    cli.app(app_id).delete()
    cli.emit({"id": app_id, "deleted": True}, lambda: f"deleted application {app_id}")


@command(app, "push")
def push(
    cli: Cli,
    app_id: AppId,
    app_dir: Annotated[Path, typer.Option("--dir", "-d", help="The app directory holding app.yaml.",
                                          file_okay=False)] = Path("."),
) -> None:
    """Package the app directory (per its app.yaml) and make it the application's executable."""
    cli.app(app_id).push(app_dir=str(app_dir), verbose=not cli.json)
    cli.emit({"id": app_id, "pushed": True, "app_dir": str(app_dir.resolve())},
             lambda: f"[green]pushed[/green] {escape(str(app_dir))} to application {app_id}")
