"""``runyard org``: organizations (Runyard accounts): get, create, update, delete, members, and the
keys an admin issues to a member."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from runyard.cli import render
from runyard.cli.base import Cli, command

app = typer.Typer(help="Organizations: get, create, update, delete, members, issue a member a key.",
                  no_args_is_help=True)
members = typer.Typer(help="An organization's members: list, add, remove, key.", no_args_is_help=True)
app.add_typer(members, name="members")

OrgId = Annotated[str, typer.Argument(help="The organization (account) id.", show_default=False)]
Email = Annotated[str, typer.Argument(help="The member's email address.", show_default=False)]


def _get(cli: Cli, org_id: str) -> Any:
    from runyard import cloud

    return cloud.Account.get(cli.client(), org_id)


def _data(org: Any) -> dict[str, Any]:
    return {"id": org.account_id, "name": org.name, "members": [m.to_dict() for m in org.members]}


def _show(cli: Cli, org: Any) -> None:
    def table() -> Any:
        t = render.table("email", "role", "invite", title=f"{org.name} ({org.account_id})")
        for m in org.members:
            t.add_row(m.email or "", m.role or "", "pending" if m.pending_invite else "accepted")
        return t

    cli.emit(_data(org), table)


@command(app, "get")
def get(cli: Cli, org_id: Annotated[str | None, typer.Argument(help="The organization id (default: your key's).",
                                                               show_default=False)] = None) -> None:
    """Show an organization (yours by default) and its members."""
    from runyard import cloud

    _show(cli, _get(cli, org_id) if org_id else cloud.Account.mine(cli.client()))


@command(app, "create")
def create(
    cli: Cli,
    name: Annotated[str, typer.Option(help="The organization's name.", show_default=False)],
    admin: Annotated[list[str], typer.Option("--admin", help="An admin's email (repeat, or separate with commas).",
                                             show_default=False)],
) -> None:
    """Create an organization (admins of the default account); its admins become members."""
    from runyard import cloud

    emails = [e.strip() for a in admin for e in a.split(",") if e.strip()]
    _show(cli, cloud.Account.new(cli.client(), name=name, admins=emails))


@command(app, "update")
def update(cli: Cli, org_id: OrgId,
           name: Annotated[str, typer.Option(help="The new name.", show_default=False)]) -> None:
    """Rename an organization."""
    _show(cli, _get(cli, org_id).update(name=name))


@command(app, "delete")
def delete(cli: Cli, org_id: OrgId,
           yes: Annotated[bool, typer.Option("--yes", help="Delete without asking.")] = False) -> None:
    """Delete an organization and everything it holds: apps, runs, payloads, secrets, webhooks, keys."""
    from runyard import cloud

    if not yes:
        typer.confirm(f"Delete organization {org_id} and all its data?", abort=True)
    with render.spinner(f"deleting {org_id}", enabled=not cli.json):
        cloud.Account(client=cli.client(), account_id=org_id).delete()
    cli.emit({"id": org_id, "deleted": True}, lambda: f"deleted {org_id}")


@command(members, "list")
def list_members(cli: Cli, org_id: OrgId) -> None:
    """List an organization's members with their role and invite state."""
    _show(cli, _get(cli, org_id))


@command(members, "add")
def add_member(cli: Cli, org_id: OrgId, email: Email,
               role: Annotated[str, typer.Option(help="viewer, operator, developer or admin.")] = "viewer") -> None:
    """Invite a member (or change a member's role: their keys are revoked, issue a new one)."""
    from runyard import cloud

    _show(cli, cloud.Account(client=cli.client(), account_id=org_id).add_member(email, role=role))


@command(members, "remove")
def remove_member(cli: Cli, org_id: OrgId, email: Email) -> None:
    """Remove a member; every key issued to them stops working."""
    from runyard import cloud

    cloud.Account(client=cli.client(), account_id=org_id).remove_member(email)
    cli.emit({"id": org_id, "email": email, "removed": True}, lambda: f"removed {email} from {org_id}")


@command(members, "key")
def member_key(cli: Cli, org_id: OrgId, email: Email,
               name: Annotated[str, typer.Option(help="A label for the key (default: the email).")] = "") -> None:
    """Issue a member a key with their role. Its secret is printed once, alone on stdout."""
    from runyard import cloud

    issued = cloud.Account(client=cli.client(), account_id=org_id).new_member_key(email, name=name)
    if cli.json:
        render.print_json(issued)
        return
    render.note(f"created key {issued.id} ({issued.role}) for {email} in {org_id}; the secret is shown only now:")
    print(issued.key, flush=True)
