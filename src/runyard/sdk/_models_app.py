"""Wire models of an application's versions, instances and secrets, and of the account queue."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AliasChoices, Field

from runyard.sdk._base_model import BaseModel
from runyard.sdk._models_runs import Status, StatusV2


class ApplicationInformation(BaseModel):
    """An application's identity and defaults (``Application.information``, ``list_applications``)."""

    id: str
    name: str
    description: str = ""
    type: str | None = None
    locked: bool | None = None
    default_instance: str | None = None
    default_experiment_instance: str | None = None
    created_at: datetime
    updated_at: datetime


class VersionExecutableRequirements(BaseModel):
    """What a pushed executable needs to run."""

    executable_type: str
    runtime: str


class VersionExecutable(BaseModel):
    """The pushed executable a version pins."""

    id: str
    user_email: str
    uploaded_at: datetime
    requirements: VersionExecutableRequirements


class Version(BaseModel):
    """An immutable snapshot of an application's executable."""

    id: str
    application_id: str
    name: str
    description: str
    executable: VersionExecutable
    created_at: datetime
    updated_at: datetime


class InstanceConfiguration(BaseModel):
    """Defaults an instance applies to its runs."""

    execution_class: str | None = None
    options: dict | None = None
    secrets_collection_id: str | None = None


class Instance(BaseModel):
    """A named, configurable pointer to a version; runs are made against instances."""

    id: str
    application_id: str
    version_id: str
    name: str
    description: str
    configuration: InstanceConfiguration
    locked: bool
    created_at: datetime
    updated_at: datetime


class SecretsCollectionSummary(BaseModel):
    """A secrets collection without its values."""

    collection_id: str = Field(serialization_alias="id", validation_alias=AliasChoices("id", "collection_id"))
    application_id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


class SecretType(StrEnum):
    """Where a secret is put: an environment variable or a file."""

    ENV = "env"
    FILE = "file"


class Secret(BaseModel):
    """One secret: its kind, where it goes and its value."""

    secret_type: SecretType = Field(serialization_alias="type", validation_alias=AliasChoices("type", "secret_type"))
    location: str
    value: str


class SecretsCollection(SecretsCollectionSummary):
    """A secrets collection with its secrets."""

    secrets: list[Secret]


class QueuedRun(BaseModel):
    """A run waiting or executing in the account's queue."""

    id: str
    user_email: str
    name: str
    description: str
    created_at: datetime
    application_id: str
    application_instance_id: str
    application_version_id: str
    execution_class: str
    status: Status
    status_v2: StatusV2


class Queue(BaseModel):
    """The account's queue, in the order runs are served."""

    runs: list[QueuedRun]
