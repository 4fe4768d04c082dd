"""Waiting for a run to end (or its log to grow) without client-side sleeping.

A waiter is woken the moment a run ends in this process, and, through ``services.notify``, the moment
it ends in another server process on the same PostgreSQL database. Every waiter also rechecks the
database on a timer (often while the listener connection is down), so a lost wake-up costs latency,
never an answer. Waiters are asyncio tasks, so a thousand open long-polls hold no threads.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict

from runyard.domain.runs import is_terminal
from runyard.services.notify import RUN_ENDED, Signals
from runyard.services.platform import Platform, Principal, point_read
from runyard.services.runs.logs import LogPage, live_logs
from runyard.services.runs.reads import get_run
from runyard.storage.db import Run

MAX_WAIT_SECONDS = 60.0
RECHECK_SECONDS = 1.0
FALLBACK_RECHECK_SECONDS = 0.25  # while no notification can arrive from other servers
# Log lines are written by whichever machine executes the run (a worker node holds no database
# connection to signal from), so a log wait looks at the stored log this often; the run's end wakes it.
LOG_RECHECK_SECONDS = 0.1


class RunEvents:
    """Wake-ups keyed by run id, delivered from any thread to asyncio waiters; with ``signals``, a
    ``notify`` reaches the waiters of every server process."""

    def __init__(self, signals: Signals | None = None) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(list)
        self._signals = signals
        if signals is not None:
            signals.on(RUN_ENDED, self.wake)
            signals.on_reconnect(self.wake_all)

    @property
    def recheck_seconds(self) -> float:
        return RECHECK_SECONDS if self._signals is None or self._signals.listening else FALLBACK_RECHECK_SECONDS

    def notify(self, run_id: str) -> None:
        """The run has changed (call after the change is committed): wake whoever waits for it, anywhere."""
        if self._signals is not None:
            self._signals.publish(RUN_ENDED, run_id)
        else:
            self.wake(run_id)

    def wake(self, run_id: str) -> None:
        """Wake this process's waiters of ``run_id``."""
        with self._lock:
            waiters = self._waiters.pop(run_id, [])
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def wake_all(self) -> None:
        with self._lock:
            run_ids = list(self._waiters)
        for run_id in run_ids:
            self.wake(run_id)

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
            await _woken(event, min(left, events.recheck_seconds))
        finally:
            events.unsubscribe(run_id, event)


async def wait_for_log(platform: Platform, principal: Principal, app_id: str, run_id: str, since: str | None,
                       seconds: float) -> LogPage:
    """Log lines after ``since`` once there are some or the run has ended, or none when ``seconds`` (≤ 60)
    have passed."""
    deadline = time.monotonic() + max(0.0, min(seconds, MAX_WAIT_SECONDS))
    events: RunEvents = platform.run_events
    while True:
        event = events.subscribe(run_id)
        try:
            page = await point_read(platform, live_logs, platform, principal, app_id, run_id, since)
            left = deadline - time.monotonic()
            if page.records or is_terminal(page.status) or left <= 0:
                return page
            await _woken(event, min(left, LOG_RECHECK_SECONDS))
        finally:
            events.unsubscribe(run_id, event)


async def _woken(event: asyncio.Event, timeout: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout=timeout)
    except TimeoutError:
        pass
