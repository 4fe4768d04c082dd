"""The dependencies every service needs, wired once by the app factory or the CLI."""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from anyio import CapacityLimiter, to_thread

from runyard.services.keycache import KeyCache
from runyard.settings import Settings
from runyard.storage.blobs import BlobStore
from runyard.storage.db import Database, ServerState

# A verified key is trusted this long without a database read (the hot path of every call); a revocation
# reaches every server process at once (services.keycache), this is the last bound.
KEY_CACHE_SECONDS = 5.0


@dataclass
class Principal:
    """Who is calling: an API key of an account, with a role."""

    account_id: str
    key_id: str
    role: str
    email: str = ""
    key_name: str = ""


@dataclass
class Platform:
    settings: Settings
    db: Database
    blobs: BlobStore
    signing_secret: str
    secrets_key: str = ""
    wakeup: Callable[[], None] = field(default=lambda: None)
    # Start what the queue has room for from the calling thread (a submission), not the dispatcher's.
    start_queued: Callable[[], None] = field(default=lambda: None)
    cancel_hook: Callable[[str], None] = field(default=lambda run_id: None)
    has_capacity: Callable[[str], bool] = field(default=lambda execution_class: True)
    # An ensemble run's child ended (services.ensembles.child_ended, set by the composition root).
    child_ended: Callable[[str], None] = field(default=lambda parent_run_id: None)
    key_cache: KeyCache = field(default_factory=lambda: KeyCache(KEY_CACHE_SECONDS))  # verified API keys, briefly
    run_events: Any = None  # services.waiting.RunEvents, set by the composition root
    metrics: Any = None  # services.metrics.Metrics, set by the composition root
    wakeup_webhooks: Callable[[], None] = field(default=lambda: None)  # the delivery worker has work

    @property
    def bundle_cache(self) -> Path:
        return self.settings.data_path("bundles")


def server_secret(db: Database, name: str, configured: str | None) -> str:
    """A secret shared by all server processes: the configured one, else generated once and stored."""
    if configured:
        return configured
    with db.session() as s:
        row = s.get(ServerState, name)
        if row is None:
            row = ServerState(key=name, value=secrets.token_hex(32))
            s.add(row)
        return row.value


T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


async def point_read(platform: Platform, fn: Callable[..., T], *args: Any) -> T:
    """Run a small read (one indexed row) from async code: inline on SQLite, where it takes microseconds
    and a thread hop (plus the fight for the interpreter lock that follows) costs more than the query;
    on PostgreSQL, awaited on the event loop when ``fn`` has a twin for it (``reads_on_loop``), else in a
    worker thread, where it waits on the network."""
    if platform.db.dialect == "sqlite":
        return fn(*args)
    twin = getattr(fn, "on_loop", None)
    if twin is not None and platform.db.reads_on_loop:
        return await twin(*args)
    return await in_thread(fn, *args)


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in one of the few worker threads that point reads share."""
    return await to_thread.run_sync(fn, *args, limiter=_point_readers())


def reads_on_loop(twin: Callable[..., Awaitable[Any]]) -> Callable[[F], F]:
    """Marks a read whose ``twin`` (a coroutine function with the same arguments and the same answer,
    whose queries go through ``Database.afirst``/``aall``) ``point_read`` awaits instead on PostgreSQL."""
    def mark(fn: F) -> F:
        fn.on_loop = twin  # type: ignore[attr-defined]
        return fn
    return mark


# Threads that wait on PostgreSQL point reads at once, per event loop. A few suffice (a read is one round
# trip) and fewer threads fight less for the interpreter lock: two replicas under 64 connections served
# 2,900-3,100 metadata reads/s with 3, 2,100-2,300 with anyio's default 40, saturated p99 0.1 s vs 0.6-1.2 s.
POINT_READERS = 4
_readers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = weakref.WeakKeyDictionary()


def _point_readers() -> CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _readers.get(loop)
    if limiter is None:
        limiter = _readers[loop] = CapacityLimiter(POINT_READERS)
    return limiter
