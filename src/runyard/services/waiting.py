"""Waiting for a run to end without client-side sleeping: in-process wake-ups plus a database check.

The embedded executor finishes runs in this process, so a waiter is woken the moment the run
ends; when another process finishes it (scaled mode), the periodic database check notices.
Waiters are asyncio tasks, so a thousand open long-polls hold no threads.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict

from runyard.domain.runs import is_terminal
from runyard.services.platform import Platform, Principal, point_read
from runyard.services.runs.reads import get_run
from runyard.storage.db import Run

MAX_WAIT_SECONDS = 60.0
RECHECK_SECONDS = 1.0


class RunEvents:
    """Wake-ups keyed by run id, delivered from any thread to asyncio waiters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(list)

    def notify(self, run_id: str) -> None:
        with self._lock:
            waiters = self._waiters.pop(run_id, [])
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def subscribe(self, run_id: str) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._waiters[run_id].append((asyncio.get_running_loop(), event))
        return event

    def unsubscribe(self, run_id: str, event: asyncio.Event) -> None:
        with self._lock:
            waiters = self._waiters.get(run_id, [])
            self._waiters[run_id] = [w for w in waiters if w[1] is not event]
            if not self._waiters[run_id]:
                del self._waiters[run_id]


async def wait_for_run(platform: Platform, principal: Principal, app_id: str, run_id: str, seconds: float) -> Run:
    """The run once it has ended, or as it is when ``seconds`` (≤ 60) have passed."""
    deadline = time.monotonic() + max(0.0, min(seconds, MAX_WAIT_SECONDS))
    events: RunEvents = platform.run_events
    while True:
        event = events.subscribe(run_id)
        try:
            run = await point_read(platform, get_run, platform, principal, app_id, run_id)
            left = deadline - time.monotonic()
            if is_terminal(run.status) or left <= 0:
                return run
            try:
                await asyncio.wait_for(event.wait(), timeout=min(left, RECHECK_SECONDS))
            except TimeoutError:
                pass
        finally:
            events.unsubscribe(run_id, event)
