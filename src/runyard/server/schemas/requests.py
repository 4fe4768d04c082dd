"""Request bodies. Unknown and read-only keys (1.13.0 sends whole objects back) are ignored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ApplicationCreate(Body):
    id: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None
    is_pipeline: StrictBool | None = None
    default_instance: StrictStr | None = Field(None, validation_alias="default_instance")
    default_experiment_instance: StrictStr | None = None


class ApplicationUpdate(Body):
    name: StrictStr | None = None
    description: StrictStr | None = None
    default_instance: StrictStr | None = None
    default_experiment_instance: StrictStr | None = None


class BinaryActivate(Body):
    requirements: dict[str, Any] = Field(default_factory=dict)


class VersionCreate(Body):
    id: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None


class VersionUpdate(Body):
    name: StrictStr | None = None
    description: StrictStr | None = None


class InstanceCreate(Body):
    id: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None
    version_id: StrictStr
    configuration: dict[str, Any] | None = None


class InstanceUpdate(Body):
    version_id: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None
    configuration: dict[str, Any] | None = None


class InstanceLock(Body):
    locked: StrictBool


class RunCreate(Body):
    input: Any = None
    upload_id: StrictStr | None = None
    input_id: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None
    options: dict[str, Any] | None = None
    configuration: dict[str, Any] | None = None
    batch_experiment_id: StrictStr | None = None
    result: dict[str, Any] | None = None
    tracking: dict[str, Any] | None = None


class RunUpdate(Body):
    name: StrictStr | None = None
    description: StrictStr | None = None


class AccountCreate(Body):
    name: StrictStr


class KeyCreate(Body):
    name: StrictStr = ""
    role: StrictStr = "developer"


class SecretsCreate(Body):
    id: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None
    secrets: list[Any]


class SecretsReplace(Body):
    name: StrictStr | None = None
    description: StrictStr | None = None
    secrets: list[Any] | None = None


class SecretsPatch(Body):
    name: StrictStr | None = None
    description: StrictStr | None = None
    operations: list[Any] | None = None
