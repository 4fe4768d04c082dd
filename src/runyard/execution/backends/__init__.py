"""Executor backends chosen by name in one registry."""

from __future__ import annotations

from collections.abc import Callable

from runyard.execution.backends.base import Executor, ReportSink
from runyard.execution.runtime.sandbox import Sandbox
from runyard.services.platform import Platform


def create_executor(name: str, *, platform: Platform, on_done: ReportSink, sandbox: Sandbox | None = None) -> Executor:
    """The executor called ``name``; an unknown name lists the known ones."""
    factories: dict[str, Callable[[], Executor]] = {}

    def embedded() -> Executor:
        from runyard.execution.backends.embedded import EmbeddedExecutor

        return EmbeddedExecutor(platform=platform, on_done=on_done, sandbox=sandbox)

    def stub() -> Executor:
        from runyard.execution.backends.stub import StubExecutor

        return StubExecutor(platform=platform, on_done=on_done)

    factories.update(embedded=embedded, stub=stub)
    if name not in factories:
        raise ValueError(f"unknown executor {name!r}; known: {', '.join(sorted(factories))}")
    return factories[name]()


__all__ = ["Executor", "ReportSink", "create_executor"]
