"""Shadow tests, switchback tests and ensemble definitions (the models of nextmv 1.13.0)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from runyard.sdk._base_model import BaseModel
from runyard.sdk._models_experiments import ExperimentStatus


class StopIntent(StrEnum):
    """How a shadow or switchback test is stopped: its results kept (complete), or its pending work dropped."""

    complete = "complete"
    cancel = "cancel"


class TestComparison(BaseModel):
    """A baseline instance and the candidates that shadow it."""

    __test__ = False
    baseline_instance_id: str
    candidate_instance_ids: list[str]


class TestComparisonSingle(BaseModel):
    """A baseline instance and the one candidate a switchback test alternates it with."""

    __test__ = False
    baseline_instance_id: str
    candidate_instance_id: str


class StartEvents(BaseModel):
    time: datetime | None = None


class TerminationEvents(BaseModel):
    maximum_runs: int = Field(ge=1, le=300)
    time: datetime | None = None


class TestRun(BaseModel):
    """A run of a shadow or switchback test, tagged with its arm."""

    __test__ = False
    id: str
    application_instance_id: str | None = None
    status_v2: str | None = None
    created_at: datetime | None = None
    arm: str | None = None
    baseline_run_id: str | None = None
    unit_index: int | None = None
    statistics: dict[str, Any] | None = None


class ShadowTestMetadata(BaseModel):
    shadow_test_id: str | None = Field(default=None, alias="id")
    name: str | None = None
    description: str | None = None
    app_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    status: ExperimentStatus | None = None


class ShadowTest(ShadowTestMetadata):
    comparisons: list[TestComparison] | None = None
    start_events: StartEvents | None = None
    termination_events: TerminationEvents | None = None
    grouped_distributional_summaries: list[dict[str, Any]] | None = None
    number_of_baseline_runs: int | None = None
    number_of_candidate_runs: int | None = None
    runs: list[TestRun] | None = None


class SwitchbackPlanUnit(BaseModel):
    duration_minutes: float
    instance_id: str
    index: int


class SwitchbackPlan(BaseModel):
    start: datetime | None = None
    units: list[SwitchbackPlanUnit] | None = None
    seed: int | None = None


class SwitchbackTestMetadata(BaseModel):
    switchback_test_id: str | None = Field(default=None, alias="id")
    name: str | None = None
    description: str | None = None
    app_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    status: ExperimentStatus | None = None


class SwitchbackTest(SwitchbackTestMetadata):
    comparison: TestComparisonSingle | None = None
    plan: SwitchbackPlan | None = None
    grouped_distributional_summaries: list[dict[str, Any]] | None = None
    unit_summaries: list[dict[str, Any]] | None = None
    runs: list[TestRun] | None = None


class RuleObjective(StrEnum):
    maximize = "maximize"
    minimize = "minimize"


class RuleToleranceType(StrEnum):
    absolute = "absolute"
    relative = "relative"


class RuleTolerance(BaseModel):
    value: float
    type: RuleToleranceType


class EvaluationRule(BaseModel):
    """Keeps the child runs whose statistic is within tolerance of the best; rules apply by ``index``."""

    id: str
    statistics_path: str
    objective: RuleObjective
    tolerance: RuleTolerance
    index: int


class RunGroup(BaseModel):
    """Child runs on one instance with the same options: ``repetitions`` + 1 of them."""

    id: str
    instance_id: str
    options: dict[str, Any] | None = None
    repetitions: int | None = None


class EnsembleDefinition(BaseModel):
    id: str
    application_id: str
    name: str = ""
    description: str = ""
    run_groups: list[RunGroup]
    rules: list[EvaluationRule]
    created_at: datetime
    updated_at: datetime
