"""``runyard community``: the app templates the server's admin offers (``RUNYARD_COMMUNITY_DIR``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runyard.cli import render
from runyard.cli.base import Cli, command

app = typer.Typer(help="Community apps: list and clone the templates the server offers.", no_args_is_help=True)


@command(app, "list")
def list_(cli: Cli) -> None:
    """List the templates the server offers."""
    from runyard import cloud

    apps = cloud.list_community_apps(cli.client())

    def table() -> object:
        t = render.table("name", "type", "latest", "description")
        for a in apps:
            t.add_row(a.name, a.app_type, a.latest_app_version or "", a.description)
        return t

    cli.emit(apps, table)


@command(app, "clone")
def clone(
    cli: Cli,
    app_name: Annotated[str, typer.Argument(metavar="APP", help="The template's name.", show_default=False)],
    directory: Annotated[Path | None, typer.Option(help="Where to put it (default: ./APP); must be new or empty.",
                                                   show_default=False)] = None,
    version: Annotated[str, typer.Option(help="The version to clone.")] = "latest",
) -> None:
    """Clone a template into a new directory, ready for ``runyard app push``."""
    from runyard import cloud

    with render.spinner(f"cloning {app_name}", enabled=not cli.json):
        target = cloud.clone_community_app(cli.client(), app_name, directory=directory, version=version)
    cli.emit({"app": app_name, "directory": str(target)}, lambda: f"cloned {app_name} into {target}")
