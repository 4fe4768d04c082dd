"""``runyard``: serve, and drive a server through the SDK. Thin commands; errors are one line.

Each command group lives in its own module (``apps``, ``runs``, ``batch``, …); shared options and
error handling are in :mod:`runyard.cli.base`, printing in :mod:`runyard.cli.render`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from runyard.cli import (
    acceptance,
    apps,
    batch,
    community,
    config,
    input_sets,
    instances,
    keys,
    marketplace,
    online,
    orgs,
    render,
    runs,
    scenario,
    versions,
    webhooks,
)
from runyard.cli.base import Cli, command

app = typer.Typer(help="Runyard: a self-hosted platform for decision models.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
console = Console()
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Folder for the embedded database and files (default .runyard).")]


SERVER_MODULES = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "pydantic_settings", "cryptography")
SERVER_INSTALL = "pip install 'runyard[server]'"


def _require_server() -> None:
    """One line with the install command when the server's dependencies are missing: ``pip install
    runyard`` gives the SDK and CLI, as the official ``nextmv`` package does; the server is an extra."""
    import importlib.util

    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        err.print(f"[red]error:[/red] {escape(f'the server is not installed (no {missing[0]}): {SERVER_INSTALL}')}",
                  soft_wrap=True, highlight=False)
        raise typer.Exit(1)


def _settings(data_dir: Path | None, **overrides: Any) -> Any:
    _require_server()
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
    ssl_certfile: Annotated[Path | None, typer.Option(help="Serve HTTPS with this certificate (PEM).")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="Private key (PEM) for --ssl-certfile.")] = None,
) -> None:
    """Start the server with its embedded defaults (SQLite, local files, an in-process worker pool).

    The official nextmv 1.13.0 CLI only talks HTTPS: give a certificate to use it directly.
    """
    _require_server()
    import uvicorn

    from runyard.server.app import create_app
    from runyard.server.observe import configure_logging
    from runyard.services import accounts
    from runyard.wiring import build_runtime

    if (ssl_certfile is None) != (ssl_keyfile is None):
        _fail("--ssl-certfile and --ssl-keyfile go together")
        return
    settings = _settings(data_dir, host=host, port=port)
    configure_logging(log_level, settings.log_format)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if settings.sandbox != "off":
        from runyard.execution.runtime.sandbox import adopt_orphans

        adopt_orphans()  # the sandboxes' inits are reaped by the server, when their run's cgroup is given back
    try:
        runtime = build_runtime(settings)
    except Exception as exc:  # noqa: BLE001 - a start-up failure is one clear line
        _fail(f"could not start: {exc}")
        return
    url = f"{'https' if ssl_certfile else 'http'}://{settings.host}:{settings.port}"
    console.print(f"[bold green]Runyard[/bold green] listening on [bold]{url}[/bold]")
    console.print(f"data: {settings.data_dir.resolve()}  database: {_redact(settings.resolved_database_url())}")
    if settings.blob_url:
        endpoint = os.environ.get("AWS_ENDPOINT_URL") if settings.blob_url.startswith("s3:") else None
        console.print(f"blobs: {_redact(settings.blob_url)}" + (f" at {endpoint}" if endpoint else ""), highlight=False)
    sandboxed = runtime.sandbox.startswith("bubblewrap")
    console.print(f"runs: {runtime.sandbox}", style=None if sandboxed else "bold red", highlight=False)
    if settings.api_key:
        key_line = "export NEXTMV_API_KEY=$RUNYARD_API_KEY"
    elif not accounts.has_keys(runtime.platform.db):
        issued = accounts.create_key(runtime.platform.db, accounts.DEFAULT_ACCOUNT, role="admin", name="first key")
        console.print("[yellow]A first admin key was created; it is shown only now:[/yellow]")
        key_line = f"export NEXTMV_API_KEY={issued.key}"
    else:
        key_line = "export NEXTMV_API_KEY=<your key>   # new ones: runyard keys create"
    console.print(f"export NEXTMV_ENDPOINT={url}\n{key_line}", soft_wrap=True, highlight=False)
    console.print(f"console: [bold]{url}/[/bold] (sign in with the key)", highlight=False)
    uvicorn.run(
        create_app(settings, runtime=runtime), host=settings.host, port=settings.port, log_level=log_level, access_log=False,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None, ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        log_config=None,  # uvicorn's loggers go through the root handler: one format (JSON too) for every line
    )


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


@command(app, "configure", connect=False)
def configure(
    cli: Cli,
    endpoint: Annotated[str | None, typer.Option(help="Server URL, e.g. http://127.0.0.1:8000 (asked if not given).",
                                                 show_default=False)] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (asked, hidden, if not given).", show_default=False)] = None,
    profile: Annotated[str, typer.Option(help="Profile to write; use it with --profile or RUNYARD_PROFILE.")] = "default",
) -> None:
    """Save a server and key to ~/.runyard/config.toml so other commands need no flags."""
    endpoint = endpoint or typer.prompt("Endpoint", default="http://127.0.0.1:8000")
    api_key = api_key or typer.prompt("API key", hide_input=True)
    path = config.save_profile(profile, {"endpoint": endpoint.rstrip("/"), "api_key": api_key})
    cli.emit({"profile": profile, "path": str(path), "endpoint": endpoint.rstrip("/")},
             lambda: f"saved profile [bold]{escape(profile)}[/bold] to {escape(str(path))}")


@command(app, "queue")
def queue(cli: Cli) -> None:
    """Show the account's run queue, in the order runs will be served."""
    from runyard import cloud

    waiting = cloud.Account(client=cli.client()).queue()
    cli.emit(waiting, lambda: render.queue(waiting))


command(app, "track")(runs.track)

for group, name in ((apps.app, "app"), (versions.app, "version"), (instances.app, "instance"), (runs.app, "run"),
                    (input_sets.app, "input-set"), (batch.app, "batch"), (scenario.app, "scenario"),
                    (acceptance.app, "acceptance"), (keys.app, "keys"),
                    (online.shadow, "shadow"), (online.switchback, "switchback"), (online.ensemble, "ensemble"),
                    (webhooks.app, "webhooks"), (orgs.app, "org"), (community.app, "community"),
                    (marketplace.app, "marketplace")):
    app.add_typer(group, name=name)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
