"""Server-Sent Event streams: one run's status changes and log lines, and an account's events.
Both resume from ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from runyard.server.api.runs import SMALL_OUTPUT, small_result_body
from runyard.server.deps import PlatformDep, Viewer
from runyard.services import streams
from runyard.services.events import ALL
from runyard.services.platform import Platform, point_read
from runyard.services.runs.reads import get_run

router = APIRouter(tags=["events"])
POLL_SECONDS = 1.0  # events written by another server are found this often; this server's at once
RUN_POLL_SECONDS = 0.25  # log lines are appended without a wake-up
PING_SECONDS = 15.0
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


Items = list[tuple[str, str, dict[str, Any] | bytes]]


def sse(kind: str, event_id: str, data: dict[str, Any] | bytes) -> bytes:
    """One event; ``data`` a dict, or JSON already encoded on one line."""
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return f"id: {event_id}\nevent: {kind}\ndata: ".encode() + raw + b"\n\n"


# Inside a JSON document a raw CR or LF can only be whitespace between tokens, and U+0085, U+2028 and
# U+2029 only characters of a string: as spaces and escapes the document means the same and fits on one
# ``data:`` line, which clients that split lines as ``str.splitlines`` does (httpx) read whole.
_ONE_LINE = ((b"\r", b" "), (b"\n", b" "), ("\u0085".encode(), b"\\u0085"), ("\u2028".encode(), b"\\u2028"),
             ("\u2029".encode(), b"\\u2029"))


def one_line(document: bytes) -> bytes:
    for raw, same in _ONE_LINE:
        if raw in document:
            document = document.replace(raw, same)
    return document


async def _woken(event: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def _stream(request: Request, platform: Platform, read: Callable[[], Awaitable[Items]],
                  key: str, seconds: float, done: Callable[[], bool]) -> AsyncIterator[bytes]:
    head = b"retry: 1000\n\n"  # sent with the first read's events
    pinged = time.monotonic()
    events = platform.run_events
    idle = False
    # Whether the client is gone is asked once the stream has nothing to send (it costs more than a read:
    # a cancel scope and a task's repr); a stream that sends finds out from the send, or from the server.
    while not (idle and await request.is_disconnected()):
        woken = events.subscribe(key)  # before reading: no lost wake-up
        try:
            items = await read()
            idle = not items
            # What one read found goes out as one write: each write is a trip through the middleware, a
            # system call and a wake-up of the client, which a run's status changes and end paid one by one.
            if items or head:
                yield head + b"".join(sse(kind, event_id, data) for kind, event_id, data in items)
                head = b""
            if done():
                return
            if not items and time.monotonic() - pinged > PING_SECONDS:
                pinged = time.monotonic()
                yield b": ping\n\n"
            await _woken(woken, seconds)
        finally:
            events.unsubscribe(key, woken)


LOGS_DOC = "Stream log lines too (false: status changes and the end only)."
RESULT_DOC = ("The end event carries the run's result as `result`: the body `GET …/runs/{run_id}` answers "
              f"(information and output), when the output is at most {SMALL_OUTPUT // 1024} KiB; for a larger "
              "one it is left out (read the result with that request).")


@router.get("/v1/applications/{app_id}/runs/{run_id}/events")
async def run_events(request: Request, app_id: str, run_id: str, platform: PlatformDep, principal: Viewer,
                     last_event_id: Annotated[str | None, Header()] = None,
                     logs: Annotated[bool, Query(description=LOGS_DOC)] = True,
                     result: Annotated[bool, Query(description=RESULT_DOC)] = False) -> StreamingResponse:
    cursor = streams.RunCursor.parse(last_event_id or request.query_params.get("last_event_id"))
    await point_read(platform, get_run, platform, principal, app_id, run_id)  # 404 before the stream opens
    if cursor.event_id:
        await to_thread.run_sync(streams.check_resumable, platform, cursor.event_id)  # 410 past the pruned horizon

    def end_data(run: Any, end: dict[str, Any]) -> dict[str, Any] | bytes:
        body = small_result_body(platform, run)
        return end if body is None else json.dumps(end, separators=(",", ":")).encode()[:-1] + b',"result":' + one_line(body) + b"}"

    def read_now() -> Items:
        return streams.read_run(platform, principal, app_id, run_id, cursor, logs=logs, end_data=end_data if result else None)

    async def read() -> Items:
        # Status changes only: two indexed reads, done as the other hot reads are (inline on SQLite: a
        # thread hop costs more than they do). Log lines may mean reading a blob: in a worker thread.
        return await (to_thread.run_sync(read_now) if logs else point_read(platform, read_now))

    # Without log lines (appended with no wake-up) the stream reads only when the run's status changes
    # here, or every POLL_SECONDS for a change another server made: a waiting client costs next to nothing.
    body = _stream(request, platform, read, run_id, RUN_POLL_SECONDS if logs else POLL_SECONDS, lambda: cursor.ended)
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)


@router.get("/v1/events")
async def account_events(request: Request, platform: PlatformDep, principal: Viewer,
                         application_id: Annotated[str | None, Query()] = None,
                         event_type: Annotated[list[str] | None, Query()] = None,
                         last_event_id: Annotated[str | None, Header()] = None) -> StreamingResponse:
    after = streams.parse_event_id(last_event_id or request.query_params.get("last_event_id"))
    if after is None:
        after = await to_thread.run_sync(streams.latest_event_id, platform)
    else:
        await to_thread.run_sync(streams.check_resumable, platform, after)  # 410 past the pruned horizon
    cursor = streams.Cursor(last_id=after)

    def read_now() -> Items:
        found = streams.read_events(platform, principal, cursor, app_id=application_id, types=event_type)
        return [(doc["event_type"], f"evt-{event_id}", doc) for event_id, doc in found]

    async def read() -> Items:
        return await to_thread.run_sync(read_now)

    body = _stream(request, platform, read, ALL, POLL_SECONDS, lambda: False)
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)
