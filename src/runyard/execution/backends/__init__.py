"""Executor backends chosen by name in one registry."""

from __future__ import annotations

from collections.abc import Callable

from runyard.execution.backends.base import Executor, ReportSink
from runyard.execution.runtime.sandbox import Sandbox
from runyard.settings import Settings
from runyard.storage.blobs import BlobStore


def create_executor(name: str, *, settings: Settings, blobs: BlobStore, on_done: ReportSink,
                    sandbox: Sandbox | None = None, next_run: Callable[[], None] = lambda: None,
                    wakeup: Callable[[], None] = lambda: None) -> Executor:
    """The executor called ``name``; an unknown name lists the known ones."""
    factories: dict[str, Callable[[], Executor]] = {}

    def embedded() -> Executor:
        from runyard.execution.backends.embedded import EmbeddedExecutor

        return EmbeddedExecutor(settings=settings, blobs=blobs, on_done=on_done, sandbox=sandbox, next_run=next_run)

    def stub() -> Executor:
        from runyard.execution.backends.stub import StubExecutor

        return StubExecutor(blobs=blobs, on_done=on_done, wakeup=wakeup)

    factories.update(embedded=embedded, stub=stub)
    if name == "ray" or name.startswith("ray://"):
        from runyard.execution.backends.ray import RayExecutor, ray_address

        return RayExecutor(address=ray_address(name), settings=settings, on_done=on_done, wakeup=wakeup,
                           next_run=next_run)
    if name not in factories:
        raise ValueError(f"unknown executor {name!r}; known: {', '.join(sorted(factories))}, ray, ray://HOST:PORT")
    return factories[name]()


__all__ = ["Executor", "ReportSink", "create_executor"]
