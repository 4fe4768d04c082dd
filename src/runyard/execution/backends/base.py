"""The narrow executor interface: submit, cancel, free capacity per class, what runs here, shut down.

A backend sees the execution contract and nothing of the services or the database: it is handed a
``RunTask`` and hands back a ``RunReport`` through the sink it was built with.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from runyard.execution.contract import RunReport, RunTask

ReportSink = Callable[[str, RunReport], None]


class Executor(abc.ABC):
    #: The name runs it executes are owned by in the database (None: the server's own worker id). A
    #: backend whose runs outlive the server that started them names itself, so that the next server
    #: to attach adopts them.
    owner: str | None = None
    #: Whether runs keep executing when the server stops (they are then adopted, not interrupted).
    outlives_server: bool = False

    def start(self) -> None:
        """Begin reporting (called once by the dispatcher after it has recovered runs). ``running``
        lists from the start what already executes for this backend (on a cluster, runs from before a
        restart), so recovery adopts them before any of their reports can arrive."""
        return None

    def release(self) -> None:
        """Stop reporting, because another server now looks after what executes (a backend whose runs
        outlive the server); ``start`` resumes."""
        return None

    @abc.abstractmethod
    def submit(self, task: RunTask) -> None:
        """Start executing ``task`` (in its ``execution_class``); its report goes to the sink."""

    @abc.abstractmethod
    def cancel(self, run_id: str) -> None:
        """Stop the run's process tree if it executes here (no-op otherwise)."""

    @abc.abstractmethod
    def free_capacity(self, execution_class: str) -> int:
        """How many more runs of ``execution_class`` may start now."""

    @abc.abstractmethod
    def running(self) -> list[str]:
        """The runs executing here now (their leases are renewed while they do)."""

    @abc.abstractmethod
    def shutdown(self, *, cancel_running: bool = True) -> None:
        """Stop accepting work; cancel what runs if asked."""


def free_slots(classes: dict[str, Any], running: dict[str, str], execution_class: str) -> int:
    """The room a class has left: its concurrency less the runs of it in ``running`` (run id -> class)."""
    limit = classes[execution_class].concurrency if execution_class in classes else 0
    return max(0, limit - sum(1 for c in running.values() if c == execution_class))
