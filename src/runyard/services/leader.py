"""Which server process dispatches: exactly one among those that share one PostgreSQL database.

Leadership is a session-level PostgreSQL advisory lock held on a connection of its own. Chosen over a
leader row with a renewed lease because the database itself ends the claim when its holder's session
ends: a holder killed with ``kill -9`` (or whose connection drops) loses the lock as soon as PostgreSQL
sees the socket close, with no lease to wait out, no clock to trust and no table to migrate.

The two ways this could let two dispatchers overlap are closed here:

* The holder cannot know at once that its session is gone (PostgreSQL ended it, or the network
  between them broke). It checks its connection every ``leader_check_seconds`` and dispatches only
  while its last good check is younger than ``FENCE_CHECKS`` checks; a check that fails or hangs (TCP
  keepalives and a user timeout bound it) makes it stop.
* A new holder therefore waits out that fence before dispatching, unless its predecessor handed over
  cleanly: a graceful stop clears the ``dispatcher_leader`` row before it unlocks, and signals the
  standbys, so one of them takes over at once.

On SQLite there is one server process, which always dispatches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from runyard.services.notify import LEADER_FREE, Signals
from runyard.storage.db import Database, ServerState, dedicated

log = logging.getLogger(__name__)
# The advisory lock's key (a bigint shared by every Runyard process on the database): "runyard!" in ASCII.
LOCK_KEY = int.from_bytes(b"runyard!", "big") - 2**63
MARKER = "dispatcher_leader"  # server_state row: the leader's worker id, "" after a clean handover
FENCE_CHECKS = 2.0  # the holder dispatches only while its last good check is younger than this many checks
TAKEOVER_MARGIN = 0.5  # seconds a new holder waits beyond the fence after an unclean handover


class Leadership:
    """The single-process case (SQLite): this process always leads."""

    role_when_leading = "single"

    def __init__(self, *, worker: str, on_win: Callable[[], None], on_lose: Callable[[], None]) -> None:
        self.worker = worker
        self._on_win, self._on_lose = on_win, on_lose
        self._leading = False

    @property
    def leading(self) -> bool:
        return self._leading

    def may_dispatch(self) -> bool:
        return self._leading

    def describe(self) -> dict[str, Any]:
        """What ``/healthz`` says: this process's role, its worker id and the leader's."""
        return {"role": self.role_when_leading if self._leading else "standby", "worker": self.worker,
                "leader": self.worker if self._leading else None}

    def start(self) -> None:
        self._leading = True
        self._on_win()

    def stop(self) -> None:
        if self._leading:
            self._leading = False
            self._on_lose()


class AdvisoryLeadership(Leadership):
    """Leadership through ``pg_try_advisory_lock`` on a dedicated connection (module docstring)."""

    role_when_leading = "leader"

    def __init__(self, *, db: Database, database_url: str, worker: str, signals: Signals, check_seconds: float,
                 on_win: Callable[[], None], on_lose: Callable[[], None]) -> None:
        super().__init__(worker=worker, on_win=on_win, on_lose=on_lose)
        self._db, self._url, self._signals = db, database_url, signals
        self.check_seconds = check_seconds
        self._conn: Any = None
        self._last_ok = 0.0
        self._leader: str | None = None  # as last read by a standby
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._thread: threading.Thread | None = None
        signals.on(LEADER_FREE, lambda _arg: self._poke.set())

    @property
    def fence_seconds(self) -> float:
        return FENCE_CHECKS * self.check_seconds

    def may_dispatch(self) -> bool:
        return self._leading and time.monotonic() - self._last_ok < self.fence_seconds

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        if not self._leading:
            info["leader"] = self._leader or None
        return info

    def start(self) -> None:
        self._step()  # a first attempt before the server answers: a lone server leads when it is ready
        self._thread = threading.Thread(target=self._loop, name="runyard-leader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """A graceful stop: stop dispatching, clear the marker, unlock, and tell the standbys."""
        self._stop.set()
        self._poke.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if not self._leading:
            self._close()
            return
        self._lose("this server is stopping")
        try:
            self._write_marker("")
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        except Exception as exc:  # closing the session below releases the lock all the same
            log.warning("could not hand the dispatcher over cleanly: %s", exc)
        self._close()
        self._signals.publish(LEADER_FREE)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._poke.wait(self.check_seconds)
            self._poke.clear()
            if not self._stop.is_set():
                self._step()

    def _step(self) -> None:
        try:
            if self._conn is None:
                self._conn = dedicated.connect(self._url, application_name=f"runyard leader {self.worker}")
            if self._leading:
                self._conn.execute("SELECT 1")
                self._last_ok = time.monotonic()
            elif self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
                self._win()
            else:
                self._leader = self._read_marker()
        except Exception as exc:
            if self._leading:
                self._lose(f"its database connection failed ({exc})")
            else:
                log.debug("leadership check failed: %s", exc)
            self._close()

    def _win(self) -> None:
        previous = self._read_marker()
        if previous and previous != self.worker:
            # The previous holder did not hand over: it may still believe it leads until its fence expires.
            log.warning("taking over the dispatcher from %s, which did not hand over; waiting %.1f s",
                        previous, self.fence_seconds + TAKEOVER_MARGIN)
            if self._stop.wait(self.fence_seconds + TAKEOVER_MARGIN):
                return
            self._conn.execute("SELECT 1")  # still ours
        self._write_marker(self.worker)
        self._last_ok = time.monotonic()
        self._leading = True
        self._leader = self.worker
        log.warning("this server (%s) now runs the dispatcher", self.worker)
        self._on_win()

    def _lose(self, why: str) -> None:
        self._leading = False
        self._leader = None
        log.warning("this server (%s) no longer runs the dispatcher: %s", self.worker, why)
        self._on_lose()

    def _read_marker(self) -> str | None:
        with self._db.session() as s:
            row = s.get(ServerState, MARKER)
            return row.value if row is not None else None

    def _write_marker(self, value: str) -> None:
        with self._db.session() as s:
            s.merge(ServerState(key=MARKER, value=value))

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is being dropped anyway
                pass


def open_leadership(db: Database, *, database_url: str, worker: str, signals: Signals, check_seconds: float,
                    on_win: Callable[[], None], on_lose: Callable[[], None]) -> Leadership:
    if db.dialect == "postgresql":
        return AdvisoryLeadership(db=db, database_url=database_url, worker=worker, signals=signals,
                                  check_seconds=check_seconds, on_win=on_win, on_lose=on_lose)
    return Leadership(worker=worker, on_win=on_win, on_lose=on_lose)


__all__ = ["AdvisoryLeadership", "Leadership", "LOCK_KEY", "open_leadership"]
