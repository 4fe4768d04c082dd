"""API keys verified recently, trusted for a few seconds without a database read, and forgotten by every
server process the moment one is revoked.

Each process keeps its own entries. A revocation drops the key here at once and is announced to the other
processes on one PostgreSQL database (``LISTEN/NOTIFY``, the ``keys`` signal), which drop it as soon as
the notification arrives: the window is that delivery (about a millisecond on one network), not the
entries' lifetime. While a process's listener is down it trusts no entry (it cannot hear of revocations
then), and it forgets them all when the listener is back. The lifetime stays as a last bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

ALL = "*"  # forget every key (an organization's members changed)


class KeyCache:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[str, tuple[float, str, Any]] = {}
        self._generation = 0  # counts forgettings: a verification older than one is not kept
        self._lock = threading.Lock()
        # Set by the composition root: whether other processes' revocations reach this one now, and how
        # to tell them of one.
        self.trusted: Callable[[], bool] = lambda: True
        self.announce: Callable[[str], None] = lambda key_id: None

    def get(self, key_id: str) -> tuple[str, Any] | None:
        """(the secret's hash, the principal) of a key verified within its lifetime, if it can be trusted."""
        entry = self._entries.get(key_id)
        if entry is None or entry[0] <= time.monotonic() or not self.trusted():
            return None
        return entry[1], entry[2]

    @property
    def generation(self) -> int:
        """Read before verifying a key in the database, handed to ``put`` after."""
        return self._generation

    def put(self, key_id: str, digest: str, principal: Any, *, generation: int) -> None:
        """Keep a key verified in the database, unless something was revoked since ``generation`` was read
        (the verification may predate it)."""
        with self._lock:
            if generation == self._generation:
                self._entries[key_id] = (time.monotonic() + self.seconds, digest, principal)

    def forget(self, key_id: str = ALL) -> None:
        """Drop ``key_id`` (``ALL``: every key) in this process."""
        with self._lock:
            self._generation += 1
            if key_id == ALL:
                self._entries.clear()
            else:
                self._entries.pop(key_id, None)

    def revoked(self, key_id: str = ALL) -> None:
        """``key_id`` (``ALL``: some keys) no longer valid: forgotten here and in every other process."""
        self.forget(key_id)
        self.announce(key_id)
