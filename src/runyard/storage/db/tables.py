"""ORM tables. SQLite and PostgreSQL are kept in lockstep: portable types only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both dialects (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class ServerState(Base):
    """Small server-wide values that all server processes share (the URL-signing secret)."""

    __tablename__ = "server_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set when an admin issued the key to a member of the account: the member's email, its runs' user_email.
    member_email: Mapped[str | None] = mapped_column(String(256), default=None)


class AccountMember(Base):
    """A person of an account (organization): a role, and whether they still wait for their first key."""

    __tablename__ = "account_members"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str] = mapped_column(String(256), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    pending_invite: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("account_id", "id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(32), default="custom")
    default_instance: Mapped[str | None] = mapped_column(String(128), default=None)
    default_experiment_instance: Mapped[str | None] = mapped_column(String(128), default=None)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    latest_bundle_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # {"keep_days": N, "keep_last": N}: which ended runs the janitor keeps (None: all of them).
    retention: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class Bundle(Base):
    """A pushed code package: pending until activated by ``PUT …/binary``."""

    __tablename__ = "bundles"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    blob_key: Mapped[str] = mapped_column(String(512))
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    requirements: Mapped[dict[str, Any]] = mapped_column(default=dict)
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    user_email: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set when a PUT to the bundle's URL starts: a URL takes one upload, never a second one.
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    # SHA-256 of the archive, recorded at activation and checked whenever the bundle is unpacked.
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)


class Version(Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("app_pk", "id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    bundle_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Instance(Base):
    __tablename__ = "instances"
    __table_args__ = (UniqueConstraint("app_pk", "id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    version_id: Mapped[str] = mapped_column(String(128))
    configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Upload(Base):
    """A slot for data PUT to a signed URL, later referenced by its id."""

    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"), index=True)
    blob_key: Mapped[str] = mapped_column(String(512))
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set when a PUT to the slot's URL starts: a URL takes one upload, never a second one.
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEvent(Base):
    """One state-changing API call: who (key), what (method and route), which resource (path), when,
    from where, and how it ended. Written by the server, never changed through the API."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str] = mapped_column(String(64))
    key_name: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[str] = mapped_column(String(32), default="")
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(256))
    path: Mapped[str] = mapped_column(String(1024))
    status: Mapped[int] = mapped_column(Integer)
    client: Mapped[str] = mapped_column(String(64), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_queue", "status", "execution_class", "priority", "created_at"),
        Index("ix_runs_app_created", "app_pk", "created_at", "id"),
        # The runs list's filters, each in the list's order (services/runs/listing.py says which serves which).
        Index("ix_runs_app_status", "app_pk", "status", "created_at", "id"),
        Index("ix_runs_app_instance", "app_pk", "instance_id", "status", "created_at", "id"),
        Index("ix_runs_app_version", "app_pk", "version_id", "status", "created_at", "id"),
        Index("ix_runs_account_status", "account_id", "status", "created_at", "id"),
        Index("ix_runs_experiment_created", "experiment_id", "created_at", "id"),
        UniqueConstraint("app_pk", "idempotency_key"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(String(64))  # indexed by ix_runs_account_status
    app_id: Mapped[str] = mapped_column(String(128))
    instance_id: Mapped[str] = mapped_column(String(128), default="")
    version_id: Mapped[str] = mapped_column(String(128), default="")
    bundle_id: Mapped[str | None] = mapped_column(String(64), default=None)
    name: Mapped[str] = mapped_column(String(256), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    user_email: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str] = mapped_column(Text, default="")
    run_type: Mapped[str] = mapped_column(String(32), default="standard")
    input_format: Mapped[str] = mapped_column(String(32), default="json")
    output_format: Mapped[str] = mapped_column(String(32), default="json")
    input_key: Mapped[str | None] = mapped_column(String(512), default=None)
    input_size: Mapped[int] = mapped_column(BigInteger, default=0)
    output_size: Mapped[int] = mapped_column(BigInteger, default=0)
    has_output: Mapped[bool] = mapped_column(Boolean, default=False)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    execution_class: Mapped[str] = mapped_column(String(64), default="")
    priority: Mapped[int] = mapped_column(Integer, default=6)
    queuing_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    secrets_collection_id: Mapped[str | None] = mapped_column(String(128), default=None)
    experiment_id: Mapped[str | None] = mapped_column(String(128), default=None)  # ix_runs_experiment_created
    input_id: Mapped[str | None] = mapped_column(String(128), default=None)
    input_set_id: Mapped[str | None] = mapped_column(String(128), default=None)
    option_set: Mapped[str | None] = mapped_column(String(128), default=None)
    scenario_id: Mapped[str | None] = mapped_column(String(128), default=None)
    repetition: Mapped[int | None] = mapped_column(Integer, default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), default=None)
    statistics: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error_log: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    # The worker (a server's dispatcher) that runs it, and until when that claim holds unless renewed.
    owner: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    execution_ms: Mapped[float] = mapped_column(Float, default=0.0)
    # Set when a shadow or switchback test made or routed the run: which test, and why it runs where it does.
    routing: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    parent_run_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)  # an ensemble run's child
    cloned_run_id: Mapped[str | None] = mapped_column(String(64), default=None)  # tracking.cloned_run_id of a clone


class SecretsCollection(Base):
    """Secrets of an application; the values are one encrypted JSON document."""

    __tablename__ = "secrets_collections"
    __table_args__ = (UniqueConstraint("app_pk", "id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ManagedInput(Base):
    """An input kept for reuse in runs and experiments, from an upload or a run's input."""

    __tablename__ = "managed_inputs"
    __table_args__ = (UniqueConstraint("app_pk", "id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    upload_id: Mapped[str | None] = mapped_column(String(64), default=None)
    run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    blob_key: Mapped[str] = mapped_column(String(512))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    format: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InputSet(Base):
    __tablename__ = "input_sets"
    __table_args__ = (UniqueConstraint("app_pk", "id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    input_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Experiment(Base):
    """A batch experiment or scenario test; acceptance tests sit on top of one with the same id."""

    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("app_pk", "id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(16), default="batch")
    status: Mapped[str] = mapped_column(String(16), default="started")
    input_set_id: Mapped[str] = mapped_column(String(128), default="")
    instance_ids: Mapped[list[Any]] = mapped_column(default=list)
    option_sets: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    requested_runs: Mapped[int] = mapped_column(Integer, default=0)
    summaries: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class AcceptanceTest(Base):
    __tablename__ = "acceptance_tests"
    __table_args__ = (UniqueConstraint("app_pk", "id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    experiment_id: Mapped[str] = mapped_column(String(128))
    control: Mapped[dict[str, Any]] = mapped_column(default=dict)
    candidate: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="started")
    results: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OnlineTest(Base):
    """A shadow or switchback test: it acts on runs submitted to its baseline instance while started."""

    __tablename__ = "online_tests"
    __table_args__ = (UniqueConstraint("app_pk", "kind", "id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # shadow | switchback
    id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # shadow: [{"baseline_instance_id", "candidate_instance_ids"}]; switchback: [{"baseline_instance_id", "candidate_instance_id"}]
    comparisons: Mapped[list[Any]] = mapped_column(default=list)
    start_time: Mapped[datetime | None] = mapped_column(default=None)
    end_time: Mapped[datetime | None] = mapped_column(default=None)
    maximum_runs: Mapped[int | None] = mapped_column(Integer, default=None)
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class OnlineTestRun(Base):
    """A run of a shadow or switchback test, tagged baseline or candidate."""

    __tablename__ = "online_test_runs"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    test_pk: Mapped[int] = mapped_column(ForeignKey("online_tests.pk", ondelete="CASCADE"), index=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))  # baseline | candidate
    instance_id: Mapped[str] = mapped_column(String(128))
    source_run_id: Mapped[str | None] = mapped_column(String(64), default=None)  # the baseline run a candidate mirrors
    unit_index: Mapped[int | None] = mapped_column(Integer, default=None)  # the switchback unit it ran in
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EnsembleDefinition(Base):
    __tablename__ = "ensemble_definitions"
    __table_args__ = (UniqueConstraint("app_pk", "id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    run_groups: Mapped[list[Any]] = mapped_column(default=list)
    rules: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MarketplaceApp(Base):
    """An application an account (the partner) offers to every other account of the server."""

    __tablename__ = "marketplace_apps"
    __table_args__ = (UniqueConstraint("partner_id", "id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(128))
    ref_app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[list[Any]] = mapped_column(default=list)
    features: Mapped[list[Any]] = mapped_column(default=list)
    state: Mapped[str] = mapped_column(String(16), default="pre-release")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MarketplaceVersion(Base):
    """A published version: the partner's app version's executable, fixed when it was published."""

    __tablename__ = "marketplace_versions"
    __table_args__ = (UniqueConstraint("mapp_pk", "id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mapp_pk: Mapped[int] = mapped_column(ForeignKey("marketplace_apps.pk", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(128))
    ref_version_id: Mapped[str] = mapped_column(String(128))
    bundle_id: Mapped[str] = mapped_column(String(64))
    change_log: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MarketplaceSubscription(Base):
    """An account's subscription: an application of type subscription in that account that runs the
    published versions, and nothing else of the partner's."""

    __tablename__ = "marketplace_subscriptions"
    __table_args__ = (UniqueConstraint("account_id", "subscription_id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[str] = mapped_column(String(256))
    mapp_pk: Mapped[int] = mapped_column(ForeignKey("marketplace_apps.pk", ondelete="CASCADE"), index=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("applications.pk", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """The outbox: one row per thing a user may want to hear about, written in the transaction that made
    it happen. Webhook deliveries are fanned out from it; event streams read it by id."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_pending", "fanned_out", "id"), Index("ix_events_account_id", "account_id", "id"),
                      Index("ix_events_subject", "subject", "type"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128), default="")  # the run (or experiment, version…) it is about
    app_id: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[str] = mapped_column(String(64), default="")  # run.status: the status reached
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Webhook(Base):
    __tablename__ = "webhooks"
    __table_args__ = (UniqueConstraint("account_id", "id"),)
    pk: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(128))
    endpoint_url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secret: Mapped[str] = mapped_column(Text)  # encrypted
    previous_secret: Mapped[str | None] = mapped_column(Text, default=None)  # encrypted; signs too until it expires
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="enabled")
    disabled_reason: Mapped[str] = mapped_column(Text, default="")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event to one webhook: pending until it succeeds or runs out of attempts. A worker leases it
    for the length of an attempt, so with several servers each attempt is made once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
                      Index("ix_webhook_deliveries_webhook", "webhook_pk", "created_at"))
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    webhook_pk: Mapped[str] = mapped_column(ForeignKey("webhooks.pk", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128), default="")
    body: Mapped[str] = mapped_column(Text)  # the exact bytes signed and sent
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, succeeded, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")


class ConsoleSession(Base):
    """A signed-in browser: the console's cookie names it by a token of which only the hash is kept."""

    __tablename__ = "console_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), index=True)  # not a foreign key: the env admin key is "env"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    key_name: Mapped[str] = mapped_column(String(256), default="")
    email: Mapped[str] = mapped_column(String(320), default="")  # who acts, as the key says (runs' user_email)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
