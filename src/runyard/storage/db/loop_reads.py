"""PostgreSQL point reads on the event loop: a few psycopg ``AsyncConnection``s, no worker thread.

A point read is one round trip of about 100 µs; run from a worker thread it also pays the hop there and
back and the threads' fight for the interpreter lock, which under load cost more than the query (the
P3R benchmark). Here the query is awaited where the request is served.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

Connect = Callable[[], Awaitable[Any]]  # opens one autocommit psycopg.AsyncConnection


class LoopReads:
    """Up to ``size`` autocommit ``AsyncConnection``s of one event loop, opened when first needed.

    A connection the server dropped (a restart, an idle timeout) is found out on use: it is closed, so
    are the idle ones opened before it (a restart ended them too), and the read goes once more through
    a fresh connection. A read interrupted mid-query (the client went away) closes its connection, whose
    state nobody knows then.
    """

    def __init__(self, connect: Connect, *, size: int, errors: type[BaseException]) -> None:
        self._connect = connect
        self._errors = errors  # the driver's OperationalError: the connection is gone
        self._free = asyncio.Semaphore(size)
        self._idle: list[Any] = []
        self._closed = False

    async def fetch(self, sql: str, bound: Any, *, one: bool, describe: bool) -> tuple[list[Any], Any]:
        """The rows of one statement and, if ``describe``, the cursor's description (for the result
        processors; psycopg builds it anew on each access, about 15 µs a column)."""
        async with self._free:
            try:
                return await self._fetch_once(self._idle.pop() if self._idle else None, sql, bound, one=one, describe=describe)
            except self._errors:
                await self._discard(self._idle)
                self._idle = []
                return await self._fetch_once(None, sql, bound, one=one, describe=describe)

    async def _fetch_once(self, conn: Any, sql: str, bound: Any, *, one: bool, describe: bool) -> tuple[list[Any], Any]:
        if self._closed:
            raise RuntimeError("the event loop's point reads are closed")
        conn = conn or await self._connect()
        try:
            cursor = conn.cursor()
            await cursor.execute(sql, bound)
            if one:
                row = await cursor.fetchone()
                rows = [] if row is None else [row]
            else:
                rows = await cursor.fetchall()
            description = cursor.description if describe and rows else None
            await cursor.close()
        except BaseException:
            await self._discard([conn])
            raise
        if self._closed:
            await self._discard([conn])
        else:
            self._idle.append(conn)
        return rows, description

    async def _discard(self, conns: list[Any]) -> None:
        with anyio.CancelScope(shield=True):  # even when the read itself was canceled
            for conn in conns:
                try:
                    await conn.close()
                except Exception:  # noqa: BLE001, S110 - it is being thrown away
                    pass

    async def aclose(self) -> None:
        """Close every idle connection; reads after this fail."""
        self._closed = True
        idle, self._idle = self._idle, []
        await self._discard(idle)
