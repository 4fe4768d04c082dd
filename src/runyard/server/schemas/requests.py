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


class NameDescription(Body):
    name: StrictStr | None = None
    description: StrictStr | None = None


class ManagedInputCreate(Body):
    id: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None
    upload_id: StrictStr | None = None
    run_id: StrictStr | None = None
    format: dict[str, Any] | None = None


class InputSetCreate(Body):
    id: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None
    instance_id: StrictStr | None = None
    start_time: StrictStr | None = None
    end_time: StrictStr | None = None
    maximum_runs: int | None = None
    run_ids: list[StrictStr] | None = None
    inputs: list[Any] | None = None


class InputSetUpdate(Body):
    name: StrictStr | None = None
    description: StrictStr | None = None
    inputs: list[Any] | None = None


class BatchRunBody(Body):
    input_id: StrictStr
    instance_id: StrictStr | None = None
    version_id: StrictStr | None = None
    option_set: StrictStr | None = None
    input_set_id: StrictStr | None = None
    scenario_id: StrictStr | None = None
    repetition: int | None = None


class BatchCreate(Body):
    id: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None
    type: StrictStr | None = "batch"
    input_set_id: StrictStr | None = None
    instance_ids: list[StrictStr] | None = None
    option_sets: dict[str, Any] | None = None
    runs: list[BatchRunBody] | None = None


class AcceptanceCreate(Body):
    id: StrictStr | None = None
    experiment_id: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None
    control: dict[str, Any]
    candidate: dict[str, Any]
    metrics: list[Any]
