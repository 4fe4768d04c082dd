"""``runyard``: serve, and manage keys of a local data dir. Thin commands; errors are one line."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Runyard: a self-hosted platform for decision models.", no_args_is_help=True, pretty_exceptions_enable=False)
keys_app = typer.Typer(help="API keys of a server's database (run where the data lives).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console()
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Folder for the embedded database and files (default .runyard).")]


def _settings(data_dir: Path | None, **overrides: Any) -> Any:
    from runyard.settings import Settings

    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")] = None,
    data_dir: DataDir = None,
    log_level: Annotated[str, typer.Option(help="Server log level.")] = "info",
) -> None:
    """Start the server with its embedded defaults (SQLite, local files, an in-process worker pool)."""
    import uvicorn

    from runyard.server.app import create_app
    from runyard.services import accounts
    from runyard.wiring import build_runtime

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings(data_dir, host=host, port=port)
    try:
        runtime = build_runtime(settings)
    except Exception as exc:  # noqa: BLE001 - a start-up failure is one clear line
        _fail(f"could not start: {exc}")
        return
    url = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold green]Runyard[/bold green] listening on [bold]{url}[/bold]")
    console.print(f"data: {settings.data_dir.resolve()}  database: {_redact(settings.resolved_database_url())}")
    if settings.api_key:
        key_line = "export NEXTMV_API_KEY=$RUNYARD_API_KEY"
    elif not accounts.has_keys(runtime.platform.db):
        issued = accounts.create_key(runtime.platform.db, accounts.DEFAULT_ACCOUNT, role="admin", name="first key")
        console.print("[yellow]A first admin key was created; it is shown only now:[/yellow]")
        key_line = f"export NEXTMV_API_KEY={issued.key}"
    else:
        key_line = "export NEXTMV_API_KEY=<your key>   # new ones: runyard keys create"
    console.print(f"export NEXTMV_ENDPOINT={url}\n{key_line}", soft_wrap=True, highlight=False)
    uvicorn.run(create_app(settings, runtime=runtime), host=settings.host, port=settings.port, log_level=log_level, access_log=False)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


def _platform(data_dir: Path | None) -> Any:
    from runyard.wiring import open_platform

    return open_platform(_settings(data_dir))


@keys_app.command("create")
def keys_create(
    account: Annotated[str, typer.Option(help="Account id.")] = "default",
    role: Annotated[str, typer.Option(help="viewer, operator, developer or admin.")] = "developer",
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create a key; the secret is printed once."""
    from runyard.domain.errors import RunyardError
    from runyard.services import accounts

    try:
        issued = accounts.create_key(_platform(data_dir).db, account, role=role, name=name)
    except RunyardError as exc:
        _fail(str(exc))
        return
    console.print(issued.key, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(account: Annotated[str | None, typer.Option(help="Only this account.")] = None, data_dir: DataDir = None) -> None:
    """List keys (never their secrets)."""
    from runyard.services import accounts

    table = Table("id", "account", "role", "name", "created", "revoked")
    for k in accounts.list_keys(_platform(data_dir).db, account):
        table.add_row(k.id, k.account_id, k.role, k.name, k.created_at.isoformat(timespec="seconds"), k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id (see keys list).")], data_dir: DataDir = None) -> None:
    """Revoke a key: it stops working at once."""
    from runyard.domain.errors import RunyardError
    from runyard.services import accounts

    try:
        accounts.revoke_key(_platform(data_dir).db, key_id)
    except RunyardError as exc:
        _fail(str(exc))
        return
    console.print(f"revoked {key_id}")


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
