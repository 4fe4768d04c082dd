"""``runyard version``: snapshot and list an application's versions."""

from __future__ import annotations

from typing import Annotated

import typer

from runyard.cli import render
from runyard.cli.base import Cli, command

app = typer.Typer(help="Versions: immutable snapshots of an application's executable.", no_args_is_help=True)

AppId = Annotated[str, typer.Argument(help="The application id.", show_default=False)]


@command(app, "create")
def create(
    cli: Cli,
    app_id: AppId,
    version_id: Annotated[str | None, typer.Option("--id", help="Version id (default: generated).", show_default=False)] = None,
    name: Annotated[str | None, typer.Option(help="Display name.", show_default=False)] = None,
    description: Annotated[str | None, typer.Option(help="A description.", show_default=False)] = None,
) -> None:
    """Snapshot the application's current executable as a version."""
    version = cli.app(app_id).new_version(id=version_id, name=name, description=description)
    cli.emit(version, lambda: render.versions([version]))


@command(app, "list")
def list_(cli: Cli, app_id: AppId) -> None:
    """List an application's versions."""
    items = cli.app(app_id).list_versions()
    cli.emit(items, lambda: render.versions(items))
