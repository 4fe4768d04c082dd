"""Server-Sent Event streams: one run's status changes and log lines, and an account's events.
Both resume from ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from runyard.server.deps import PlatformDep, Viewer
from runyard.services import streams
from runyard.services.events import ALL
from runyard.services.platform import Platform
from runyard.services.runs.reads import get_run

router = APIRouter(tags=["events"])
POLL_SECONDS = 1.0  # events written by another server are found this often; this server's at once
RUN_POLL_SECONDS = 0.25  # log lines are appended without a wake-up
PING_SECONDS = 15.0
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(kind: str, event_id: str, data: dict[str, Any]) -> bytes:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _wait(platform: Platform, key: str, seconds: float) -> None:
    event = platform.run_events.subscribe(key)
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        pass
    finally:
        platform.run_events.unsubscribe(key, event)


async def _stream(request: Request, platform: Platform, read: Callable[[], list[tuple[str, str, dict[str, Any]]]],
                  key: str, seconds: float, done: Callable[[], bool]) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    pinged = time.monotonic()
    while not await request.is_disconnected():
        waiter = asyncio.ensure_future(_wait(platform, key, seconds))  # subscribed before reading: no lost wake-up
        await asyncio.sleep(0)
        items = await to_thread.run_sync(read)
        for kind, event_id, data in items:
            yield sse(kind, event_id, data)
        if done():
            waiter.cancel()
            return
        if not items and time.monotonic() - pinged > PING_SECONDS:
            pinged = time.monotonic()
            yield b": ping\n\n"
        await waiter


@router.get("/v1/applications/{app_id}/runs/{run_id}/events")
async def run_events(request: Request, app_id: str, run_id: str, platform: PlatformDep, principal: Viewer,
                     last_event_id: Annotated[str | None, Header()] = None,
                     logs: Annotated[bool, Query(description="Stream log lines too (false: status changes and the end only).")] = True,
                     ) -> StreamingResponse:
    cursor = streams.RunCursor.parse(last_event_id or request.query_params.get("last_event_id"))
    await to_thread.run_sync(get_run, platform, principal, app_id, run_id)  # 404 before the stream opens
    if cursor.event_id:
        await to_thread.run_sync(streams.check_resumable, platform, cursor.event_id)  # 410 past the pruned horizon

    def read() -> list[tuple[str, str, dict[str, Any]]]:
        return streams.read_run(platform, principal, app_id, run_id, cursor, logs=logs)

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

    def read() -> list[tuple[str, str, dict[str, Any]]]:
        found = streams.read_events(platform, principal, cursor, app_id=application_id, types=event_type)
        return [(doc["event_type"], f"evt-{event_id}", doc) for event_id, doc in found]

    body = _stream(request, platform, read, ALL, POLL_SECONDS, lambda: False)
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)
