"""Wire models of runs: statuses, metadata, results, configurations and tracked runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, Field, model_validator

from runyard.sdk._base_client import dumps_pretty
from runyard.sdk._base_model import BaseModel
from runyard.sdk._io import Input, InputFormat, Output, OutputFormat


class Status(StrEnum):
    """Run status (v1; deprecated in favour of :class:`StatusV2`)."""

    failed = "failed"
    running = "running"
    succeeded = "succeeded"


class StatusV2(StrEnum):
    """Run status."""

    canceled = "canceled"
    failed = "failed"
    none = "none"
    queued = "queued"
    running = "running"
    succeeded = "succeeded"


TERMINAL_STATUSES = frozenset({StatusV2.succeeded, StatusV2.failed, StatusV2.canceled})


def run_duration(start: datetime | float, end: datetime | float) -> int:
    """Milliseconds between ``start`` and ``end`` (both datetimes or both ``time.time()`` floats)."""
    if isinstance(start, float) and isinstance(end, float):
        seconds = end - start
    elif isinstance(start, datetime) and isinstance(end, datetime):
        seconds = (end - start).total_seconds()
    else:
        raise TypeError("Start and end must be either datetime or float.")
    if seconds < 0:
        raise ValueError("Start time must be before end time.")
    return int(round(seconds * 1000))


class Metadata(BaseModel):
    """What the server knows about a run besides its input and output."""

    application_id: str
    application_instance_id: str
    application_version_id: str
    created_at: datetime
    duration: float
    error: str
    input_size: float
    output_size: float
    status: Status
    status_v2: StatusV2


class RunInformation(BaseModel):
    """A run's identity and metadata."""

    description: str
    id: str
    metadata: Metadata
    name: str
    user_email: str
    console_url: str = Field(default="")


class Run(BaseModel):
    """A run as listed (``Application.list_runs``)."""

    id: str
    user_email: str = ""
    name: str = ""
    description: str = ""
    created_at: datetime
    application_id: str
    application_instance_id: str | None = None
    application_version_id: str | None = None
    execution_class: str | None = None
    status_v2: StatusV2
    queuing_priority: int | None = None
    experiment_id: str | None = None


class ErrorLog(BaseModel):
    """Why a run failed."""

    error: str | None = None
    stdout: str | None = None
    stderr: str | None = None


class RunResult(RunInformation):
    """A run's information plus its output."""

    error_log: ErrorLog | None = None
    output: dict[str, Any] | None = None


class RunLog(BaseModel):
    """The logs (stderr) of a run."""

    log: str


class FormatInput(BaseModel):
    """The format of a run's input."""

    input_type: InputFormat = Field(
        serialization_alias="type", validation_alias=AliasChoices("type", "input_type"), default=InputFormat.JSON
    )


class Format(BaseModel):
    """The formats of a run."""

    format_input: FormatInput = Field(serialization_alias="input", validation_alias=AliasChoices("input", "format_input"))


class RunType(StrEnum):
    """The kind of run."""

    STANDARD = "standard"
    EXTERNAL = "external"
    ENSEMBLE = "ensemble"


class RunTypeConfiguration(BaseModel):
    """The kind of run and what it refers to."""

    run_type: RunType = Field(serialization_alias="type", validation_alias=AliasChoices("type", "run_type"))
    definition_id: str | None = None
    reference_id: str | None = None


class RunQueuing(BaseModel):
    """Queue placement of a run: ``priority`` 1 (first) to 9, or ``disabled`` to bypass the queue."""

    priority: int | None = None
    disabled: bool | None = None

    @model_validator(mode="after")
    def _priority_range(self) -> RunQueuing:
        if self.priority is not None and not 1 <= self.priority <= 9:
            raise ValueError("Priority must be between 1 and 9.")
        return self


class RunConfiguration(BaseModel):
    """How a run executes."""

    execution_class: str | None = None
    format: Format | None = None
    run_type: RunTypeConfiguration | None = None
    secrets_collection_id: str | None = None
    queuing: RunQueuing | None = None


class ExternalRunResult(BaseModel):
    """The result of a run that executed outside the platform (a tracked run)."""

    output_upload_id: str | None = None
    error_upload_id: str | None = None
    status: str | None = None
    error_message: str | None = None
    execution_duration: int | None = None

    @model_validator(mode="after")
    def _known_status(self) -> ExternalRunResult:
        if self.status is not None and self.status not in ("succeeded", "failed"):
            raise ValueError("Invalid status value, must be one of: succeeded, failed")
        return self


class TrackedRunStatus(StrEnum):
    """The outcome of a tracked run."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _check_json(value: Any, what: str) -> None:
    try:
        dumps_pretty(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{what} is dict[str, Any] but it is not JSON serializable") from exc


@dataclass
class TrackedRun:
    """A run executed elsewhere whose input, output and logs are recorded on the platform."""

    input: Input | dict[str, Any] | str
    output: Output | dict[str, Any] | str
    status: TrackedRunStatus
    duration: int | None = None
    error: str | None = None
    logs: list[str] | None = None

    def __post_init__(self) -> None:
        if self.status not in (TrackedRunStatus.SUCCEEDED, TrackedRunStatus.FAILED):
            raise ValueError("Invalid status value, must be one of: succeeded, failed")
        if self.error and self.status != TrackedRunStatus.FAILED:
            raise ValueError("Error message must be empty if the run succeeded.")
        if isinstance(self.input, Input):
            if self.input.input_format != InputFormat.JSON:
                raise ValueError("Input.input_format must be JSON.")
        elif isinstance(self.input, dict):
            _check_json(self.input, "Input")
        if isinstance(self.output, Output):
            if self.output.output_format != OutputFormat.JSON:
                raise ValueError("Output.output_format must be JSON.")
        elif isinstance(self.output, dict):
            _check_json(self.output, "Output")

    def logs_text(self) -> str:
        """The logs as one text (lines joined with a newline)."""
        if self.logs is None:
            return ""
        if isinstance(self.logs, str):
            return self.logs
        if isinstance(self.logs, list):
            return "\n".join(self.logs)
        raise TypeError("Logs must be a string or a list of strings.")


class UploadURL(BaseModel):
    """Where to PUT a large input, and the id to refer to it by."""

    upload_id: str
    upload_url: str


class DownloadURL(BaseModel):
    """Where to GET a large result."""

    url: str
