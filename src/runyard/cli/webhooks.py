"""``runyard webhooks``: create and manage webhooks, read their delivery log, and ``listen``: a local
receiver that verifies and prints events (and can forward them)."""

from __future__ import annotations

import http.server
import json
import sys
from typing import Annotated, Any

import typer

from runyard.cli import render
from runyard.cli.base import Cli, CliError, command, parse_pairs

app = typer.Typer(help="Webhooks: create, list, get, update, delete, deliveries, redeliver, test, listen.",
                  no_args_is_help=True)

WebhookId = Annotated[str, typer.Argument(help="The webhook id.", show_default=False)]
EventTypes = Annotated[list[str] | None, typer.Option("--event-type", help="An event type to send (repeat for "
                                                                         "several; default run.status).", show_default=False)]
Filter = Annotated[list[str] | None, typer.Option("--filter", help="A filter, key=value[,value] with key application_ids, "
                                                                 "instance_ids or statuses; repeat for several.", show_default=False)]
Header = Annotated[list[str] | None, typer.Option("--header", help="A header sent with every delivery, Name=value; "
                                                                 "repeat for several.", show_default=False)]


def _webhooks(cli: Cli) -> Any:
    from runyard import cloud

    return cloud.Webhooks(cli.client())


def _filters(pairs: list[str] | None) -> dict[str, list[str]] | None:
    if not pairs:
        return None
    return {key: [v for v in value.split(",") if v] for key, value in parse_pairs(pairs, "--filter").items()}


def _table(items: list[Any]) -> Any:
    table = render.table("id", "status", "event types", "endpoint", "description")
    for w in items:
        table.add_row(w.id, render.status(w.status), ", ".join(w.event_types), w.endpoint_url, w.description)
    return table


def _one(w: Any) -> Any:
    return render.fields([("id", w.id), ("status", render.status(w.status)), ("endpoint", w.endpoint_url),
                          ("event types", ", ".join(w.event_types)), ("filters", json.dumps(w.filters) if w.filters else ""),
                          ("headers", ", ".join(w.headers) if w.headers else ""), ("description", w.description),
                          ("disabled because", w.disabled_reason), ("failing attempts", w.consecutive_failures)])


@command(app, "create")
def create(
    cli: Cli,
    endpoint_url: Annotated[str, typer.Argument(help="Where deliveries are POSTed.", show_default=False)],
    id: Annotated[str | None, typer.Option("--id", help="The webhook id (default: generated).", show_default=False)] = None,
    event_type: EventTypes = None,
    description: Annotated[str | None, typer.Option(help="A description.", show_default=False)] = None,
    filter: Filter = None,
    header: Header = None,
) -> None:
    """Create a webhook; its secret is shown once here (and by ``runyard webhooks get --secret``)."""
    hooks = _webhooks(cli)
    w = hooks.create(endpoint_url, id=id, event_types=event_type or None, description=description,
                     filters=_filters(filter), headers=parse_pairs(header, "--header") or None)
    secret = hooks.secret(w.id)
    cli.emit({**w.to_dict(), "secret": secret}, lambda: _one(w))
    if not cli.json:
        render.note(f"secret: {secret}")


@command(app, "list")
def list_(cli: Cli) -> None:
    """List the account's webhooks."""
    items = _webhooks(cli).list()
    cli.emit(items, lambda: _table(items))


@command(app, "get")
def get(cli: Cli, webhook_id: WebhookId,
        secret: Annotated[bool, typer.Option("--secret", help="Show the signing secret too.")] = False) -> None:
    """Show a webhook."""
    hooks = _webhooks(cli)
    w = hooks.get(webhook_id)
    data = {**w.to_dict(), **({"secret": hooks.secret(webhook_id)} if secret else {})}
    cli.emit(data, lambda: _one(w))
    if secret and not cli.json:
        render.note(f"secret: {data['secret']}")


@command(app, "update")
def update(
    cli: Cli,
    webhook_id: WebhookId,
    endpoint_url: Annotated[str | None, typer.Option(help="A new endpoint URL.", show_default=False)] = None,
    event_type: EventTypes = None,
    description: Annotated[str | None, typer.Option(help="A new description.", show_default=False)] = None,
    filter: Filter = None,
    header: Header = None,
    enable: Annotated[bool | None, typer.Option("--enable/--disable", help="Enable (also after an automatic "
                                                                          "disable) or disable the webhook.", show_default=False)] = None,
    rotate_secret: Annotated[float | None, typer.Option(help="Rotate the secret; the old one keeps signing for this "
                                                             "many seconds.", show_default=False)] = None,
) -> None:
    """Change a webhook."""
    hooks = _webhooks(cli)
    status = None if enable is None else ("enabled" if enable else "disabled")
    w = hooks.update(webhook_id, endpoint_url=endpoint_url, event_types=event_type or None, description=description,
                     filters=_filters(filter), headers=parse_pairs(header, "--header") or None, status=status)
    cli.emit(w, lambda: _one(w))
    if rotate_secret is not None:
        secret = hooks.rotate_secret(webhook_id, rotate_secret)
        render.note(f"new secret: {secret}") if not cli.json else render.print_json({"secret": secret})


@command(app, "delete")
def delete(cli: Cli, webhook_id: WebhookId) -> None:
    """Delete a webhook (its pending deliveries are dropped)."""
    _webhooks(cli).delete(webhook_id)
    cli.emit({"id": webhook_id, "deleted": True}, lambda: f"deleted webhook {webhook_id}")


@command(app, "deliveries")
def deliveries(cli: Cli, webhook_id: WebhookId,
               limit: Annotated[int, typer.Option(help="Show at most this many, newest first.")] = 20) -> None:
    """The delivery log: each delivery's state and its attempts (time, status code, latency, answer)."""
    items = _webhooks(cli).deliveries(webhook_id)[:limit]

    def table() -> Any:
        t = render.table("delivery", "event", "state", "attempts", "last", "answer")
        for d in items:
            last = d.attempts[-1] if d.attempts else None
            code = str(last.status_code) if last and last.status_code else (last.error[:40] if last else "")
            t.add_row(d.id, f"{d.event_type} {d.subject}", render.status(d.state), str(len(d.attempts)),
                      f"{code} {last.latency_ms:.0f} ms" if last else "", (last.response[:40] if last else ""))
        return t

    cli.emit(items, table)


@command(app, "redeliver")
def redeliver(cli: Cli, webhook_id: WebhookId,
              delivery_id: Annotated[str, typer.Argument(help="The delivery id.", show_default=False)]) -> None:
    """Send a delivery again now."""
    d = _webhooks(cli).redeliver(webhook_id, delivery_id)
    cli.emit(d, lambda: f"delivery {d.id} queued again")


@command(app, "test")
def test(cli: Cli, webhook_id: WebhookId) -> None:
    """Send the webhook a sample run.status event (marked "test": true)."""
    d = _webhooks(cli).test(webhook_id)
    cli.emit(d, lambda: f"test delivery {d.id} queued; see `runyard webhooks deliveries {webhook_id}`")


@command(app, "listen", connect=False)
def listen(
    cli: Cli,
    secret: Annotated[str, typer.Option(envvar="RUNYARD_WEBHOOK_SECRET", help="The webhook's secret: deliveries "
                                                                             "that do not verify are answered 401.", show_default=False)],
    port: Annotated[int, typer.Option(help="Port to listen on (loopback).")] = 8787,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    forward_to: Annotated[str | None, typer.Option(help="Also POST each verified delivery, headers and body "
                                                        "unchanged, to this URL; its answer is passed back.", show_default=False)] = None,
) -> None:
    """A local receiver for development: verifies each delivery's signature, prints the event, and
    optionally forwards it to your handler. Point a webhook at http://HOST:PORT/."""
    from runyard.cloud import WebhookVerificationError, verify_signature

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = dict(self.headers.items())
            try:
                doc = verify_signature(body, headers, secret)
            except (WebhookVerificationError, ValueError):
                render.error(f"refused a delivery whose signature does not verify ({len(body)} bytes)")
                self._answer(401, b"signature does not verify")
                return
            _print_event(cli, doc)
            status, answer = 200, b"ok"
            if forward_to:
                status, answer = _forward(forward_to, body, headers)
            self._answer(status, answer)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    try:
        server = http.server.ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    render.note(f"listening on http://{host}:{server.server_address[1]}/" + (f", forwarding to {forward_to}" if forward_to else ""))
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _print_event(cli: Cli, doc: dict[str, Any]) -> None:
    if cli.json:
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        data = doc.get("data") or {}
        what = data.get("run_id") or data.get("version_id") or data.get("experiment_id") or ""
        state = data.get("status_v2") or data.get("status") or ""
        sys.stdout.write(f"{doc.get('created_at', '')}  {doc.get('event_type', '')}  {what}  {state}".rstrip() + "\n")
    sys.stdout.flush()


def _forward(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    import httpx

    keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")}
    try:
        resp = httpx.post(url, content=body, headers=keep, timeout=30)
    except httpx.HTTPError as exc:
        render.error(f"forwarding to {url} failed: {exc}")
        return 502, b"forwarding failed"
    return resp.status_code, resp.content
