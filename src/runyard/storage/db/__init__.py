"""The metadata database: SQLAlchemy 2 tables, engine and sessions, Alembic migrations."""

from runyard.storage.db.engine import Database, create_database
from runyard.storage.db.tables import (
    AcceptanceTest,
    Account,
    ApiKey,
    Application,
    AuditEvent,
    Base,
    Bundle,
    Experiment,
    InputSet,
    Instance,
    ManagedInput,
    Run,
    SecretsCollection,
    ServerState,
    Upload,
    Version,
)

__all__ = [
    "AcceptanceTest",
    "Experiment",
    "InputSet",
    "ManagedInput",
    "Account",
    "ApiKey",
    "Application",
    "AuditEvent",
    "Base",
    "Bundle",
    "Database",
    "Instance",
    "Run",
    "SecretsCollection",
    "ServerState",
    "Upload",
    "Version",
    "create_database",
]
