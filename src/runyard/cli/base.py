"""What every command shares: the connection and output options, the SDK client, and turning
expected failures into one red line and exit code 1.

Commands are plain functions whose first parameter is a :class:`Cli`; :func:`command` registers
them with typer, adding ``--endpoint``, ``--api-key``, ``--profile`` and ``--output``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from runyard.cli import config, render
from runyard.sdk import errors

RETRIES = 3
"""Few, short retries: a person is waiting, and a server that is down should be said so quickly."""


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


class CliError(Exception):
    """An expected failure worth one line: a bad file, a bad flag value."""


EndpointOption = Annotated[str | None, typer.Option(
    "--endpoint", help="Server URL, e.g. http://127.0.0.1:8000 (else RUNYARD_ENDPOINT / NEXTMV_ENDPOINT, else the profile).",
    show_default=False)]
ApiKeyOption = Annotated[str | None, typer.Option(
    "--api-key", help="API key (else RUNYARD_API_KEY / NEXTMV_API_KEY, else the profile).", show_default=False)]
ProfileOption = Annotated[str | None, typer.Option(
    "--profile", help="Profile of ~/.runyard/config.toml to use (else RUNYARD_PROFILE, else the default profile).", show_default=False)]
OutputOption = Annotated[OutputFormat, typer.Option(
    "--output", "-o", help="table: for people; json: machine-readable with stable keys.")]

_COMMON = [
    inspect.Parameter("endpoint", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=EndpointOption),
    inspect.Parameter("api_key", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ApiKeyOption),
    inspect.Parameter("profile", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ProfileOption),
]
_OUTPUT = inspect.Parameter("output", inspect.Parameter.KEYWORD_ONLY, default=OutputFormat.table, annotation=OutputOption)


@dataclass
class Cli:
    """One invocation: how to reach the server and how to print."""

    output: OutputFormat = OutputFormat.table
    endpoint: str | None = None
    api_key: str | None = None
    profile: str | None = None
    _client: Any = field(default=None, repr=False)

    @property
    def json(self) -> bool:
        return self.output == OutputFormat.json

    def connection(self) -> config.Connection:
        return config.resolve(endpoint=self.endpoint, api_key=self.api_key, profile=self.profile)

    def has_server(self) -> bool:
        return config.has_endpoint(endpoint=self.endpoint, profile=self.profile)

    def client(self) -> Any:
        """The SDK client (made once per invocation)."""
        if self._client is None:
            from runyard import cloud

            conn = self.connection()
            self._client = cloud.Client(api_key=conn.api_key, url=conn.endpoint, max_retries=RETRIES,
                                        backoff_factor=0.25, backoff_max=5, timeout=30)
        return self._client

    def app(self, app_id: str) -> Any:
        """The SDK ``Application`` with this id."""
        from runyard import cloud

        return cloud.Application(client=self.client(), id=app_id)

    def emit(self, data: Any, table: Callable[[], Any] | None = None) -> None:
        """``data`` as JSON with ``--output json``; otherwise what ``table()`` renders."""
        if self.json or table is None:
            render.print_json(data)
        else:
            render.show(table())

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def command(group: typer.Typer, name: str | None = None, *, connect: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(cli, ...)`` as a typer command with the shared options and error handling."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]
        extra = [*(_COMMON if connect else []), _OUTPUT]

        def run(**values: Any) -> None:
            cli = Cli(output=values.pop("output"),
                      **{p.name: values.pop(p.name) for p in _COMMON if connect})
            try:
                with handled(cli):
                    fn(cli, **values)
            finally:
                cli.close()

        run.__name__, run.__doc__, run.__module__ = fn.__name__, fn.__doc__, fn.__module__
        run.__signature__ = inspect.Signature([*own, *extra])  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in [*own, *extra]}
        group.command(name)(run)
        return fn

    return register


@contextmanager
def handled(cli: Cli) -> Iterator[None]:
    """Expected failures become one red line on stderr and exit code 1 (``RUNYARD_DEBUG=1`` re-raises)."""
    try:
        yield
    except KeyboardInterrupt:
        render.error("interrupted")
        raise typer.Exit(130) from None
    except (errors.RunyardError, config.ConfigError, CliError, TimeoutError, OSError, ValueError, NotImplementedError) as exc:
        if os.getenv("RUNYARD_DEBUG"):
            raise
        render.error(describe(exc, cli))
        raise typer.Exit(1) from None


def describe(exc: BaseException, cli: Cli) -> str:
    """One line that names the problem: the server's own message and request id for HTTP errors."""
    if isinstance(exc, errors.APIStatusError):
        message = exc.error or _text(exc.body) or f"HTTP {exc.status_code}"
        rid = exc.request_id or (exc.body.get("request_id") if isinstance(exc.body, dict) else None)
        return f"{message} (HTTP {exc.status_code}" + (f", request id {rid})" if rid else ")")
    if isinstance(exc, errors.APIConnectionError):
        where = cli.client().url if cli._client is not None else "the server"
        cause = exc.__cause__ or exc
        return f"could not connect to {where}: {type(cause).__name__}: {cause}"
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"no such file: {exc.filename}"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _text(body: Any) -> str:
    return body.strip()[:300] if isinstance(body, str) else ""


# ----------------------------------------------------------------------------- argument parsing


def parse_pairs(pairs: list[str] | None, what: str = "--option") -> dict[str, str]:
    """``["a=1", "b=x"]`` as ``{"a": "1", "b": "x"}``; a pair without ``=`` is an error."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"{what} {pair!r} must look like name=value")
        out[key.strip()] = value
    return out


def read_input(source: str, kind: str = "auto") -> dict[str, Any] | str:
    """A run input from a file (or ``-`` for stdin): a JSON object, or text.

    ``auto`` parses JSON when the file ends in ``.json`` or starts with ``{`` and keeps anything
    else as text; a file that looks like JSON but does not parse is an error, not text."""
    import json
    import sys

    name = "stdin" if source == "-" else source
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    looks_json = kind == "json" or (kind == "auto" and (name.endswith(".json") or text.lstrip().startswith("{")))
    if not looks_json:
        return text
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{name} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise CliError(f"{name} must hold a JSON object, not {type(data).__name__}")
    return data
