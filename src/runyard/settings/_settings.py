from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class LimitSettings(BaseModel):
    """Bounds that keep one request or run from taking the server down."""

    bundle_max_bytes: int = Field(2 * 1024**3, description="Largest total unpacked size of an app bundle.")
    bundle_max_files: int = Field(20_000, description="Most members an app bundle may hold.")
    archive_max_bytes: int = Field(3 * 1024**3, description="Largest unpacked size of a multi-file input archive.")
    archive_max_files: int = Field(20_000, description="Most members a multi-file input archive may hold.")
    inline_input_max_bytes: int = Field(5 * 1024 * 1024 + 1024, description="Largest inline run input.")
    json_body_max_bytes: int = Field(6 * 1024 * 1024, description="Largest body of any other API request (run inputs have their own limit; signed uploads theirs).")
    upload_max_bytes: int = Field(8 * 1024**3, description="Largest payload accepted on a signed upload URL.")
    output_max_bytes: int = Field(1024**3, description="Largest stdout a run may write before it is killed.")
    signed_url_ttl_seconds: int = Field(900, description="Lifetime of signed upload and download URLs.")
    upload_claim_stale_seconds: float = Field(60.0, description="A PUT to an upload URL renews its claim while it streams; a claim not renewed this long (its server died) no longer blocks a retry of the same URL.")


class JanitorSettings(BaseModel):
    """What is cleaned up, and when: uploads nobody used, bundles never activated, runs past retention."""

    interval_seconds: float = Field(600.0, description="Time between two sweeps of the janitor (0: never on its own).")
    abandoned_upload_seconds: float = Field(86400.0, description="An upload no run uses is removed this long after its URL expired.")
    pending_bundle_seconds: float = Field(86400.0, description="A bundle never activated is removed this long after it was requested.")
    orphan_scan_seconds: float = Field(21600.0, description="Time between two scans of the blob store for objects no row refers to (0: only when an admin asks).")
    orphan_grace_seconds: float = Field(86400.0, description="An object no row refers to is removed only once it is this old (writes in flight are younger).")
    event_retention_seconds: float = Field(7 * 86400.0, ge=0, description="Events already fanned out to webhooks, and ended webhook deliveries with their attempts, are removed this long after they were made or ended (0: kept forever). Streams cannot resume from before what was removed.")


class ExecutionClass(BaseModel):
    """A named slice of capacity: cores, memory, wall-clock limit and concurrency."""

    cores: int = Field(1, description="Cores a run of this class may use.")
    memory_mb: int = Field(4096, description="Address-space cap for a run's process, in MiB.")
    max_duration_seconds: float = Field(870.0, description="Wall-clock limit; the run is killed when reached.")
    concurrency: int = Field(2, description="Runs of this class executing at once.")
    max_processes: int = Field(512, description="Processes and threads a run may have at once (pids cgroup; else RLIMIT_NPROC).")
    cpu_seconds: float | None = Field(None, description="CPU time a run may use, all its processes together (default: cores × wall-clock limit).")
    open_files: int = Field(4096, description="Open files per process (RLIMIT_NOFILE).")
    workspace_max_bytes: int = Field(8 * 1024**3, description="Largest total size of a run's workspace, and of any one file it writes.")
    network: bool = Field(True, description="Whether runs of this class reach the network (an app's manifest can turn it off too).")
    resources: dict[str, float] = Field(default_factory=dict, description="Ray executor: custom resources a run of this class needs, which pin the class to the nodes that offer them (e.g. {\"big-memory\": 1}).")


def _default_classes() -> dict[str, ExecutionClass]:
    return {"6c9500mb870s": ExecutionClass()}


SHADOW_CLASS = "shadow"  # the class shadow-test candidates run in unless another is set


class ExecutionSettings(BaseModel):
    """How runs are turned into processes."""

    default_class: str = Field("6c9500mb870s", description="Execution class used when none is named.")
    shadow_class: str | None = Field("shadow", description="Execution class of shadow-test candidate runs: a class of their own keeps them off production capacity altogether (\"shadow\", when not among the classes, is made as a copy of the default class with half its concurrency, at least 1). Naming a production class (or null) runs them there at the last priority instead: behind every queued production run, but a running one holds a slot.")
    classes: dict[str, ExecutionClass] = Field(default_factory=_default_classes, description="Execution classes by name.")
    env_dir: Path | None = Field(None, description="Where Python environments are cached (default <data_dir>/envs).")
    work_dir: Path | None = Field(None, description="Where run workspaces are made (default <data_dir>/work).")
    keep_workspaces: bool = Field(False, description="Keep run workspaces after the run ends (debugging).")
    python: str | None = Field(None, description="Interpreter for app environments (default: the server's).")
    lost_runs: str = Field("fail", description="What a restart does with runs that were running: 'fail' or 'requeue'.")
    poll_interval_seconds: float = Field(0.1, description="How often the runner checks for cancel and deadlines.")
    kill_grace_seconds: float = Field(0.5, description="Time between SIGTERM and SIGKILL when a run is stopped.")
    lease_seconds: float = Field(15.0, description="How long a worker's claim on a running run holds unless renewed (renewed every third of it); a run whose worker is gone is resolved after this.")
    sandbox_uid: int = Field(61000, description="Uid (and gid) a root server runs sandboxed apps as; never the server's.")
    sandbox_ro_paths: list[str] = Field(default_factory=list, description="More read-only paths runs may see (toolchains under /opt, …).")
    sandbox_etc_paths: list[str] = Field(default_factory=list, description="More host files or folders runs see in their /etc, each under its own name (e.g. /etc/krb5.conf, or an ODBC configuration kept elsewhere); followed when they change on the host.")
    prestart_sandboxes: bool = Field(True, description="Start the sandbox of a kept workspace's next run as soon as the workspace is kept, so that run only hands its arguments, stdio and environment to it (about 5 ms less per run). Off: every run starts its own.")
    prestart_interpreters: bool = Field(True, description="With prestart_sandboxes: a Python app's sandbox started ahead starts its interpreter too, which then runs the next run's script as `python SCRIPT.py` would (a run whose environment differs in what Python reads at start-up gets an interpreter of its own). Takes Python's start-up off the run's path. Off: the interpreter starts with the run.")
    bwrap: str | None = Field(None, description="The bubblewrap program (default: bwrap on the system PATH).")
    ray_namespace: str = Field("runyard", description="Ray executor: the namespace of this installation's supervisor and tasks on the cluster (one per installation sharing a cluster).")
    ray_cancel_grace_seconds: float = Field(10.0, description="Ray executor: how long a canceled run's node may take to end it before its Ray worker is killed.")


class WebhookSettings(BaseModel):
    """How webhook deliveries are made: retries, timeouts, limits and which targets they may reach."""

    allow_loopback: bool = Field(False, description="Let deliveries connect to loopback addresses (127.0.0.0/8, ::1).")
    deny_private: bool = Field(False, description="Refuse deliveries to private ranges (10/8, 172.16/12, 192.168/16, fc00::/7).")
    max_attempts: int = Field(14, ge=1, description="Attempts per delivery before it is given up (14: over about 23 hours with the defaults).")
    backoff_base_seconds: float = Field(30.0, gt=0, description="Delay before the first retry; each next one doubles, with jitter.")
    backoff_cap_seconds: float = Field(6 * 3600.0, gt=0, description="Longest delay between two attempts (a Retry-After may ask for more, up to a day).")
    timeout_seconds: float = Field(10.0, gt=0, description="Time an attempt may take: connect, send and read the answer.")
    concurrency_per_endpoint: int = Field(4, ge=1, description="Attempts in flight at once to one webhook, all servers together.")
    workers: int = Field(16, ge=1, description="Attempts in flight at once, per server.")
    disable_after_failures: int = Field(50, ge=1, description="Consecutive failed attempts after which a webhook is disabled (with disable_after_seconds).")
    disable_after_seconds: float = Field(24 * 3600.0, ge=0, description="…and for how long it must have been failing.")
    poll_seconds: float = Field(1.0, gt=0, description="How often a server looks for events other servers wrote.")
    gather_seconds: float = Field(0.005, ge=0, le=1.0, description="After a transaction of this server wrote events, the worker waits this long before fanning them out: a burst (a run queued, then claimed within a millisecond) goes out in one round, and the round does not compete with the run's own transactions for the database.")
    enabled: bool = Field(True, description="Run the delivery worker in this server.")
    queue_wait_seconds: float = Field(300.0, ge=0, description="A queue.wait event is sent for a run queued longer than this (0: never).")


class ClusterSettings(BaseModel):
    """Several servers on one PostgreSQL database: which one dispatches, how they wake each other."""

    leader_check_seconds: float = Field(1.0, gt=0, description="How often the dispatching server checks its hold on the leader lock, and a standby tries to take it; a takeover after a crash waits about two of these.")


class ConsoleSettings(BaseModel):
    """The web console: how long a browser stays signed in."""

    session_seconds: int = Field(12 * 3600, ge=60, description="Lifetime of a console session (its cookie's Max-Age).")


class Settings(BaseSettings):
    """Runyard's settings. Every field can be set as ``RUNYARD_<NAME>`` (nested: ``RUNYARD_LIMITS__…``)."""

    model_config = SettingsConfigDict(env_prefix="RUNYARD_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(Path(".runyard"), description="Folder for the embedded database, blobs and environments.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in the data dir.")
    database_read_connections: int = Field(4, ge=1, le=64, description="PostgreSQL: connections each server process opens, when first needed, for the reads its poll paths make on the event loop (a run's metadata, a batch experiment); more wait for one of these.")
    blob_url: str | None = Field(None, description="Blob store URL (file://…, memory://, s3://BUCKET/PREFIX with the AWS_* settings); default files in the data dir.")
    executor: str = Field("embedded", description="Run executor backend: embedded, ray://HOST:PORT (a Ray cluster's client port), ray (the cluster RAY_ADDRESS names) or stub.")
    sandbox: Literal["on", "off"] = Field("on", description="'off' runs apps unconfined, as the server (development only).")
    api_key: str | None = Field(None, description="If set, accepted as an admin key of the default account.")
    signing_secret: str | None = Field(None, description="HMAC secret for signed URLs; generated and stored if unset.")
    secrets_key: str | None = Field(None, description="Key that encrypts secrets at rest; generated in development mode.")
    metrics_token: str | None = Field(None, description="Bearer token that may read /metrics (admin keys always may).")
    log_format: Literal["text", "json"] = Field("text", description="'json': one JSON object per log line, with the request id.")
    public_url: str | None = Field(None, description="Base URL clients reach the server at; default: the request's.")
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, description="Port to listen on.")
    development: bool = Field(True, description="Development mode allows generated secrets.")
    community_dir: Path | None = Field(None, description="A folder of app templates offered as community apps (`nextmv community list|clone`): one folder per app with its app.yaml and a community.yaml (description, version, type). Unset: community apps answer 501.")
    limits: LimitSettings = Field(default_factory=LimitSettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    janitor: JanitorSettings = Field(default_factory=JanitorSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @model_validator(mode="after")
    def _known_default_class(self) -> Settings:
        if self.execution.default_class not in self.execution.classes:
            raise ValueError(f"execution.default_class {self.execution.default_class!r} is not among the classes")
        if self.execution.shadow_class == SHADOW_CLASS and SHADOW_CLASS not in self.execution.classes:
            default = self.execution.classes[self.execution.default_class]
            self.execution.classes[SHADOW_CLASS] = default.model_copy(update={"concurrency": max(1, default.concurrency // 2)})
        if self.execution.shadow_class and self.execution.shadow_class not in self.execution.classes:
            raise ValueError(f"execution.shadow_class {self.execution.shadow_class!r} is not among the classes")
        return self

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'runyard.db').resolve()}"

    def resolved_blob_url(self) -> str:
        return self.blob_url or f"file://{(self.data_dir / 'blobs').resolve()}"

    def env_path(self) -> Path:
        return _resolved(self.execution.env_dir or self.data_dir / "envs")

    def data_path(self, name: str) -> Path:
        """``name`` under the data folder, resolved."""
        return _resolved(self.data_dir / name)

    def work_path(self) -> Path:
        return _resolved(self.execution.work_dir or self.data_dir / "work")


@functools.lru_cache(maxsize=64)
def _resolved(path: Path) -> Path:
    """``path.resolve()``, remembered: every run asks for the same few folders, and resolving walks each
    component with a system call."""
    return path.resolve()
