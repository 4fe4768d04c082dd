"""``runyard run``: submit, inspect, follow and cancel runs; ``runyard track`` records external ones."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from runyard.cli import render
from runyard.cli.base import Cli, CliError, command, parse_pairs, read_input

app = typer.Typer(help="Runs: submit, get, result, logs, cancel, list.", no_args_is_help=True)

AppId = Annotated[str, typer.Argument(help="The application id.", show_default=False)]
RunId = Annotated[str, typer.Argument(help="The run id.", show_default=False)]
Timeout = Annotated[float, typer.Option(help="Give up waiting after this many seconds (0: wait as long as it takes).")]
ENDED_BADLY = ("failed", "canceled")


class InputKind(StrEnum):
    auto = "auto"
    json = "json"
    text = "text"


class TrackedStatus(StrEnum):
    succeeded = "succeeded"
    failed = "failed"


@command(app, "submit")
def submit(
    cli: Cli,
    app_id: AppId,
    input: Annotated[str, typer.Option("--input", "-i", help="Input file, '-' for stdin, or a directory (sent as "
                                                          "a multi-file archive).", show_default=False)],
    instance: Annotated[str, typer.Option(help="Instance to run (default: the app's default instance, else its "
                                               "latest push).", show_default=False)] = "",
    option: Annotated[list[str] | None, typer.Option("--option", help="A run option, name=value; repeat for "
                                                                    "several.", show_default=False)] = None,
    input_format: Annotated[InputKind, typer.Option(help="auto: JSON for .json files or text starting with '{', "
                                                         "else text.")] = InputKind.auto,
    name: Annotated[str | None, typer.Option(help="A name for the run.", show_default=False)] = None,
    description: Annotated[str | None, typer.Option(help="A description.", show_default=False)] = None,
    execution_class: Annotated[str | None, typer.Option(help="Execution class to run on.", show_default=False)] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Wait for the run to end and print its result; exit 1 "
                                                           "if it failed.")] = False,
    timeout: Timeout = 0,
) -> None:
    """Start a run; with --wait, wait for it (server long-poll) and print its result."""
    target = cli.app(app_id)
    options = parse_pairs(option)
    configuration = {"execution_class": execution_class} if execution_class else None
    if input != "-" and Path(input).is_dir():
        run_id = target.new_run(input_dir_path=input, instance_id=instance, name=name, description=description,
                                options=options or None, configuration=configuration)
    else:
        data = read_input(input, input_format.value)
        run_id = target.new_run(input=data, instance_id=instance, name=name, description=description,
                                options=options or None, configuration=configuration)
    if not wait:
        link = target.run_console_url(run_id)
        cli.emit({"run_id": run_id, "console_url": link}, lambda: run_id)
        if not cli.json:
            render.err.print(f"console: {link}", soft_wrap=True)  # stderr: stdout stays the bare id for scripts
        return
    _show_result(cli, _wait(cli, target, run_id, timeout))


@command(app, "get")
def get(cli: Cli, app_id: AppId, run_id: RunId) -> None:
    """Show a run's status and metadata."""
    info = cli.app(app_id).run_metadata(run_id)
    cli.emit(info, lambda: render.run_information(info))


@command(app, "result")
def result(
    cli: Cli,
    app_id: AppId,
    run_id: RunId,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Wait for the run to end first.")] = False,
    timeout: Timeout = 0,
) -> None:
    """Show a run's result: its metadata, then its output as JSON."""
    target = cli.app(app_id)
    _show_result(cli, _wait(cli, target, run_id, timeout) if wait else target.run_result(run_id))


@command(app, "logs")
def logs(
    cli: Cli,
    app_id: AppId,
    run_id: RunId,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream new lines until the run ends "
                                                               "(JSON: one object per line).")] = False,
) -> None:
    """Print a run's logs (its stderr)."""
    target = cli.app(app_id)
    if not follow:
        log = target.run_logs(run_id).log
        if cli.json:
            render.print_json({"run_id": run_id, "log": log})
        elif log:
            sys.stdout.write(log if log.endswith("\n") else log + "\n")
        return
    import json

    for line in target.run_logs(run_id, follow=True):
        sys.stdout.write((json.dumps({"run_id": run_id, "log": line}) if cli.json else line.rstrip("\n")) + "\n")
        sys.stdout.flush()


@command(app, "watch")
def watch(cli: Cli, app_id: AppId, run_id: RunId) -> None:
    """Follow a run live: its status changes, then its log lines as they are written, until it ends
    (exit 1 if it failed or was canceled). JSON: one event per line."""
    import json

    from runyard import cloud

    target, final = cli.app(app_id), ""
    try:
        events = target.run_events(run_id)
        for event in events:
            if cli.json:
                sys.stdout.write(json.dumps({"event": event.event, "id": event.id, "data": event.data}) + "\n")
            elif event.event == "status":
                data = event.data.get("data") or {}
                final = data.get("status_v2", "")
                render.show(render.status(final).append(f"  {data.get('error') or ''}".rstrip()))
            elif event.event == "log":
                sys.stdout.write(event.data.get("log", "") + "\n")
            elif event.event == "end":
                final = event.data.get("status_v2", final)
            sys.stdout.flush()
    except cloud.StreamUnavailable:
        raise CliError("this server has no event streams; use `runyard run logs --follow`") from None
    if final in ENDED_BADLY:
        raise typer.Exit(1)


@command(app, "cancel")
def cancel(cli: Cli, app_id: AppId, run_id: RunId) -> None:
    """Cancel a queued or running run."""
    cli.app(app_id).cancel_run(run_id)
    cli.emit({"run_id": run_id, "status": "canceling"}, lambda: f"canceling run {run_id}")


@command(app, "list")
def list_(
    cli: Cli,
    app_id: Annotated[str | None, typer.Argument(help="The application id (default: every application of the account).",
                                                 show_default=False)] = None,
    status: Annotated[str | None, typer.Option(help="Only runs with one of these statuses, comma-separated "
                                                    "(queued, running, succeeded, failed, canceled).",
                                               show_default=False)] = None,
    instance: Annotated[str | None, typer.Option(help="Only runs of this instance.", show_default=False)] = None,
    version: Annotated[str | None, typer.Option(help="Only runs of this version.", show_default=False)] = None,
    since: Annotated[str | None, typer.Option(help="Only runs created at or after this time: ISO 8601 (UTC unless "
                                                   "it has a zone) or an age such as 30m, 12h, 7d.",
                                              show_default=False)] = None,
    until: Annotated[str | None, typer.Option(help="Only runs created before this time (as --since).",
                                              show_default=False)] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many, newest first (0: all).")] = 50,
) -> None:
    """List runs newest first, of one application or of the whole account; the server filters them."""
    from runyard import cloud

    filters = {"status": status or None, "instance_id": instance, "version_id": version,
               "created_after": _when(since, "--since"), "created_before": _when(until, "--until"),
               "limit": limit if limit > 0 else None}
    if app_id:
        items = cli.app(app_id).list_runs(**filters)
    else:
        items = cloud.Account(client=cli.client()).list_runs(**filters)
    cli.emit(items, lambda: render.runs(items, with_app=not app_id))


AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _when(value: str | None, option: str) -> str | None:
    """An age (``12h``) as the UTC time that long ago; anything else goes to the server, which checks it."""
    if not value:
        return None
    age = AGE.fullmatch(value.strip().lower())
    if age is None:
        return value.strip()
    return (datetime.now(UTC) - timedelta(**{AGE_UNITS[age.group(2)]: float(age.group(1))})).isoformat()


def track(
    cli: Cli,
    app_id: AppId,
    input: Annotated[str, typer.Option("--input", "-i", help="The run's input file (JSON or text; '-' for stdin).",
                                       show_default=False)],
    output_file: Annotated[str, typer.Option("--output-file", help="The run's output file (JSON or text).",
                                        show_default=False)],
    status: Annotated[TrackedStatus, typer.Option(help="How the run ended.")] = TrackedStatus.succeeded,
    duration: Annotated[int | None, typer.Option(help="How long it ran, in milliseconds.", show_default=False)] = None,
    logs_file: Annotated[Path | None, typer.Option("--logs", help="A text file with the run's logs.", dir_okay=False,
                                                   show_default=False)] = None,
    error: Annotated[str | None, typer.Option(help="Why it failed (with --status failed).", show_default=False)] = None,
    instance: Annotated[str, typer.Option(help="Instance to record the run under (default: the app's default).",
                                          show_default=False)] = "",
) -> None:
    """Record a run that executed elsewhere (input, output, status, duration, logs)."""
    from runyard import cloud

    if error and status != TrackedStatus.failed:
        raise CliError("--error is only for --status failed")
    logs = logs_file.read_text(encoding="utf-8").splitlines() if logs_file else None
    tracked = cloud.TrackedRun(input=read_input(input), output=read_input(output_file),
                               status=cloud.TrackedRunStatus(status.value), duration=duration, error=error, logs=logs)
    run_id = cli.app(app_id).track_run(tracked, instance_id=instance)
    cli.emit({"run_id": run_id}, lambda: run_id)


def _wait(cli: Cli, target: Any, run_id: str, timeout: float) -> Any:
    from runyard import cloud

    polling = cloud.PollingOptions(max_duration=timeout if timeout > 0 else -1)
    with render.spinner(f"waiting for run {run_id}", enabled=not cli.json):
        return target.run_result_with_polling(run_id, polling_options=polling)


def _show_result(cli: Cli, res: Any) -> None:
    if cli.json:
        render.print_json(res)
    else:
        render.show(render.run_information(res))
        if res.output is not None:
            render.print_json(res.output)
    state = res.metadata.status_v2.value
    if state in ENDED_BADLY:
        render.error(f"run {res.id} {state}" + (f": {res.metadata.error}" if res.metadata.error else ""))
        raise typer.Exit(1)
