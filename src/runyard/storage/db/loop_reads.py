"""PostgreSQL point reads on the event loop: a few async connections, no worker thread.

A point read is one round trip of about 100 µs; run from a worker thread it also pays the hop there and
back and the threads' fight for the interpreter lock, which under load cost more than the query (the
P3R benchmark). Here the query is awaited where the request is served.

Two drivers: asyncpg when it is installed (``pip install 'runyard[postgres]'``), else psycopg's
``AsyncConnection``. The same indexed read took 34 µs of the server's CPU through asyncpg and 110 µs
through psycopg's async cursor (its wait generator re-registers the socket with the event loop on
every query), which decided the P3R benchmark: the server answers from the event loop's one thread.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import anyio
from sqlalchemy import Engine
from sqlalchemy.engine import Dialect

T = TypeVar("T")


class LoopDriver(Protocol):
    """How ``LoopReads`` opens, uses and closes one autocommit connection of the event loop."""

    dialect: Dialect  # statements are compiled for it; its result processors decode the values
    errors: tuple[type[BaseException], ...]  # the connection is gone

    async def connect(self) -> Any: ...

    async def fetch(self, conn: Any, sql: str, bound: Any, *, one: bool, describe: bool) -> tuple[list[Any], list[Any] | None]:
        """The rows and, if ``describe``, each column's type code as the dialect's processors take it."""

    async def close(self, conn: Any) -> None: ...


class PsycopgDriver:
    """psycopg ``AsyncConnection``s opened as ``engine`` opens its connections (its arguments and adapters)."""

    def __init__(self, engine: Engine) -> None:
        import psycopg

        self.dialect = engine.dialect
        self.errors = (psycopg.OperationalError,)
        self._cargs, self._cparams = engine.dialect.create_connect_args(engine.url)

    async def connect(self) -> Any:
        import psycopg

        return await psycopg.AsyncConnection.connect(*self._cargs, **self._cparams, autocommit=True)

    async def fetch(self, conn: Any, sql: str, bound: Any, *, one: bool, describe: bool) -> tuple[list[Any], list[Any] | None]:
        cursor = conn.cursor()
        await cursor.execute(sql, bound)
        if one:
            row = await cursor.fetchone()
            rows = [] if row is None else [row]
        else:
            rows = await cursor.fetchall()
        # (psycopg builds the description anew on each access, about 15 µs a column)
        types = [d[1] for d in cursor.description] if describe and rows else None
        await cursor.close()
        return rows, types

    async def close(self, conn: Any) -> None:
        await conn.close()


class AsyncpgDriver:
    """asyncpg connections to ``engine``'s database; statements compiled for SQLAlchemy's asyncpg dialect
    and prepared once per connection (asyncpg's statement cache); ``json`` decoded as the psycopg dialect
    decodes it."""

    def __init__(self, engine: Engine) -> None:
        import asyncpg
        from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

        self.dialect = asyncpg_dialect()
        # (an ended backend: admin shutdown and the rest of class 57, then "connection is closed")
        self.errors = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.exceptions.OperatorInterventionError,
                       OSError)
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def connect(self) -> Any:
        import asyncpg

        conn = await asyncpg.connect(self._dsn)
        await conn.set_type_codec("json", encoder=str.encode, decoder=_json_of_bytes, schema="pg_catalog", format="binary")
        return conn

    async def fetch(self, conn: Any, sql: str, bound: Any, *, one: bool, describe: bool) -> tuple[list[Any], list[Any] | None]:
        if describe:  # the first read of a statement: its column types, for the result processors
            statement = await conn.prepare(sql)
            rows = await statement.fetch(*bound)
            return (rows[:1] if one else rows), [a.type.oid for a in statement.get_attributes()]
        if one:
            row = await conn.fetchrow(sql, *bound)
            return ([] if row is None else [row]), None
        return await conn.fetch(sql, *bound), None

    async def close(self, conn: Any) -> None:
        try:
            await conn.close(timeout=1)
        except Exception:  # noqa: BLE001 - a connection already broken: drop it without a goodbye
            conn.terminate()


@dataclass
class _Batch:
    """Keyed reads of one statement that wait for a connection together, and the task that sends them."""

    keys: set[Any] = field(default_factory=set)
    task: asyncio.Task[dict[Any, Any]] | None = None


def _json_of_bytes(value: bytes) -> Any:
    return json.loads(value)


def _retrieved(read: asyncio.Task[Any]) -> None:
    if not read.cancelled():
        read.exception()


def loop_driver(engine: Engine, name: str = "auto") -> LoopDriver:
    """The driver ``name`` (``asyncpg``, ``psycopg``; ``auto``: asyncpg if it is installed) for ``engine``."""
    if name == "auto":
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            name = "psycopg"
        else:
            name = "asyncpg"
    if name == "asyncpg":
        return AsyncpgDriver(engine)
    if name == "psycopg":
        return PsycopgDriver(engine)
    raise ValueError(f"unknown driver for reads on the event loop: {name!r} (asyncpg, psycopg or auto)")


class LoopReads:
    """Up to ``size`` autocommit connections of one event loop, opened when first needed.

    A connection the server dropped (a restart, an idle timeout) is found out on use: it is closed, so
    are the idle ones opened before it (a restart ended them too), and the read goes once more through
    a fresh connection. A read interrupted mid-query (the client went away) closes its connection, whose
    state nobody knows then.

    ``fetch_shared`` coalesces equal reads: one that arrives while the same statement with the same
    parameters waits for a connection joins it. A joined read is still sent after the reader arrived, so
    it sees every write committed before: what a reader gets is never older than what a read of its own
    would have got. When every connection is busy, many pollers of one run (a console, scripts, the
    official SDK's ``poll``) cost one round trip per connection that frees up, not one each.
    """

    def __init__(self, driver: LoopDriver, *, size: int) -> None:
        self._driver = driver
        self._free = asyncio.Semaphore(size)
        self._idle: list[Any] = []
        self._closed = False
        self._unsent: dict[Any, asyncio.Task[Any]] = {}  # reads waiting for a connection, by statement and parameters
        self._batches: dict[Any, _Batch] = {}  # keyed reads waiting for a connection, by statement and other parameters

    async def fetch_keyed(self, sql: str, common: Any, key: Any, *, bind: Callable[[list[Any]], Any], describe: bool,
                          then: Callable[[list[Any], list[Any] | None], dict[Any, Any]]) -> Any:
        """The row for ``key`` of a statement that reads rows by a list of keys, its other parameters
        ``common``: reads of other keys (or the same) asked for while this one waits for a connection join
        it, and go as one query (``bind(keys)``: its parameters), sent after each of them arrived, as
        ``fetch_shared`` does. ``then(rows, types)`` maps the rows by key; None where there is no row."""
        group = (sql, common)
        batch = self._batches.get(group)
        if batch is None or batch.task is None or batch.task.done():
            batch = self._batches[group] = _Batch()
            batch.task = asyncio.ensure_future(self._send_batch(group, batch, sql, bind, describe, then))
            batch.task.add_done_callback(_retrieved)
        batch.keys.add(key)
        return (await asyncio.shield(batch.task)).get(key)

    async def _send_batch(self, group: Any, batch: _Batch, sql: str, bind: Callable[[list[Any]], Any], describe: bool,
                          then: Callable[[list[Any], list[Any] | None], dict[Any, Any]]) -> dict[Any, Any]:
        async with self._free:
            if self._batches.get(group) is batch:
                del self._batches[group]  # from here on it is being sent: later readers start the next one
            found = await self._send(sql, bind(sorted(batch.keys)), one=False, describe=describe)
        return then(*found)

    async def fetch_shared(self, sql: str, bound: Any, *, one: bool, describe: bool,
                           then: Callable[[list[Any], list[Any] | None], T]) -> T:
        """``then(rows, types)`` of ``fetch``, shared with the equal reads asked for before it was sent:
        they all get the one value ``then`` returned (read-only, then)."""
        key = (sql, tuple(bound.items()) if isinstance(bound, dict) else tuple(bound), one)
        read = self._unsent.get(key)
        if read is None or read.done():  # (done while unsent: canceled waiting for a connection, at shutdown)
            read = self._unsent[key] = asyncio.ensure_future(self._shared(key, sql, bound, one=one, describe=describe, then=then))
            read.add_done_callback(_retrieved)  # its error reaches its readers; none left is no loose end
        return await asyncio.shield(read)  # one reader going away does not end the read of the others

    async def _shared(self, key: Any, sql: str, bound: Any, *, one: bool, describe: bool,
                      then: Callable[[list[Any], list[Any] | None], T]) -> T:
        return then(*await self._fetch(sql, bound, one=one, describe=describe, key=key))

    async def fetch(self, sql: str, bound: Any, *, one: bool, describe: bool) -> tuple[list[Any], list[Any] | None]:
        """The rows of one statement and, if ``describe``, the type code of each column."""
        return await self._fetch(sql, bound, one=one, describe=describe, key=None)

    async def _fetch(self, sql: str, bound: Any, *, one: bool, describe: bool, key: Any) -> tuple[list[Any], list[Any] | None]:
        async with self._free:
            if key is not None and self._unsent.get(key) is asyncio.current_task():
                del self._unsent[key]  # from here on it is being sent: later readers start the next one
            return await self._send(sql, bound, one=one, describe=describe)

    async def _send(self, sql: str, bound: Any, *, one: bool, describe: bool) -> tuple[list[Any], list[Any] | None]:
        """The query on an idle connection (holding a place of ``_free``), once more on a fresh one if the
        server dropped it."""
        try:
            return await self._fetch_once(self._idle.pop() if self._idle else None, sql, bound, one=one, describe=describe)
        except self._driver.errors:
            await self._discard(self._idle)
            self._idle = []
            return await self._fetch_once(None, sql, bound, one=one, describe=describe)

    async def _fetch_once(self, conn: Any, sql: str, bound: Any, *, one: bool, describe: bool) -> tuple[list[Any], list[Any] | None]:
        if self._closed:
            raise RuntimeError("the event loop's point reads are closed")
        conn = conn or await self._driver.connect()
        try:
            found = await self._driver.fetch(conn, sql, bound, one=one, describe=describe)
        except BaseException:
            await self._discard([conn])
            raise
        if self._closed:
            await self._discard([conn])
        else:
            self._idle.append(conn)
        return found

    async def _discard(self, conns: list[Any]) -> None:
        with anyio.CancelScope(shield=True):  # even when the read itself was canceled
            for conn in conns:
                try:
                    await self._driver.close(conn)
                except Exception:  # noqa: BLE001, S110 - it is being thrown away
                    pass

    async def aclose(self) -> None:
        """Close every idle connection; reads after this fail."""
        self._closed = True
        idle, self._idle = self._idle, []
        await self._discard(idle)
