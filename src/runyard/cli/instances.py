"""``runyard instance``: create, list and update an application's instances."""

from __future__ import annotations

from typing import Annotated

import typer

from runyard.cli import render
from runyard.cli.base import Cli, command, parse_pairs

app = typer.Typer(help="Instances: named, configurable pointers to versions; runs target instances.",
                  no_args_is_help=True)

AppId = Annotated[str, typer.Argument(help="The application id.", show_default=False)]
InstanceId = Annotated[str, typer.Argument(help="The instance id.", show_default=False)]
Options = Annotated[list[str] | None, typer.Option(
    "--option", help="A default run option, name=value; repeat for several.", show_default=False)]
ExecutionClass = Annotated[str | None, typer.Option(help="Execution class for the instance's runs.", show_default=False)]
Secrets = Annotated[str | None, typer.Option("--secrets", help="Secrets collection injected into runs.", show_default=False)]


def _configuration(options: list[str] | None, execution_class: str | None, secrets: str | None) -> object | None:
    from runyard import cloud

    if not (options or execution_class or secrets):
        return None
    return cloud.InstanceConfiguration(options=parse_pairs(options) or None, execution_class=execution_class,
                                       secrets_collection_id=secrets)


@command(app, "create")
def create(
    cli: Cli,
    app_id: AppId,
    instance_id: InstanceId,
    version: Annotated[str, typer.Option(help="The version the instance runs.", show_default=False)],
    name: Annotated[str | None, typer.Option(help="Display name (default: the id).", show_default=False)] = None,
    description: Annotated[str | None, typer.Option(help="A description.", show_default=False)] = None,
    option: Options = None,
    execution_class: ExecutionClass = None,
    secrets: Secrets = None,
) -> None:
    """Create an instance of a version."""
    instance = cli.app(app_id).new_instance(
        version_id=version, id=instance_id, name=name or instance_id, description=description,
        configuration=_configuration(option, execution_class, secrets))
    cli.emit(instance, lambda: render.instances([instance]))


@command(app, "list")
def list_(cli: Cli, app_id: AppId) -> None:
    """List an application's instances."""
    items = cli.app(app_id).list_instances()
    cli.emit(items, lambda: render.instances(items))


@command(app, "update")
def update(
    cli: Cli,
    app_id: AppId,
    instance_id: InstanceId,
    version: Annotated[str | None, typer.Option(help="Point the instance at this version.", show_default=False)] = None,
    name: Annotated[str | None, typer.Option(help="New display name.", show_default=False)] = None,
    description: Annotated[str | None, typer.Option(help="New description.", show_default=False)] = None,
    option: Options = None,
    execution_class: ExecutionClass = None,
    secrets: Secrets = None,
) -> None:
    """Change an instance; only the fields given are sent."""
    instance = cli.app(app_id).update_instance(
        id=instance_id, name=name, version_id=version, description=description,  # type: ignore[arg-type]
        configuration=_configuration(option, execution_class, secrets))
    cli.emit(instance, lambda: render.instances([instance]))
