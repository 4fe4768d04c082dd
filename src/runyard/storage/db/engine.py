"""Engine, sessions and migrations for SQLite (WAL) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import asyncio
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from runyard.storage.db.loop_reads import LoopDriver, LoopReads, loop_driver

MIGRATIONS = Path(__file__).with_name("migrations")
STARTUP_LOCK_KEY = int.from_bytes(b"ry-start", "big") - 2**63  # a PostgreSQL advisory lock key (bigint)


def _normalize_url(url: str) -> str:
    # "postgresql://" means psycopg 3 here; SQLAlchemy would pick psycopg2 otherwise.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.close()


class PointRead:
    """One ``SELECT`` of an indexed row or a few, compiled once for the engine's dialect and run on a
    pooled DBAPI connection, each value decoded by its column type's own result processor: the rows hold
    what ``Connection.execute(statement)`` would give, as named tuples.

    Core's per-statement machinery (a ``Connection``, an execution context, a ``Result``) costs about
    50 µs, several times an indexed SQLite read; this is for the reads every poll makes. Parameters
    go to the driver as given, so they must be plain strings and numbers.
    """

    def __init__(self, engine: Engine, statement: Select[Any]) -> None:
        self._engine = engine
        self._statement = statement
        self._sql, self._positions = _compiled(statement, engine.dialect)
        self._columns = list(statement.selected_columns)
        # (rename: a column whose key is no identifier, e.g. of an expression, becomes ``_<position>``)
        self._row = namedtuple("Row", [c.key for c in self._columns], rename=True)  # type: ignore[misc]  # noqa: PYI024
        self._processors: list[tuple[int, Callable[[Any], Any]]] | None = None
        # The same read on the event loop, as its driver's dialect words and decodes it (set on first use).
        self._loop: tuple[str, tuple[str, ...] | None] | None = None
        self._loop_processors: list[tuple[int, Callable[[Any], Any]]] | None = None

    def first(self, params: Mapping[str, Any]) -> Any | None:
        rows = self._fetch(params, one=True)
        return rows[0] if rows else None

    def all(self, params: Mapping[str, Any]) -> list[Any]:
        return self._fetch(params, one=False)

    async def fetch_on_loop(self, reads: LoopReads, driver: LoopDriver, params: Mapping[str, Any], *, one: bool) -> list[Any]:
        """The same rows as ``first``/``all`` (``one``), read through ``reads`` on the event loop; equal
        reads that wait for a connection at once share one query and its rows (``LoopReads.fetch_shared``)."""
        if self._loop is None:
            self._loop = _compiled(self._statement, driver.dialect)
        sql, positions = self._loop
        bound = params if positions is None else tuple(params[name] for name in positions)

        def decode(rows: list[Any], types: list[Any] | None) -> list[Any]:
            if rows and self._loop_processors is None:
                self._loop_processors = self._result_processors(driver.dialect, types)
            return [self._decode(values, self._loop_processors) for values in rows]

        return await reads.fetch_shared(sql, bound, one=one, describe=self._loop_processors is None, then=decode)

    async def fetch_keyed_on_loop(self, reads: LoopReads, driver: LoopDriver, params: Mapping[str, Any], *, key: str,
                                  column: str) -> Any | None:
        """The row whose ``column`` equals ``params[key]``, of a statement that takes ``key`` as a list of
        such values (``column = ANY(:key)``): concurrent reads of other values with the same other
        parameters share one query (``LoopReads.fetch_keyed``)."""
        if self._loop is None:
            self._loop = _compiled(self._statement, driver.dialect)
        sql, positions = self._loop
        common = tuple(sorted((name, value) for name, value in params.items() if name != key))
        at = next(i for i, c in enumerate(self._columns) if c.key == column)

        def bind(values: list[Any]) -> Any:
            full = {**params, key: values}
            return full if positions is None else tuple(full[name] for name in positions)

        def by_key(rows: list[Any], types: list[Any] | None) -> dict[Any, Any]:
            if rows and self._loop_processors is None:
                self._loop_processors = self._result_processors(driver.dialect, types)
            decoded = (self._decode(values, self._loop_processors) for values in rows)
            return {row[at]: row for row in decoded}

        return await reads.fetch_keyed(sql, common, params[key], bind=bind, describe=self._loop_processors is None,
                                       then=by_key)

    def _bind(self, params: Mapping[str, Any]) -> Any:
        return params if self._positions is None else tuple(params[name] for name in self._positions)

    def _fetch(self, params: Mapping[str, Any], *, one: bool) -> list[Any]:
        bound = self._bind(params)
        try:
            return self._fetch_once(bound, one=one)
        except self._engine.dialect.loaded_dbapi.OperationalError:
            # A pooled connection the server dropped (restart, idle timeout): the pool of point reads
            # pings no connection before use (a round trip per read), so the first use finds out; once more
            # on a fresh one.
            return self._fetch_once(bound, one=one)

    def _fetch_once(self, bound: Any, *, one: bool) -> list[Any]:
        conn = self._engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(self._sql, bound)
                if one:
                    row = cursor.fetchone()
                    rows = [] if row is None else [row]
                else:
                    rows = cursor.fetchall()
                if rows and self._processors is None:
                    self._processors = self._result_processors(self._engine.dialect, [d[1] for d in cursor.description])
            finally:
                cursor.close()
        except self._engine.dialect.loaded_dbapi.OperationalError:
            conn.invalidate()
            raise
        finally:
            conn.close()  # back to the pool, which ends the read's transaction (if it is not in autocommit)
        return [self._decode(values, self._processors) for values in rows]

    def _decode(self, values: Any, processors: list[tuple[int, Callable[[Any], Any]]] | None) -> Any:
        if processors:
            values = list(values)
            for i, process in processors:
                values[i] = process(values[i])
        return self._row._make(values)

    def _result_processors(self, dialect: Any, types: Any) -> list[tuple[int, Callable[[Any], Any]]]:
        # As Core does it: the dialect's implementation of each column's type, told the driver's type
        # code (the numeric processors depend on it); the same for every execution of one statement.
        found = []
        for i, column in enumerate(self._columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, types[i])
            if process is not None:
                found.append((i, process))
        return found


def _compiled(statement: Select[Any], dialect: Any) -> tuple[str, tuple[str, ...] | None]:
    """The SQL of ``statement`` for ``dialect`` and, if its parameters are positional, their names in order."""
    compiled = statement.compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ()) if compiled.positional else None


@dataclass
class Database:
    """The engine plus a session factory; ``session()`` commits on success and rolls back on error."""

    engine: Engine
    sessions: sessionmaker[Session]
    # Where point reads go (default: ``engine``). On PostgreSQL an autocommit pool: one round trip per read
    # instead of four (a pre-ping, BEGIN, the query, the ROLLBACK on check-in): 480 -> ~100 µs a read.
    read_engine: Engine | None = None
    # PostgreSQL: the driver of point reads on the event loop (``afirst``), asyncpg or psycopg.
    loop_driver: LoopDriver | None = None
    loop_readers: int = 4  # such connections per event loop
    _prepared: dict[int, tuple[Select[Any], PointRead]] = field(default_factory=dict, repr=False)
    _loop_reads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopReads] = field(
        default_factory=weakref.WeakKeyDictionary, repr=False)

    def first(self, statement: Select[Any], params: Mapping[str, Any]) -> Any | None:
        """The first row of ``statement`` (a module-level constant) through a ``PointRead``, or ``None``."""
        return self._point_read(statement).first(params)

    def all(self, statement: Select[Any], params: Mapping[str, Any]) -> list[Any]:
        """Every row of ``statement`` (a module-level constant, an indexed read of a few rows) through a ``PointRead``."""
        return self._point_read(statement).all(params)

    @property
    def reads_on_loop(self) -> bool:
        """Whether ``afirst``/``aall`` await the database on the event loop (PostgreSQL); else they
        run ``first``/``all`` inline (SQLite, where a read takes microseconds)."""
        return self.loop_driver is not None

    async def afirst(self, statement: Select[Any], params: Mapping[str, Any]) -> Any | None:
        """``first`` from async code, with no worker thread."""
        if self.loop_driver is None:
            return self.first(statement, params)
        rows = await self._point_read(statement).fetch_on_loop(self._reads_of_loop(), self.loop_driver, params, one=True)
        return rows[0] if rows else None

    async def afirst_keyed(self, statement: Select[Any], params: Mapping[str, Any], *, key: str, column: str) -> Any | None:
        """On the event loop (PostgreSQL): the row of ``statement`` (which reads rows by a list of
        values of ``column``, given as ``key``) whose ``column`` is ``params[key]``; concurrent reads of
        other values go in the same query. Without reads on the loop, use ``first`` with a statement of one."""
        assert self.loop_driver is not None, "keyed reads are for reads on the event loop"
        return await self._point_read(statement).fetch_keyed_on_loop(self._reads_of_loop(), self.loop_driver, params,
                                                                     key=key, column=column)

    async def aall(self, statement: Select[Any], params: Mapping[str, Any]) -> list[Any]:
        """``all`` from async code, with no worker thread."""
        if self.loop_driver is None:
            return self.all(statement, params)
        return await self._point_read(statement).fetch_on_loop(self._reads_of_loop(), self.loop_driver, params, one=False)

    def _reads_of_loop(self) -> LoopReads:
        # Per event loop: an AsyncConnection serves the loop it was opened on only.
        loop = asyncio.get_running_loop()
        reads = self._loop_reads.get(loop)
        if reads is None:
            assert self.loop_driver is not None
            reads = self._loop_reads[loop] = LoopReads(self.loop_driver, size=self.loop_readers)
        return reads

    async def aclose(self) -> None:
        """Close the running event loop's point-read connections (a server's shutdown)."""
        reads = self._loop_reads.pop(asyncio.get_running_loop(), None)
        if reads is not None:
            await reads.aclose()

    def _point_read(self, statement: Select[Any]) -> PointRead:
        entry = self._prepared.get(id(statement))
        if entry is None or entry[0] is not statement:
            entry = self._prepared[id(statement)] = (statement, PointRead(self.read_engine or self.engine, statement))
        return entry[1]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def migrate(self) -> None:
        """Bring the schema to the newest migration."""
        from alembic import command

        with self.engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def startup_lock(self) -> Iterator[None]:
        """Held while a server migrates and seeds the database: servers that start together on one
        PostgreSQL database take turns (the first migrates, the others find it done). Nothing on SQLite."""
        if self.dialect != "postgresql":
            yield
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({STARTUP_LOCK_KEY})")
            conn.commit()
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({STARTUP_LOCK_KEY})")
                conn.commit()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not None:
            self.read_engine.dispose()


def alembic_config():  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def create_database(url: str, *, pool_size: int = 20, loop_readers: int = 4, loop_driver_name: str = "auto") -> Database:
    """A ``Database`` for ``url``; SQLite files get WAL, foreign keys and a busy timeout. On PostgreSQL,
    ``loop_driver_name`` picks the driver of reads on the event loop (``auto``, ``asyncpg``, ``psycopg``)."""
    url = _normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15}, pool_size=pool_size, max_overflow=40)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=40, pool_pre_ping=True)
        reads = create_engine(url, pool_size=pool_size, max_overflow=40, isolation_level="AUTOCOMMIT",
                              pool_reset_on_return=None)
        return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False), read_engine=reads,
                        loop_driver=loop_driver(reads, loop_driver_name), loop_readers=loop_readers)
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
