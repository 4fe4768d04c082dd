"""Server-Sent Event streams: a run's status changes and log lines, an account's events; a dropped
connection is resumed from the last event seen (``Last-Event-ID``), so nothing is missed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from runyard.sdk._client import Client

RECONNECTS = 10


class StreamUnavailable(Exception):
    """The server does not offer this event stream (an older Runyard, or Nextmv Cloud)."""


@dataclass
class StreamEvent:
    event: str
    id: str
    data: dict[str, Any]


def _parse(lines: Iterator[str]) -> Iterator[StreamEvent]:
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                yield StreamEvent(event=fields.get("event", "message"), id=fields.get("id", ""), data=json.loads(fields["data"]))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value


def stream_events(client: Client, path: str, *, last_event_id: str | None = None, params: dict[str, Any] | None = None,
                  until: str | None = None, deadline: float | None = None) -> Iterator[StreamEvent]:
    """Events of the stream at ``path``, reconnecting with ``Last-Event-ID`` when the connection drops;
    ends after the event named ``until`` or when the server closes the stream after it. Past
    ``deadline`` (``time.monotonic()``), ``TimeoutError``."""
    url = client.url.rstrip("/") + "/" + path.lstrip("/")
    failures = 0
    while True:
        headers = {**(client.headers or {}), "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        read = None if deadline is None else max(0.01, deadline - time.monotonic())
        try:
            with client.http.stream("GET", url, headers=headers, params=params,
                                    timeout=httpx.Timeout(client.timeout, read=read)) as resp:
                if not resp.headers.get("content-type", "").startswith("text/event-stream"):
                    if resp.status_code in (404, 405) and not _names_resource(resp):
                        raise StreamUnavailable(path)
                    if resp.status_code >= 400:
                        # The same call through the client: the typed error of runyard.sdk.errors.
                        client.request("GET", path)
                    raise StreamUnavailable(path)
                for event in _parse(resp.iter_lines()):
                    failures = 0
                    last_event_id = event.id or last_event_id
                    yield event
                    if until is not None and event.event == until:
                        return
                    _check(deadline)
            if until is None:
                return
        except (httpx.TransportError, httpx.RemoteProtocolError):
            _check(deadline)
            failures += 1
            if failures > RECONNECTS:
                raise
            time.sleep(min(5.0, 0.2 * 2 ** failures))


def _check(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeoutError("the event stream did not end before the deadline")


def _names_resource(resp: httpx.Response) -> bool:
    """A 404 about the run itself (Runyard's ``{"error": …}``), not about an unknown route."""
    resp.read()
    try:
        return "error" in resp.json()
    except ValueError:
        return False
