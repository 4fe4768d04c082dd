"""What a run submission is made of: the request, where its input comes from, its experiment fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunRequest:
    """A ``POST …/runs`` body after wire parsing."""

    instance_id: str | None = None
    input: Any = None
    has_input: bool = False
    upload_id: str | None = None
    name: str | None = None
    description: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    configuration: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    batch_experiment_id: str | None = None  # attach the run to this batch experiment
    cloned_run_id: str | None = None  # tracking.cloned_run_id: the run this one clones


@dataclass
class RunSource:
    """Where a run's input comes from when it is not in the request (managed input, another run)."""

    key: str | None
    size: int
    format: str | None = None


@dataclass
class ExperimentFields:
    experiment_id: str | None = None
    input_id: str | None = None
    input_set_id: str | None = None
    option_set: str | None = None
    scenario_id: str | None = None
    repetition: int | None = None
