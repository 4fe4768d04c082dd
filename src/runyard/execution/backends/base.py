"""The narrow executor interface: submit, cancel, free capacity per class, shut down."""

from __future__ import annotations

import abc
from collections.abc import Callable

from runyard.execution.runtime.types import RunReport, RunTask

ReportSink = Callable[[str, RunReport], None]


class Executor(abc.ABC):
    @abc.abstractmethod
    def submit(self, task: RunTask, execution_class: str, input_key: str | None = None) -> None:
        """Start executing ``task`` (input in blob ``input_key``); its report goes to the sink."""

    @abc.abstractmethod
    def cancel(self, run_id: str) -> None:
        """Stop the run's process tree if it executes here (no-op otherwise)."""

    @abc.abstractmethod
    def free_capacity(self, execution_class: str) -> int:
        """How many more runs of ``execution_class`` may start now."""

    @abc.abstractmethod
    def shutdown(self, *, cancel_running: bool = True) -> None:
        """Stop accepting work; cancel what runs if asked."""
