"""The composition root: settings in, a running platform (database, blobs, dispatcher, executor) out."""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from runyard.execution.backends import Executor, create_executor
from runyard.execution.backends.ray import ray_address
from runyard.execution.contract import RunReport
from runyard.execution.runtime.sandbox import Sandbox, detect
from runyard.services import accounts, ensembles, notify
from runyard.services.dispatch import Dispatcher
from runyard.services.events import ALL, Wakeup
from runyard.services.janitor import Janitor
from runyard.services.leader import Leadership, open_leadership
from runyard.services.metrics import create_metrics
from runyard.services.platform import Platform, server_secret
from runyard.services.waiting import RunEvents
from runyard.services.webhooks.delivery import DeliveryWorker
from runyard.settings import Settings
from runyard.storage.blobs import open_blob_store
from runyard.storage.db import create_database


@dataclass
class Runtime:
    platform: Platform
    dispatcher: Dispatcher
    executor: Executor
    sandbox: str = "off"  # how runs are confined, as /healthz and the start-up banner say it
    janitor: Janitor | None = None
    webhooks: DeliveryWorker | None = None
    signals: notify.Signals | None = None
    leadership: Leadership | None = None

    def start(self) -> None:
        if self.signals is not None:
            self.signals.start()
        self.dispatcher.start()
        if self.leadership is not None:
            self.leadership.start()
        self.dispatcher.wakeup()
        if self.janitor is not None:
            self.janitor.start()
        if self.webhooks is not None:
            self.webhooks.start()

    def stop(self) -> None:
        if self.leadership is not None:  # first: a standby takes over while this one winds down
            self.leadership.stop()
        if self.webhooks is not None:
            self.webhooks.stop()
        if self.janitor is not None:
            self.janitor.stop()
        self.dispatcher.stop()
        if self.signals is not None:
            self.signals.stop()
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
    db = create_database(settings.resolved_database_url(), loop_readers=settings.database_read_connections)
    with db.startup_lock():  # replicas starting together take turns
        db.migrate()
        accounts.ensure_default_account(db)
        signing_secret = server_secret(db, "signing_secret", settings.signing_secret)
    if not settings.secrets_key and not settings.development:
        raise ValueError("RUNYARD_SECRETS_KEY must be set outside development mode (it encrypts secrets at rest)")
    platform = Platform(
        settings=settings,
        db=db,
        blobs=open_blob_store(settings.resolved_blob_url()),
        signing_secret=signing_secret,
        secrets_key=settings.secrets_key or development_secrets_key(settings.data_dir),
    )
    platform.child_ended = functools.partial(ensembles.child_ended, platform)
    return platform


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
    return detect(bwrap=ex.bwrap, uid=ex.sandbox_uid, gid=ex.sandbox_uid, ro_paths=tuple(ex.sandbox_ro_paths),
                  state_dir=settings.env_path(), etc_paths=tuple(ex.sandbox_etc_paths))


def _on_ray(settings: Settings) -> bool:
    return settings.executor == "ray" or settings.executor.startswith("ray://")


def _ray_join(settings: Settings) -> str:
    """How the server joins the cluster (never its address: ``/healthz`` answers without a key)."""
    try:
        address = ray_address(settings.executor)
    except ValueError:
        return "RAY_ADDRESS not set"
    return "joined through the client port" if address.startswith("ray://") else "joined as a driver"


def sandbox_status(settings: Settings, sandbox: Sandbox | None) -> str:
    if sandbox is not None:
        return sandbox.describe()
    if settings.executor == "stub":
        return "none (stub executor: no processes)"
    if _on_ray(settings):
        return f"runs execute on the Ray cluster's nodes ({_ray_join(settings)}), each in its own sandbox" \
            if settings.sandbox == "on" else "off: runs on the Ray cluster's nodes are NOT sandboxed (RUNYARD_SANDBOX=off)"
    return "off: runs are NOT sandboxed (RUNYARD_SANDBOX=off)"


def build_runtime(settings: Settings) -> Runtime:
    sandbox = open_sandbox(settings)  # first: a server that cannot confine runs does not start
    platform = open_platform(settings)
    dispatcher = Dispatcher(platform)
    signals = notify.open_signals(platform.db, database_url=settings.resolved_database_url(), name=dispatcher.server)
    platform.run_events = RunEvents(signals)
    platform.metrics = create_metrics(platform.db, classes=list(settings.execution.classes))

    def on_done(run_id: str, report: RunReport) -> None:
        dispatcher.on_done(run_id, report)
        platform.run_events.notify(run_id)

    executor = create_executor(settings.executor, settings=settings, blobs=platform.blobs, on_done=on_done,
                               sandbox=sandbox, next_run=dispatcher.dispatch_now, wakeup=dispatcher.wakeup)
    dispatcher.attach(executor)
    leadership = open_leadership(platform.db, database_url=settings.resolved_database_url(), worker=dispatcher.server,
                                 signals=signals, check_seconds=settings.cluster.leader_check_seconds,
                                 on_win=dispatcher.lead, on_lose=dispatcher.follow)
    dispatcher.may_dispatch = leadership.may_dispatch
    connect_signals(platform, dispatcher, executor, signals, leadership)
    platform.has_capacity = dispatcher.has_capacity
    webhooks = DeliveryWorker(platform) if settings.webhooks.enabled else None
    if webhooks is not None:
        platform.wakeup_webhooks = webhooks.notify
    Wakeup(lambda: platform.run_events.notify(ALL), runs=platform.run_events.wake,
           fan_out=webhooks.events_written if webhooks is not None else None).install(platform.db.engine)
    return Runtime(platform=platform, dispatcher=dispatcher, executor=executor,
                   sandbox=sandbox_status(settings, sandbox), janitor=Janitor(platform),
                   webhooks=webhooks, signals=signals, leadership=leadership)


def connect_signals(platform: Platform, dispatcher: Dispatcher, executor: Executor, signals: notify.Signals,
                    leadership: Leadership) -> None:
    """Queued runs reach the dispatching server and cancels the executing one, whichever server took the
    request (on SQLite both are this process)."""

    def queued() -> None:
        if leadership.leading:
            dispatcher.dispatch_now()  # from the submitting thread, as without replicas
        else:
            signals.publish(notify.QUEUED)

    def woken() -> None:
        if leadership.leading:
            dispatcher.wakeup()
        else:
            signals.publish(notify.QUEUED)

    signals.on(notify.QUEUED, lambda _arg: dispatcher.wakeup())
    signals.on_reconnect(dispatcher.wakeup)  # what was queued while the listener was down
    signals.on(notify.CANCEL, executor.cancel)  # a no-op where the run does not execute
    platform.start_queued = queued
    platform.wakeup = woken
    platform.cancel_hook = lambda run_id: signals.publish(notify.CANCEL, run_id)
    # Revoked keys: forgotten by every server at once; none trusted while their news cannot arrive.
    keys = platform.key_cache
    keys.announce = lambda key_id: signals.publish(notify.KEYS, key_id)
    keys.trusted = lambda: signals.listening
    signals.on(notify.KEYS, keys.forget)
    signals.on_reconnect(keys.forget)
