"""The composition root: settings in, a running platform (database, blobs, dispatcher, executor) out."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from runyard.execution.backends import Executor, create_executor
from runyard.execution.contract import RunReport
from runyard.execution.runtime.sandbox import Sandbox, detect
from runyard.services import accounts
from runyard.services.dispatch import Dispatcher
from runyard.services.platform import Platform, server_secret
from runyard.services.waiting import RunEvents
from runyard.settings import Settings
from runyard.storage.blobs import open_blob_store
from runyard.storage.db import create_database


@dataclass
class Runtime:
    platform: Platform
    dispatcher: Dispatcher
    executor: Executor
    sandbox: str = "off"  # how runs are confined, as /healthz and the start-up banner say it

    def start(self) -> None:
        self.dispatcher.start()
        self.dispatcher.wakeup()

    def stop(self) -> None:
        self.dispatcher.stop()
        # Runs on a cluster go on, and the next server to attach adopts them; runs here end with it.
        self.executor.shutdown(cancel_running=not self.executor.outlives_server)
        self.platform.db.dispose()


def open_platform(settings: Settings) -> Platform:
    """Database migrated, default account present, blobs open; no background work started."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The database, blobs and keys are the server's alone (runs never see the folder; this is for
    # everyone else on the machine).
    with contextlib.suppress(OSError):
        settings.data_dir.chmod(0o700)
    db = create_database(settings.resolved_database_url())
    db.migrate()
    accounts.ensure_default_account(db)
    if not settings.secrets_key and not settings.development:
        raise ValueError("RUNYARD_SECRETS_KEY must be set outside development mode (it encrypts secrets at rest)")
    return Platform(
        settings=settings,
        db=db,
        blobs=open_blob_store(settings.resolved_blob_url()),
        signing_secret=server_secret(db, "signing_secret", settings.signing_secret),
        secrets_key=settings.secrets_key or development_secrets_key(settings.data_dir),
    )


def development_secrets_key(data_dir: Path) -> str:
    """A generated key kept in a file beside, never inside, the database that holds the ciphertext."""
    path = data_dir / "secrets.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def open_sandbox(settings: Settings) -> Sandbox | None:
    """The sandbox runs execute in; None when it is turned off. SandboxUnavailable when it is on and
    cannot be had: the server does not start then."""
    if settings.sandbox == "off" or settings.executor == "stub" or _on_ray(settings):
        return None  # (on Ray, each node sets up its own sandbox)
    ex = settings.execution
    return detect(bwrap=ex.bwrap, uid=ex.sandbox_uid, gid=ex.sandbox_uid, ro_paths=tuple(ex.sandbox_ro_paths))


def _on_ray(settings: Settings) -> bool:
    return settings.executor == "ray" or settings.executor.startswith("ray://")


def sandbox_status(settings: Settings, sandbox: Sandbox | None) -> str:
    if sandbox is not None:
        return sandbox.describe()
    if settings.executor == "stub":
        return "none (stub executor: no processes)"
    if _on_ray(settings):
        return "runs execute on the Ray cluster's nodes, each in its own sandbox" if settings.sandbox == "on" else \
            "off: runs on the Ray cluster's nodes are NOT sandboxed (RUNYARD_SANDBOX=off)"
    return "off: runs are NOT sandboxed (RUNYARD_SANDBOX=off)"


def build_runtime(settings: Settings) -> Runtime:
    sandbox = open_sandbox(settings)  # first: a server that cannot confine runs does not start
    platform = open_platform(settings)
    dispatcher = Dispatcher(platform)
    platform.run_events = RunEvents()

    def on_done(run_id: str, report: RunReport) -> None:
        dispatcher.on_done(run_id, report)
        platform.run_events.notify(run_id)

    executor = create_executor(settings.executor, settings=settings, blobs=platform.blobs, on_done=on_done,
                               sandbox=sandbox, next_run=dispatcher.dispatch_now, wakeup=dispatcher.wakeup)
    dispatcher.attach(executor)
    platform.wakeup = dispatcher.wakeup
    platform.start_queued = dispatcher.dispatch_now
    platform.cancel_hook = executor.cancel
    platform.has_capacity = dispatcher.has_capacity
    return Runtime(platform=platform, dispatcher=dispatcher, executor=executor,
                   sandbox=sandbox_status(settings, sandbox))
