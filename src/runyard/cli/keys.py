"""``runyard keys``: API keys through the server's admin API, or straight in a local data dir.

With a server configured (``--endpoint``, ``RUNYARD_ENDPOINT`` or a profile) the admin API is
used; ``--data-dir`` (or no server configured) works on the database directly, which is how the
first key of a fresh server is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from runyard.cli import render
from runyard.cli.base import Cli, CliError, command

app = typer.Typer(help="API keys: create, list, revoke (admin API, or a local --data-dir).", no_args_is_help=True)

DEFAULT_ACCOUNT = "default"
DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Work on this server data dir directly instead of through the admin API (for bootstrapping; "
                       "the default when no server is configured is .runyard).", show_default=False)]
Account = Annotated[str, typer.Option(help="The account the keys belong to.")]


class Local:
    """The keys service on a local data dir (needs the server extra)."""

    def __init__(self, data_dir: Path | None) -> None:
        try:
            from runyard.services import accounts
            from runyard.settings import Settings
            from runyard.wiring import open_platform
        except ImportError as exc:
            raise CliError(f"local key management needs the server installed (pip install 'runyard[server]'): {exc}") from None
        self.accounts = accounts
        self.db = open_platform(Settings(**({"data_dir": data_dir} if data_dir else {}))).db

    def create(self, account: str, role: str, name: str) -> Any:
        from runyard import cloud

        issued = self._call(self.accounts.create_key, self.db, account, role=role, name=name)
        return cloud.IssuedApiKey(id=issued.id, account_id=issued.account_id, name=issued.name, role=issued.role,
                                  key=issued.key)

    def list(self, account: str | None) -> list[Any]:
        from runyard import cloud

        return [cloud.ApiKey(id=k.id, account_id=k.account_id, name=k.name, role=k.role, created_at=k.created_at,
                             revoked_at=k.revoked_at) for k in self.accounts.list_keys(self.db, account)]

    def revoke(self, key_id: str, account: str | None) -> None:
        self._call(self.accounts.revoke_key, self.db, key_id, account_id=account)

    @staticmethod
    def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        from runyard.domain.errors import RunyardError

        try:
            return fn(*args, **kwargs)
        except RunyardError as exc:
            raise CliError(str(exc)) from None


def _local(cli: Cli, data_dir: Path | None) -> Local | None:
    return Local(data_dir) if data_dir is not None or not cli.has_server() else None


def _admin(cli: Cli) -> Any:
    from runyard import cloud

    return cloud.Admin(client=cli.client())


@command(app, "create")
def create(
    cli: Cli,
    account: Account = DEFAULT_ACCOUNT,
    role: Annotated[str, typer.Option(help="viewer, operator, developer or admin.")] = "developer",
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create a key. Its secret is printed once (alone on stdout, so $(runyard keys create) captures it)."""
    local = _local(cli, data_dir)
    issued = local.create(account, role, name) if local else _admin(cli).new_api_key(account_id=account, role=role, name=name)
    if cli.json:
        render.print_json(issued)
        return
    render.note(f"created key {issued.id} ({issued.role}) for account {issued.account_id}; the secret is shown only now:")
    print(issued.key, flush=True)


@command(app, "list")
def list_(
    cli: Cli,
    account: Annotated[str | None, typer.Option(help="Only this account's keys (admin API default: default).",
                                                show_default=False)] = None,
    data_dir: DataDir = None,
) -> None:
    """List keys (never their secrets)."""
    local = _local(cli, data_dir)
    items = local.list(account) if local else _admin(cli).list_api_keys(account_id=account or DEFAULT_ACCOUNT)
    cli.emit(items, lambda: render.keys(items))


@command(app, "revoke")
def revoke(
    cli: Cli,
    key_id: Annotated[str, typer.Argument(help="The key id (see keys list).", show_default=False)],
    account: Account = DEFAULT_ACCOUNT,
    data_dir: DataDir = None,
) -> None:
    """Revoke a key: it stops working at once."""
    local = _local(cli, data_dir)
    if local:
        local.revoke(key_id, None)
    else:
        _admin(cli).revoke_api_key(key_id, account_id=account)
    cli.emit({"id": key_id, "revoked": True}, lambda: f"revoked {key_id}")
