"""``runyard marketplace``: publish your account's apps to the other accounts of the server, browse
the catalog, subscribe and unsubscribe."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from runyard.cli import render
from runyard.cli.base import Cli, command

app = typer.Typer(help="The marketplace: list, publish, release, retract, versions, subscribe, unsubscribe.",
                  no_args_is_help=True)

AppId = Annotated[str, typer.Argument(help="The marketplace app id.", show_default=False)]
Partner = Annotated[str | None, typer.Option("--partner", help="The partner (publishing account) id; default: "
                                                               "your own account's.", show_default=False)]


def _market(cli: Cli) -> Any:
    from runyard import cloud

    return cloud.Marketplace(cli.client())


def _own(cli: Cli, partner: str | None) -> str:
    """``partner``, else the id of the account the key belongs to."""
    if partner:
        return partner
    from runyard import cloud

    return cloud.Account.mine(cli.client()).account_id or ""


def _apps_table(items: list[Any]) -> Any:
    t = render.table("subscription id", "title", "state", "latest", "description")
    for a in items:
        t.add_row(a.subscription_id, a.title, a.state.value, ", ".join(a.latest_versions or []), a.description or "")
    return t


@command(app, "list")
def list_(cli: Cli, partner: Partner = None) -> None:
    """The catalog: every partner's apps (or one partner's)."""
    items = _market(cli).list_applications(partner_id=partner)
    cli.emit(items, lambda: _apps_table(items))


@command(app, "get")
def get(cli: Cli, app_id: AppId, partner: Partner = None) -> None:
    """One marketplace app, with its published versions."""
    market = _market(cli)
    partner_id = _own(cli, partner)
    found, versions = market.application(partner_id, app_id), market.list_versions(partner_id, app_id)

    def tables() -> Any:
        t = render.table("version", "published", "change log", title=f"{found.title} ({found.subscription_id}, {found.state.value})")
        for v in versions:
            t.add_row(v.version_id, render.when(v.created_at), "; ".join(v.change_log))
        return t

    cli.emit({"app": found, "versions": versions}, tables)


@command(app, "publish")
def publish(
    cli: Cli,
    app_id: Annotated[str, typer.Argument(help="Your application to offer (also the marketplace app id unless --id).",
                                          show_default=False)],
    title: Annotated[str, typer.Option(help="The title other accounts see.", show_default=False)],
    description: Annotated[str | None, typer.Option(help="What it does.", show_default=False)] = None,
    marketplace_id: Annotated[str | None, typer.Option("--id", help="The marketplace app id (default: the app's id).",
                                                       show_default=False)] = None,
) -> None:
    """Offer one of your account's apps in the marketplace (pre-release until `release`)."""
    made = _market(cli).new_application(_own(cli, None), reference_app_id=app_id, title=title,
                                        app_id=marketplace_id or app_id, description=description)
    cli.emit(made, lambda: f"published {made.app_id}; others subscribe with {made.subscription_id}")


def _set_state(cli: Cli, app_id: str, state: str) -> None:
    done = _market(cli).update_application(_own(cli, None), app_id, state=state)
    cli.emit(done, lambda: f"{done.app_id} is {done.state.value}")


@command(app, "release")
def release(cli: Cli, app_id: AppId) -> None:
    """Mark a marketplace app released."""
    _set_state(cli, app_id, "released")


@command(app, "retract")
def retract(cli: Cli, app_id: AppId) -> None:
    """Retract a marketplace app: no new subscriptions (existing subscribers keep what they have)."""
    _set_state(cli, app_id, "retracted")


@command(app, "publish-version")
def publish_version(
    cli: Cli,
    app_id: AppId,
    version: Annotated[str, typer.Option(help="Your app's version to publish.", show_default=False)],
    change: Annotated[list[str] | None, typer.Option("--change", help="A change-log line (repeat for several).",
                                                     show_default=False)] = None,
    version_id: Annotated[str | None, typer.Option("--id", help="The published version's id (default: the version's).",
                                                   show_default=False)] = None,
) -> None:
    """Publish one of your app's versions: subscribers run it as their newest at once."""
    v = _market(cli).new_version(_own(cli, None), app_id, reference_version_id=version, change_log=change or [],
                                 version_id=version_id or version)
    cli.emit(v, lambda: f"published version {v.version_id} of {app_id}")


@command(app, "subscribe")
def subscribe(cli: Cli, subscription_id: Annotated[str, typer.Argument(
        help="<partner id>-<app id>, as `runyard marketplace list` shows.", show_default=False)]) -> None:
    """Subscribe: an application with this id appears in your account and runs the published versions."""
    sub = _market(cli).subscribe(subscription_id)
    cli.emit(sub, lambda: f"subscribed to {sub.app_title} ({sub.partner_name}); run it as application {sub.subscription_id}")


@command(app, "subscriptions")
def subscriptions(cli: Cli) -> None:
    """Your account's subscriptions."""
    items = _market(cli).list_subscriptions()

    def table() -> Any:
        t = render.table("subscription id", "title", "partner", "since")
        for s in items:
            t.add_row(s.subscription_id, s.app_title, s.partner_name, s.subscription_date or "")
        return t

    cli.emit(items, table)


@command(app, "unsubscribe")
def unsubscribe(cli: Cli, subscription_id: Annotated[str, typer.Argument(help="The subscription id.", show_default=False)],
                yes: Annotated[bool, typer.Option("--yes", help="Unsubscribe without asking.")] = False) -> None:
    """End a subscription: its application goes, with the runs made through it."""
    if not yes:
        typer.confirm(f"Unsubscribe from {subscription_id} and delete its application and runs?", abort=True)
    _market(cli).unsubscribe(subscription_id)
    cli.emit({"subscription_id": subscription_id, "unsubscribed": True}, lambda: f"unsubscribed from {subscription_id}")
