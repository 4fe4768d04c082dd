"""A real Runyard server on a loopback port, in a background thread of the test process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runyard.settings import Settings
from runyard.testing.postgres import free_port

START_SECONDS = 30.0


def embedded_settings(*, data_dir: Path, database_url: str, api_key: str, env_dir: Path, concurrency: int = 4) -> Settings:
    """Settings for a test server: embedded executor, one class, short poll and kill intervals."""
    return Settings(
        data_dir=data_dir, database_url=database_url, api_key=api_key, executor="embedded",
        execution={"env_dir": env_dir, "classes": {"c1": {"concurrency": concurrency, "max_duration_seconds": 300}},
                   "default_class": "c1", "poll_interval_seconds": 0.05, "kill_grace_seconds": 0.3},
    )


@contextmanager
def serve_in_thread(settings: Settings, *, name: str = "runyard-test-server") -> Iterator[str]:
    """Serve ``create_app(settings)`` with uvicorn on 127.0.0.1; yields the base URL, stops on exit."""
    import uvicorn

    from runyard.server.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
