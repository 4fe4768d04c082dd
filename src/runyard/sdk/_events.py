"""Server-Sent Event streams: a run's status changes and log lines, an account's events; a dropped
connection is resumed from the last event seen (``Last-Event-ID``), so nothing is missed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from runyard.sdk._client import Client
    from runyard.sdk.aio import AsyncClient

RECONNECTS = 10


class StreamUnavailable(Exception):
    """The server does not offer this event stream (an older Runyard, or Nextmv Cloud)."""


@dataclass
class StreamEvent:
    event: str
    id: str
    data: dict[str, Any]


class _Parser:
    """Lines of a Server-Sent Event stream in, events out (one each time a blank line ends one)."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def feed(self, line: str) -> StreamEvent | None:
        fields = self.fields
        if line == "":
            self.fields = {}
            if "data" in fields:
                return StreamEvent(event=fields.get("event", "message"), id=fields.get("id", ""), data=json.loads(fields["data"]))
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value
        return None


def _parse(lines: Iterator[str]) -> Iterator[StreamEvent]:
    parser = _Parser()
    for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event


class _Request:
    """One connection's request of a stream: URL, headers (resuming after ``last_event_id``) and timeout."""

    def __init__(self, base_url: str, path: str, headers: dict[str, str] | None, timeout: float) -> None:
        self.url = base_url.rstrip("/") + "/" + path.lstrip("/")
        self.base_headers, self.timeout = headers, timeout

    def headers(self, last_event_id: str | None) -> dict[str, str]:
        headers = {**(self.base_headers or {}), "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        return headers

    def timeouts(self, deadline: float | None) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=None if deadline is None else max(0.01, deadline - time.monotonic()))


def stream_events(client: Client, path: str, *, last_event_id: str | None = None, params: dict[str, Any] | None = None,
                  until: str | None = None, deadline: float | None = None) -> Iterator[StreamEvent]:
    """Events of the stream at ``path``, reconnecting with ``Last-Event-ID`` when the connection drops;
    ends after the event named ``until`` or when the server closes the stream after it. Past
    ``deadline`` (``time.monotonic()``), ``TimeoutError``."""
    req = _Request(client.url, path, client.headers, client.timeout)
    failures = 0
    while True:
        try:
            with client.http.stream("GET", req.url, headers=req.headers(last_event_id), params=params,
                                    timeout=req.timeouts(deadline)) as resp:
                if not resp.headers.get("content-type", "").startswith("text/event-stream"):
                    if resp.status_code in (404, 405) and not _names_resource(resp.read()):
                        raise StreamUnavailable(path)
                    if resp.status_code >= 400:
                        # The same call through the client: the typed error of runyard.sdk.errors.
                        client.request("GET", path)
                    raise StreamUnavailable(path)
                lines = resp.iter_lines()
                for event in _parse(lines):
                    failures = 0
                    last_event_id = event.id or last_event_id
                    if until is not None and event.event == until:
                        _drain(lines)
                        yield event
                        return
                    yield event
                    _check(deadline)
            if until is None:
                return
        except (httpx.TransportError, httpx.RemoteProtocolError):
            _check(deadline)
            failures += 1
            if failures > RECONNECTS:
                raise
            time.sleep(_backoff(failures))


async def astream_events(client: AsyncClient, path: str, *, last_event_id: str | None = None,
                         params: dict[str, Any] | None = None, until: str | None = None,
                         deadline: float | None = None) -> AsyncIterator[StreamEvent]:
    """The async twin of :func:`stream_events`."""
    req = _Request(client.url, path, client.headers, client.timeout)
    failures = 0
    while True:
        try:
            async with client.http.stream("GET", req.url, headers=req.headers(last_event_id), params=params,
                                          timeout=req.timeouts(deadline)) as resp:
                if not resp.headers.get("content-type", "").startswith("text/event-stream"):
                    if resp.status_code in (404, 405) and not _names_resource(await resp.aread()):
                        raise StreamUnavailable(path)
                    if resp.status_code >= 400:
                        await client.request("GET", path)
                    raise StreamUnavailable(path)
                parser = _Parser()
                lines = resp.aiter_lines()
                async for line in lines:
                    event = parser.feed(line)
                    if event is None:
                        continue
                    failures = 0
                    last_event_id = event.id or last_event_id
                    if until is not None and event.event == until:
                        await _adrain(lines)
                        yield event
                        return
                    yield event
                    _check(deadline)
            if until is None:
                return
        except (httpx.TransportError, httpx.RemoteProtocolError):
            _check(deadline)
            failures += 1
            if failures > RECONNECTS:
                raise
            await asyncio.sleep(_backoff(failures))


# The server closes a run's stream right after its ``end``: reading on to the end of the body (at most
# the chunked encoding's last bytes) before leaving lets the connection go back to the pool, so the next
# request does not pay for a new one.
def _drain(lines: Iterator[str]) -> None:
    try:
        for _ in lines:
            pass
    except httpx.HTTPError:
        pass


async def _adrain(lines: AsyncIterator[str]) -> None:
    try:
        async for _ in lines:
            pass
    except httpx.HTTPError:
        pass


def _backoff(failures: int) -> float:
    return min(5.0, 0.2 * 2 ** failures)


def _check(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeoutError("the event stream did not end before the deadline")


def _names_resource(body: bytes) -> bool:
    """A 404 about the run itself (Runyard's ``{"error": …}``), not about an unknown route."""
    try:
        found = json.loads(body)
    except ValueError:
        return False
    return isinstance(found, dict) and "error" in found
