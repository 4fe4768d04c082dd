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

from runyard.storage.db.loop_reads import Connect, LoopReads

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
        compiled = statement.compile(dialect=engine.dialect)
        self._engine = engine
        self._sql = str(compiled)
        self._positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        self._columns = list(statement.selected_columns)
        # (rename: a column whose key is no identifier, e.g. of an expression, becomes ``_<position>``)
        self._row = namedtuple("Row", [c.key for c in self._columns], rename=True)  # type: ignore[misc]  # noqa: PYI024
        self._processors: list[tuple[int, Callable[[Any], Any]]] | None = None

    def first(self, params: Mapping[str, Any]) -> Any | None:
        rows = self._fetch(params, one=True)
        return rows[0] if rows else None

    def all(self, params: Mapping[str, Any]) -> list[Any]:
        return self._fetch(params, one=False)

    async def fetch_on_loop(self, reads: LoopReads, params: Mapping[str, Any], *, one: bool) -> list[Any]:
        """The same rows as ``first``/``all`` (``one``), read through ``reads`` on the event loop."""
        rows, description = await reads.fetch(self._sql, self._bind(params), one=one, describe=self._processors is None)
        if rows and self._processors is None:
            self._processors = self._result_processors(description)
        return [self._decode(values) for values in rows]

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
                    self._processors = self._result_processors(cursor.description)
            finally:
                cursor.close()
        except self._engine.dialect.loaded_dbapi.OperationalError:
            conn.invalidate()
            raise
        finally:
            conn.close()  # back to the pool, which ends the read's transaction (if it is not in autocommit)
        return [self._decode(values) for values in rows]

    def _decode(self, values: Any) -> Any:
        if self._processors:
            values = list(values)
            for i, process in self._processors:
                values[i] = process(values[i])
        return self._row._make(values)

    def _result_processors(self, description: Any) -> list[tuple[int, Callable[[Any], Any]]]:
        # As Core does it: the dialect's implementation of each column's type, told the driver's type
        # code (psycopg's numeric processors depend on it); the same for every execution of one statement.
        dialect = self._engine.dialect
        found = []
        for i, column in enumerate(self._columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, description[i][1])
            if process is not None:
                found.append((i, process))
        return found


@dataclass
class Database:
    """The engine plus a session factory; ``session()`` commits on success and rolls back on error."""

    engine: Engine
    sessions: sessionmaker[Session]
    # Where point reads go (default: ``engine``). On PostgreSQL an autocommit pool: one round trip per read
    # instead of four (a pre-ping, BEGIN, the query, the ROLLBACK on check-in): 480 -> ~100 µs a read.
    read_engine: Engine | None = None
    # PostgreSQL: opens the autocommit ``AsyncConnection``s of point reads on the event loop (``afirst``).
    connect_on_loop: Connect | None = None
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
        return self.connect_on_loop is not None

    async def afirst(self, statement: Select[Any], params: Mapping[str, Any]) -> Any | None:
        """``first`` from async code, with no worker thread."""
        if self.connect_on_loop is None:
            return self.first(statement, params)
        rows = await self._point_read(statement).fetch_on_loop(self._reads_of_loop(), params, one=True)
        return rows[0] if rows else None

    async def aall(self, statement: Select[Any], params: Mapping[str, Any]) -> list[Any]:
        """``all`` from async code, with no worker thread."""
        if self.connect_on_loop is None:
            return self.all(statement, params)
        return await self._point_read(statement).fetch_on_loop(self._reads_of_loop(), params, one=False)

    def _reads_of_loop(self) -> LoopReads:
        # Per event loop: an AsyncConnection serves the loop it was opened on only.
        loop = asyncio.get_running_loop()
        reads = self._loop_reads.get(loop)
        if reads is None:
            assert self.connect_on_loop is not None
            errors = self.engine.dialect.loaded_dbapi.OperationalError
            reads = self._loop_reads[loop] = LoopReads(self.connect_on_loop, size=self.loop_readers, errors=errors)
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


def create_database(url: str, *, pool_size: int = 20, loop_readers: int = 4) -> Database:
    """A ``Database`` for ``url``; SQLite files get WAL, foreign keys and a busy timeout."""
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
                        connect_on_loop=_async_connector(reads), loop_readers=loop_readers)
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


def _async_connector(engine: Engine) -> Connect:
    """Opens a psycopg ``AsyncConnection`` as ``engine`` opens its connections: the same connection
    arguments, the dialect's adapters (how JSON and the rest load), autocommit."""
    import psycopg

    cargs, cparams = engine.dialect.create_connect_args(engine.url)

    async def connect() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(*cargs, **cparams, autocommit=True)

    return connect
