"""Signals between the server processes that share one database: a run ended, a run was queued, a
cancel was asked for, the dispatcher's leadership was given up, an API key was revoked.

On PostgreSQL they travel by ``LISTEN/NOTIFY``: each process holds one listening connection of its
own, and one thread hands what arrives to the handlers registered here (fan-out in process). A
notification is a wake-up, never the news itself: whoever is woken reads the database, and everyone
who waits also rechecks on a timer, so a lost notification (a dropped listener connection) costs
latency, not correctness. On SQLite (one process) the same calls reach the handlers directly.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

from runyard.storage.db import Database, dedicated

log = logging.getLogger(__name__)
CHANNEL = "runyard_events"
RUN_ENDED, QUEUED, CANCEL, LEADER_FREE = "run", "queue", "cancel", "leader"
KEYS = "keys"  # an API key was revoked (its id, or ``*``): forget it (services.keycache)
RECONNECT_SECONDS = (0.2, 0.5, 1.0, 2.0)  # between attempts to listen again, then the last one repeated
_LISTEN_SLICE = 0.5  # how long one wait for notifications lasts before the thread looks at its stop flag
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")

Handler = Callable[[str], None]


class Signals:
    """In-process signals: ``publish(kind, arg)`` calls every handler of ``kind`` with ``arg``."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._reconnected: list[Callable[[], None]] = []

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers[kind].append(handler)

    def on_reconnect(self, handler: Callable[[], None]) -> None:
        """``handler()`` after the listener was down and is back: what it missed meanwhile is unknown."""
        self._reconnected.append(handler)

    @property
    def listening(self) -> bool:
        """Whether signals of other processes arrive (always, when there are none)."""
        return True

    def publish(self, kind: str, arg: str = "") -> None:
        self.deliver(kind, arg)

    def deliver(self, kind: str, arg: str) -> None:
        for handler in self._handlers.get(kind, ()):
            try:
                handler(arg)
            except Exception:
                log.exception("a handler of %r signals failed", kind)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class PostgresSignals(Signals):
    """Signals of every process on one PostgreSQL database, through ``LISTEN/NOTIFY``."""

    def __init__(self, db: Database, *, database_url: str, name: str) -> None:
        super().__init__()
        self._db, self._url, self._name = db, database_url, name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listening = threading.Event()
        self._conn = None

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def publish(self, kind: str, arg: str = "") -> None:
        """Tell every process (this one too, at once): a pooled connection sends it after the caller's
        transaction has committed, so whoever is woken reads what caused it."""
        self.deliver(kind, arg)
        try:
            with self._db.engine.connect() as conn:
                conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": f"{kind}:{arg}"})
                conn.commit()
        except Exception as exc:  # the others fall back on their timers
            log.warning("could not signal %s %s to the other servers: %s", kind, arg, exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._listen_forever, name="runyard-listener", daemon=True)
        self._thread.start()

    def wait_listening(self, timeout: float) -> bool:
        return self._listening.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close()

    def _listen_forever(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._conn = dedicated.connect(self._url, application_name=f"runyard listener {self._name}")
                self._conn.execute(f"LISTEN {CHANNEL}")
                self._listening.set()
                if failures:
                    log.warning("listening for other servers' signals again")
                    self._after_reconnect()
                failures = 0
                while not self._stop.is_set():
                    for note in self._conn.notifies(timeout=_LISTEN_SLICE):
                        self._received(note.payload)
            except Exception as exc:
                if self._stop.is_set():
                    break
                self._listening.clear()
                self._close()
                if failures == 0:
                    log.warning("lost the listener connection (%s); waits poll until it is back", exc)
                pause = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                failures += 1
                self._stop.wait(pause)
        self._listening.clear()

    def _received(self, payload: str) -> None:
        kind, _, arg = payload.partition(":")
        self.deliver(kind, arg)

    def _after_reconnect(self) -> None:
        for handler in self._reconnected:
            try:
                handler()
            except Exception:
                log.exception("a reconnect handler failed")

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is being dropped anyway
                pass


def publish_on_commit(session: Session, kind: str, arg: str = "") -> None:
    """Signal the other processes when ``session``'s transaction commits (PostgreSQL queues a ``NOTIFY``
    with the transaction), whichever process changed the database: a server or a local CLI command."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_NOTIFY, {"channel": CHANNEL, "payload": f"{kind}:{arg}"})


def open_signals(db: Database, *, database_url: str, name: str) -> Signals:
    """``PostgresSignals`` on PostgreSQL, in-process ``Signals`` on SQLite (one process only)."""
    if db.dialect == "postgresql":
        return PostgresSignals(db, database_url=database_url, name=name)
    return Signals()


__all__ = ["CANCEL", "CHANNEL", "KEYS", "LEADER_FREE", "QUEUED", "RUN_ENDED", "PostgresSignals", "Signals", "open_signals",
           "publish_on_commit"]
