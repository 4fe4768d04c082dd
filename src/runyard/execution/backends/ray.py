"""The Ray backend: each run is one Ray Core task on a node of a cluster, executed there by the same
``RunHost`` (runtime and sandbox) as the embedded pool.

- **A supervisor actor** (detached, named after the installation's namespace, on the head node) owns
  the tasks, so they outlive the server that submitted them: a restarted server, or another replica
  taking over dispatching, attaches to it, finds the runs in flight and gets their reports. Reports
  are kept until the server has recorded them (``ack``).
- **Nodes** hold no database credentials: a task carries the ``RunTask`` and the node configuration
  (execution and limit settings, the blob store URL), nothing else. A node fetches bundles and inputs
  from the blob store, caches unpacked bundles and built environments in its own folder
  (``RUNYARD_NODE_DIR``, by default a folder under the system's temporary directory), and writes
  output, logs (while the run goes) and assets back.
- **Classes** map to ``num_cpus`` (cores), ``memory`` (memory_mb) and the class's custom
  ``resources``; the dispatcher keeps each class's concurrency across the cluster, since it hands the
  cluster only what the class has room for.
- **Cancel** reaches the node as Ray's own graceful cancel of the task (a KeyboardInterrupt in the
  worker's main thread, which waits while the run executes on a thread of its own): the runner then
  ends the whole process tree (TERM, grace, KILL). A node that has not ended the run after
  ``ray_cancel_grace_seconds`` has its Ray worker killed, which ends the sandbox with it.
- ``max_retries=0``: a task lost with its node comes back as a report marked ``lost``; the platform
  fails it ("worker node lost") or queues it again, as set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runyard.domain.errors import in_one_line
from runyard.execution import stages
from runyard.execution.backends.base import Executor, ReportSink, free_slots
from runyard.execution.contract import RunReport, RunTask
from runyard.settings import Settings

log = logging.getLogger(__name__)

INSTALL_HINT = "the Ray executor needs Ray on the server and on every node: pip install 'runyard[ray]'"
NODE_DIR_ENV = "RUNYARD_NODE_DIR"
LOST = "worker node lost"
BLOB_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
            "AWS_DEFAULT_REGION")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:  # pragma: no cover - depends on the install
        raise RuntimeError(INSTALL_HINT) from None
    return ray


def ray_address(name: str) -> str:
    """The cluster address an executor setting names: ``ray://HOST:PORT`` as given, ``ray`` the
    ``RAY_ADDRESS`` of the environment."""
    if name.startswith("ray://"):
        return name
    address = os.environ.get("RAY_ADDRESS", "").strip()
    if not address:
        raise ValueError("RUNYARD_EXECUTOR=ray joins the cluster RAY_ADDRESS names, and RAY_ADDRESS is not set "
                         "(or set RUNYARD_EXECUTOR=ray://HOST:PORT)")
    return address


@dataclass(frozen=True)
class NodeConfig:
    """What a node needs to execute runs: never the database's address or the server's secrets."""

    execution: dict[str, Any]
    limits: dict[str, Any]
    blob_url: str
    sandbox: str
    # The blob store's credentials as the server has them (AWS_*), for nodes that have none of their own.
    blob_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: Settings) -> NodeConfig:
        execution = settings.execution.model_dump(mode="json")
        # Folders are the node's own (its RUNYARD_NODE_DIR), never the server's.
        execution.update(env_dir=None, work_dir=None)
        blob_url = settings.resolved_blob_url()
        blob_env = {k: v for k, v in os.environ.items() if k in BLOB_ENV} if blob_url.startswith("s3://") else {}
        return cls(execution=execution, limits=settings.limits.model_dump(mode="json"),
                   blob_url=blob_url, sandbox=settings.sandbox, blob_env=blob_env)

    def settings(self) -> Settings:
        root = Path(os.environ.get(NODE_DIR_ENV) or Path(tempfile.gettempdir()) / "runyard-node")
        return Settings(data_dir=root, blob_url=self.blob_url, sandbox=self.sandbox,  # type: ignore[arg-type]
                        execution=self.execution, limits=self.limits, database_url=None)


# --- on the nodes ----------------------------------------------------------------------------------

_hosts: dict[str, Any] = {}
_hosts_lock = threading.Lock()


def _node_host(config: NodeConfig) -> Any:
    """This worker process's ``RunHost`` for ``config`` (made once; environments and bundles are cached
    in the node's folder, shared by its worker processes)."""
    key = json.dumps(asdict(config), sort_keys=True)
    with _hosts_lock:
        host = _hosts.get(key)
        if host is None:
            from runyard.execution.runtime.host import RunHost
            from runyard.execution.runtime.sandbox import detect
            from runyard.storage.blobs import open_blob_store

            if not any(name in os.environ for name in BLOB_ENV):  # a node configured on its own keeps that
                os.environ.update(config.blob_env)
            settings = config.settings()
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(settings.data_dir, 0o700)
            ex = settings.execution
            sandbox = None if settings.sandbox == "off" else detect(
                bwrap=ex.bwrap, uid=ex.sandbox_uid, gid=ex.sandbox_uid, ro_paths=tuple(ex.sandbox_ro_paths),
                state_dir=settings.env_path(), etc_paths=tuple(ex.sandbox_etc_paths))
            host = RunHost(settings=settings, blobs=open_blob_store(settings.resolved_blob_url()), sandbox=sandbox, spares=2)
            _hosts[key] = host
        return host


_cleanup: Any = None


def _clean_up_later(host: Any, local: Any) -> None:
    """The workspace goes (or is kept for the next run) after the report is on its way, on one thread
    per worker process."""
    global _cleanup
    with _hosts_lock:
        if _cleanup is None:
            from concurrent.futures import ThreadPoolExecutor

            _cleanup = ThreadPoolExecutor(1, thread_name_prefix="runyard-cleanup")
    _cleanup.submit(host.finish, local)


def execute_on_node(task: RunTask, config: NodeConfig) -> RunReport:
    """The Ray task: execute one run on this node, through the same runner as the embedded pool.

    The run executes on a thread of its own while this (the worker's main) thread waits: a cancel
    reaches a running Ray task as a KeyboardInterrupt in its main thread (the supervisor's
    ``ray.cancel``), which then hands it to the runner, and the runner ends the run's process tree
    gracefully. No call per run waits on the supervisor for a cancel (one cost the node and the
    supervisor about 3 ms of CPU a run). Should the interrupt land before the run's thread exists
    (microseconds), this thread waits for nothing, and the supervisor's forced cancel after the grace
    ends the worker: the run still ends canceled."""
    stages.mark(task.run_id, "node")
    begun, done, cancel = threading.Event(), threading.Event(), threading.Event()
    outcome: list[Any] = []

    def work() -> None:
        try:
            host = _node_host(config)
            host.begin(task)
            outcome.append(host)
            begun.set()
            if cancel.is_set():  # asked before the run had begun here
                host.cancel(task.run_id)
            outcome.append(host.run(task))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            outcome.append(exc)
        finally:
            done.set()

    def interrupted() -> None:
        cancel.set()
        if begun.is_set():
            outcome[0].cancel(task.run_id)

    runner = threading.Thread(target=work, name=f"run-{task.run_id}", daemon=True)
    try:
        runner.start()
    except KeyboardInterrupt:  # canceled this very moment: the run ends canceled, if it had started
        interrupted()
    while not done.is_set():
        try:
            done.wait(0.2)  # (a timeout: Ray's interrupt does not wake a wait that has none)
        except KeyboardInterrupt:
            interrupted()
    if isinstance(outcome[-1], BaseException):
        raise outcome[-1]
    host, (report, local) = outcome
    _clean_up_later(host, local)
    return report


_remote: Any = None


def _remote_execute() -> Any:
    global _remote
    if _remote is None:
        _remote = _import_ray().remote(execute_on_node)
    return _remote


@dataclass
class _Entry:
    task: RunTask
    ref: Any
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    report: RunReport | None = None


class Supervisor:
    """The cluster-side owner of an installation's runs (a detached async actor; see the module)."""

    #: What ``configure`` answers: 2 has ``exchange``; 3 takes the attempt with a cancel. (A supervisor
    #: outlives the server that made it: a newer server attached to an older one's uses the calls that one has.)
    PROTOCOL = 3

    #: How long a cancel that came before its run is kept for it (Ray does not keep the order of one
    #: caller's calls to an async actor: a cancel sent right after its run's submission can get here first).
    EARLY_CANCEL_SECONDS = 600.0

    def __init__(self) -> None:
        self._runs: dict[str, _Entry] = {}
        self._early_cancels: dict[tuple[str, int], float] = {}  # (run, attempt) -> when asked
        self._reported = asyncio.Condition()
        self._config: Any = None

    def configure(self, config: NodeConfig) -> int:
        # Inline in each task (a few kilobytes at most): a stored object would be fetched from the head's
        # object store by every task that starts on another node (about 2 ms of each run's start).
        self._config = config
        return self.PROTOCOL

    async def exchange(self, tasks: list[tuple[RunTask, dict[str, Any]]], acked: list[tuple[str, int]],
                       timeout: float) -> tuple[list[tuple[str, int, RunReport]], list[tuple[str, str]]]:
        """The server's one call per round: acknowledge the reports it recorded (run, attempt), take the
        runs it dispatched meanwhile, and get the next reports (run, attempt, report), waiting up to
        ``timeout`` seconds for one. Also returns the runs it could not take, with why; a refusal
        answers at once."""
        self.ack(acked)
        refused = []
        for task, options in tasks:
            try:
                await self.submit(task, options)
            except Exception as exc:  # noqa: BLE001 - that run fails, saying why; the others go on
                refused.append((task.run_id, in_one_line(exc)))
        return await self._reports(0.0 if refused else timeout), refused

    async def submit(self, task: RunTask, options: dict[str, Any]) -> None:
        held = self._runs.get(task.run_id)
        if held is not None:
            if held.task.attempt == task.attempt:
                return  # submitted twice (a retried call): one execution
            # Another attempt (the run was lost and queued again), possibly before the server's
            # acknowledgement of the last one's report got here: that one is over for the platform.
            if held.report is None:
                held.cancel.set()
                _import_ray().cancel(held.ref, force=True)
        if self._early_cancels.pop((task.run_id, task.attempt), None) is not None:
            # Canceled before it got here: it never starts, and ends canceled.
            self._runs[task.run_id] = _Entry(task, None, report=RunReport(canceled=True, log_key=task.log_key))
            await self._notify_reported()
            return
        stages.mark(task.run_id, "supervisor")
        ref = _remote_execute().options(**options).remote(task, self._config)
        self._runs[task.run_id] = entry = _Entry(task, ref)
        asyncio.get_running_loop().create_task(self._follow(entry))

    async def _follow(self, entry: _Entry) -> None:
        from ray import exceptions as rx

        task = entry.task
        try:
            report = await entry.ref
        except rx.TaskCancelledError:
            report = RunReport(canceled=True, log_key=task.log_key,
                               error="" if entry.cancel.is_set() else "the run's Ray task was canceled")
        except (rx.WorkerCrashedError, rx.NodeDiedError, rx.ObjectLostError, rx.OwnerDiedError,
                rx.LocalRayletDiedError, rx.RaySystemError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            report = RunReport(lost=True, log_key=task.log_key, error=f"{LOST}: {first}")
        except Exception as exc:  # noqa: BLE001 - the node's runner raised: the run fails, saying so
            lines = [line for line in str(exc).strip().splitlines() if line.strip()]
            report = RunReport(log_key=task.log_key, error="internal error while executing the run on its node: "
                               + (lines[-1].strip() if lines else type(exc).__name__))
            log.warning("run %s: its task raised %s", task.run_id, exc)
        entry.report = report
        stages.mark(task.run_id, "reported")
        entry.ended.set()
        await self._notify_reported()

    async def _notify_reported(self) -> None:
        async with self._reported:
            self._reported.notify_all()

    async def _reports(self, timeout: float) -> list[tuple[str, int, RunReport]]:
        """Reports not yet acknowledged (run, attempt, report), waiting up to ``timeout`` seconds for one."""
        async with self._reported:
            ready = [(rid, e.task.attempt, e.report) for rid, e in self._runs.items() if e.report is not None]
            if not ready and timeout > 0:
                try:
                    await asyncio.wait_for(self._reported.wait(), timeout)
                except TimeoutError:
                    pass
                ready = [(rid, e.task.attempt, e.report) for rid, e in self._runs.items() if e.report is not None]
        return ready  # type: ignore[return-value]

    async def next_reports(self, timeout: float) -> list[tuple[str, RunReport]]:
        """Reports not yet acknowledged, waiting up to ``timeout`` seconds for one (protocol 1: for a
        server older than this supervisor, which acknowledges by run id)."""
        return [(rid, report) for rid, _, report in await self._reports(timeout)]

    def ack(self, acked: list[Any]) -> None:
        """Forget reports the server recorded: run ids, or (run id, attempt) pairs, which leave a later
        attempt of the same run alone."""
        for item in acked:
            run_id, attempt = (item, None) if isinstance(item, str) else item
            entry = self._runs.get(run_id)
            if entry is not None and entry.report is not None and attempt in (None, entry.task.attempt):
                del self._runs[run_id]

    async def cancel(self, run_id: str, grace: float, attempt: int | None = None) -> None:
        """Cancel a run: gracefully, then by force after ``grace`` seconds. A cancel naming an attempt
        this supervisor does not hold (yet) is kept for it, so it holds whichever call gets here first."""
        entry = self._runs.get(run_id)
        if attempt is not None and (entry is None or entry.task.attempt != attempt):
            now = time.monotonic()
            self._early_cancels = {k: t for k, t in self._early_cancels.items() if now - t < self.EARLY_CANCEL_SECONDS}
            self._early_cancels[(run_id, attempt)] = now
            return
        if entry is None or entry.report is not None or entry.cancel.is_set():
            return
        entry.cancel.set()
        # Graceful: a task not started yet never starts; a running one hands the cancel to its runner.
        _import_ray().cancel(entry.ref, force=False, recursive=False)
        asyncio.get_running_loop().create_task(self._force(entry, grace))

    async def _force(self, entry: _Entry, grace: float) -> None:
        try:
            await asyncio.wait_for(entry.ended.wait(), grace)
        except TimeoutError:
            ray = _import_ray()
            log.warning("run %s: its node did not end it within %.0f s; killing its worker", entry.task.run_id, grace)
            ray.cancel(entry.ref, force=True)

    def in_flight(self) -> dict[str, str]:
        """Every run this supervisor holds (executing, or reported and not yet acknowledged) by class."""
        return {run_id: e.task.execution_class for run_id, e in self._runs.items()}


# --- on the server -----------------------------------------------------------------------------------

CONNECT_ATTEMPTS = 5


def join_cluster(ray: Any, address: str, namespace: str) -> None:
    """Join the cluster; a refused first handshake (the head's client server still starting, or
    tripping over a process it is reaping) is retried a few times before the server gives up."""
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            ray.init(address=address, namespace=namespace, log_to_driver=False, logging_level=logging.WARNING)
            return
        except ConnectionError as exc:
            with contextlib.suppress(Exception):
                ray.shutdown()  # whatever half of the connection was made
            if attempt == CONNECT_ATTEMPTS:
                raise ConnectionError(f"could not join the Ray cluster at {address}: {exc}") from None
            log.warning("joining the Ray cluster at %s failed (%s); retrying", address, str(exc).splitlines()[0])
            time.sleep(min(8.0, 0.5 * 2**attempt))


class RayExecutor(Executor):
    outlives_server = True
    REPORT_WAIT_SECONDS = 1.0

    def __init__(self, *, address: str, settings: Settings, on_done: ReportSink,
                 wakeup: Callable[[], None] = lambda: None, next_run: Callable[[], None] | None = None) -> None:
        ray = self._ray = _import_ray()
        self._settings = settings.execution
        self._classes = self._settings.classes
        self.namespace = self._settings.ray_namespace
        self.owner = f"ray:{self.namespace}"
        self._on_done = on_done
        self._wakeup = wakeup  # the dispatcher: a slot is free
        # Start what has room from the reporting thread, whose next call to the supervisor then carries it.
        self._next_run = next_run or wakeup
        if not ray.is_initialized():
            join_cluster(ray, address, self.namespace)
        self._supervisor, protocol = self._attach_supervisor(ray, NodeConfig.of(settings))
        self._protocol = protocol or 1
        self._exchanges = self._protocol >= 2
        self._lock = threading.Lock()
        self._running: dict[str, str] = {}  # run id -> class, as the supervisor holds them
        self._attempts: dict[str, int] = {}  # run id -> the attempt submitted (reports of another are stale)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._submitting: dict[Any, RunTask] = {}  # submit calls not yet confirmed by the supervisor
        # Runs dispatched by the reporting thread itself: they go with its next exchange (see ``_collect``).
        self._outbox: list[tuple[RunTask, dict[str, Any]]] = []

    def _attach_supervisor(self, ray: Any, config: NodeConfig) -> tuple[Any, int | None]:
        """The installation's supervisor, made by whichever server comes first, and configured. Replicas
        starting together can both find it missing; the second to create it is told the name is taken
        (``get_if_exists`` does not cover that race, and through the client port the refusal only
        shows at the first call), and then attaches to the first one's."""
        name = f"runyard-supervisor-{self.namespace}"
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                try:
                    supervisor = ray.get_actor(name, namespace=self.namespace)
                except ValueError:  # none yet
                    supervisor = (
                        ray.remote(Supervisor)
                        .options(name=name, namespace=self.namespace, lifetime="detached", get_if_exists=True,
                                 num_cpus=0, max_concurrency=10_000, max_restarts=0,
                                 resources={"node:__internal_head__": 0.001})
                        .remote()
                    )
                return supervisor, ray.get(supervisor.configure.remote(config))
            except Exception as exc:
                # (Ray words the refusal "already taken" or "already exists", by the path it took)
                if not any(words in str(exc) for words in ("already taken", "already exists")) or attempt == CONNECT_ATTEMPTS:
                    raise
                log.info("another server created the supervisor at the same moment; attaching to it")
                time.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    # --- the contract ---

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._collect, name="runyard-ray-reports", daemon=True)
        self._thread.start()

    def submit(self, task: RunTask) -> None:
        self.start()
        cls = self._classes.get(task.execution_class)
        options: dict[str, Any] = {"max_retries": 0, "num_cpus": float(cls.cores) if cls else 1.0,
                                   "name": f"run-{task.run_id}"}
        if cls is not None:
            if cls.memory_mb:
                options["memory"] = int(cls.memory_mb) * 1024 * 1024
            if cls.resources:
                options["resources"] = dict(cls.resources)
        with self._lock:
            self._running[task.run_id] = task.execution_class
            self._attempts[task.run_id] = task.attempt
            if self._exchanges and threading.current_thread() is self._thread:
                # Dispatched right after reports came in: it goes with the next exchange, this thread's
                # next call anyway (one call per run instead of three: submit, reports, acknowledgement).
                self._outbox.append((task, options))
                return
            self._send(task, options)

    def _send(self, task: RunTask, options: dict[str, Any]) -> None:
        """Submit one run now (with the lock held)."""
        try:
            # Not waited for here (the dispatcher goes on to the next run); the collector checks it.
            self._submitting[self._supervisor.submit.remote(task, options)] = task
        except BaseException:  # not even sent (the connection is gone): the dispatcher fails the run
            self._forget(task.run_id)
            raise

    def _forget(self, run_id: str) -> str | None:
        """The run no longer executes for this server (with the lock held); returns its class."""
        self._attempts.pop(run_id, None)
        return self._running.pop(run_id, None)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.REPORT_WAIT_SECONDS + 5)
        self._thread = None
        with self._lock:
            self._running.clear()  # read again from the supervisor should this server lead again
            self._attempts.clear()

    def cancel(self, run_id: str) -> None:
        with self._lock:
            if run_id not in self._running:
                return
            attempt = self._attempts.get(run_id)
        grace = self._settings.ray_cancel_grace_seconds
        if self._protocol >= 3 and attempt is not None:  # (the attempt lets a cancel that overtakes its run wait for it)
            self._supervisor.cancel.remote(run_id, grace, attempt)
        else:
            self._supervisor.cancel.remote(run_id, grace)

    def free_capacity(self, execution_class: str) -> int:
        with self._lock:
            return free_slots(self._classes, self._running, execution_class)

    def running(self) -> list[str]:
        if self._thread is None:
            # Not reporting yet (a server starting, or a replica about to take over dispatching): what
            # the cluster still executes for this installation is ours, as of now.
            in_flight = self._ray.get(self._supervisor.in_flight.remote())
            with self._lock:
                self._running.update(in_flight)
        with self._lock:
            return list(self._running)

    def shutdown(self, *, cancel_running: bool = True) -> None:
        if cancel_running:
            self._send_outbox()  # (a cancel sent before its run would find nothing to cancel)
            for run_id in self.running():
                self.cancel(run_id)
            deadline = time.monotonic() + self._settings.ray_cancel_grace_seconds + 5
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.05)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.REPORT_WAIT_SECONDS + 5)
        if cancel_running and not self.running():
            # Nothing of this installation executes any more: its supervisor goes too.
            try:
                self._ray.kill(self._supervisor)
            except Exception:  # noqa: BLE001
                log.debug("the supervisor was already gone", exc_info=True)

    # --- reports ---

    def _check_submissions(self) -> None:
        """A submission the supervisor refused (or never got) ends its run failed, saying why (looked
        at between waits for reports: within a second)."""
        with self._lock:
            pending = list(self._submitting)
        if not pending:
            return
        ready, _ = self._ray.wait(pending, num_returns=len(pending), timeout=0)
        for ref in ready:
            with self._lock:
                task = self._submitting.pop(ref)
            try:
                self._ray.get(ref)
            except Exception as exc:  # noqa: BLE001
                self._refused(task, in_one_line(exc))

    def _refused(self, task: RunTask, why: str) -> None:
        with self._lock:
            self._forget(task.run_id)
        self._on_done(task.run_id, RunReport(error=f"the cluster did not take the run: {why}", log_key=task.log_key))
        self._wakeup()

    def _collect(self) -> None:
        """The reporting thread: one call to the supervisor per round (``exchange``) acknowledges what
        the last round recorded, carries the runs dispatched since, and brings the next reports."""
        ray = self._ray
        acked: list[Any] = []
        try:
            while not self._stop.is_set():
                try:
                    self._check_submissions()
                except Exception:  # noqa: BLE001
                    log.exception("checking submissions to the cluster failed; retrying")
                with self._lock:
                    outbox, self._outbox = self._outbox, []
                try:
                    if self._exchanges:
                        reports, refused = ray.get(self._supervisor.exchange.remote(outbox, acked, self.REPORT_WAIT_SECONDS))
                    else:  # an older supervisor: reports without their attempt, acknowledged by run
                        if acked:
                            self._supervisor.ack.remote([run_id for run_id, _ in acked])
                        reports = [(run_id, None, report) for run_id, report in
                                   ray.get(self._supervisor.next_reports.remote(self.REPORT_WAIT_SECONDS))]
                        refused = []
                    acked = []
                except Exception as exc:  # noqa: BLE001 - the supervisor or the connection is gone
                    for task, _ in outbox:  # (acknowledgements are sent again with the next call)
                        self._refused(task, in_one_line(exc))
                    if self._stop.is_set():
                        return
                    log.exception("lost touch with the cluster's supervisor; retrying")
                    self._stop.wait(1.0)
                    continue
                tasks = {task.run_id: task for task, _ in outbox}
                for run_id, why in refused:
                    self._refused(tasks[run_id], why)
                acked = self._record(reports)
                if reports:
                    # Slots are free: the next queued runs go to the cluster now (with the next exchange),
                    # not at the dispatcher's next periodic look (a second later, which capped a full
                    # class at one run per slot a second).
                    try:
                        self._next_run()
                    except Exception:  # noqa: BLE001
                        log.exception("starting the next runs failed; the dispatcher will")
                        self._wakeup()
        finally:
            self._flush(acked)

    def _record(self, reports: list[tuple[str, int | None, RunReport]]) -> list[tuple[str, int | None]]:
        """Hand the reports to the platform; returns those recorded (acknowledged with the next call)."""
        recorded = []
        for run_id, attempt, report in reports:
            stages.mark(run_id, "collected")
            with self._lock:
                if attempt is not None and self._attempts.get(run_id, attempt) != attempt:
                    # An earlier attempt's (the run was queued again after its lease expired): not the run's.
                    log.warning("run %s: dropped the report of its attempt %s", run_id, attempt)
                    recorded.append((run_id, attempt))
                    continue
                cls = self._forget(run_id)  # the slot is free before the run is seen to end
            try:
                self._on_done(run_id, report)
                recorded.append((run_id, attempt))
            except Exception:
                log.exception("could not record the result of run %s; it stays with the supervisor", run_id)
                with self._lock:
                    self._running[run_id] = cls or ""
        return recorded

    def _flush(self, acked: list[Any]) -> None:
        """The reporting thread stops: what it still held goes now (runs it dispatched, acknowledgements)."""
        self._send_outbox()
        if acked:
            with contextlib.suppress(Exception):
                self._supervisor.ack.remote(acked if self._exchanges else [run_id for run_id, _ in acked])

    def _send_outbox(self) -> None:
        """Send the runs waiting for the reporting thread's next exchange now, one call each."""
        with self._lock:
            outbox, self._outbox = self._outbox, []
        for task, options in outbox:
            try:
                with self._lock:
                    self._send(task, options)
            except Exception as exc:  # noqa: BLE001 - not sent: the run fails, saying why
                self._refused(task, in_one_line(exc))
