"""Wire models of experiments: managed inputs, input sets, batch experiments, acceptance tests, scenarios."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import model_validator

from runyard.sdk._base_model import BaseModel
from runyard.sdk._models_runs import Format


class ManagedInput(BaseModel):
    """An input stored on the platform for reuse in experiments."""

    id: str
    name: str | None = None
    description: str | None = None
    run_id: str | None = None
    upload_id: str | None = None
    format: Format | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class InputSet(BaseModel):
    """A named collection of inputs."""

    app_id: str
    created_at: datetime
    description: str
    id: str
    input_ids: list[str]
    name: str
    updated_at: datetime
    inputs: list[ManagedInput]


class BatchExperimentInformation(BaseModel):
    """A batch experiment's identity and progress."""

    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    status: str | None = None
    description: str | None = None
    number_of_requested_runs: int | None = None
    number_of_runs: int | None = None
    number_of_completed_runs: int | None = None
    type: str | None = None
    option_sets: dict[str, dict[str, str]] | None = None


class BatchExperiment(BatchExperimentInformation):
    """A batch experiment with its inputs, instances and results."""

    input_set_id: str
    instance_ids: list[str]
    grouped_distributional_summaries: list[dict[str, Any]] | None = None


class BatchExperimentRun(BaseModel):
    """One run requested by a batch experiment."""

    option_set: str
    input_id: str
    instance_id: str | None = None
    version_id: str | None = None
    input_set_id: str | None = None
    scenario_id: str | None = None
    repetition: int | None = None
    run_number: str | None = None

    @model_validator(mode="after")
    def _target(self) -> BatchExperimentRun:
        if self.instance_id is None and self.version_id is None:
            raise ValueError("either instance_id or version_id must be set")
        return self


class BatchExperimentMetadata(BatchExperimentInformation):
    """A batch experiment as listed."""

    app_id: str | None = None


class MetricType(StrEnum):
    """How an acceptance metric compares."""

    direct_comparison = "direct-comparison"


class StatisticType(StrEnum):
    """The statistic an acceptance metric compares."""

    min = "min"
    max = "max"
    mean = "mean"
    std = "std"
    shifted_geometric_mean = "shifted_geometric_mean"
    p01 = "p01"
    p05 = "p05"
    p10 = "p10"
    p25 = "p25"
    p50 = "p50"
    p75 = "p75"
    p90 = "p90"
    p95 = "p95"
    p99 = "p99"


class Comparison(StrEnum):
    """The comparison operator of an acceptance metric."""

    equal_to = "eq"
    greater_than = "gt"
    greater_than_or_equal_to = "ge"
    less_than = "lt"
    less_than_or_equal_to = "le"
    not_equal_to = "ne"


class ToleranceType(StrEnum):
    """How an acceptance metric's tolerance is read."""

    undefined = ""
    absolute = "absolute"
    relative = "relative"


class ExperimentStatus(StrEnum):
    """Status of an experiment."""

    started = "started"
    completed = "completed"
    failed = "failed"
    draft = "draft"
    canceled = "canceled"
    unknown = "unknown"
    stopping = "stopping"
    deleting = "deleting"
    delete_failed = "delete-failed"


class MetricTolerance(BaseModel):
    """Tolerance of an acceptance metric."""

    type: ToleranceType
    value: float


class MetricParams(BaseModel):
    """Operator and tolerance of an acceptance metric."""

    operator: Comparison
    tolerance: MetricTolerance


class Metric(BaseModel):
    """A metric an acceptance test checks."""

    field: str
    metric_type: MetricType
    params: MetricParams
    statistic: StatisticType


class ComparisonInstance(BaseModel):
    """One side of an acceptance test."""

    instance_id: str
    version_id: str


class DistributionSummaryStatistics(BaseModel):
    """Summary statistics of a metric's distribution."""

    min: float
    max: float
    count: int
    mean: float
    std: float
    shifted_geometric_mean: float
    shift_parameter: float


class DistributionPercentiles(BaseModel):
    """Percentiles of a metric's distribution."""

    p01: float
    p05: float
    p10: float
    p25: float
    p50: float
    p75: float
    p90: float
    p95: float
    p99: float


class ResultStatistics(BaseModel):
    """Statistics of one side of an acceptance test."""

    instance_id: str
    version_id: str
    number_of_runs_total: int
    distribution_summary_statistics: DistributionSummaryStatistics
    distribution_percentiles: DistributionPercentiles


class MetricStatistics(BaseModel):
    """Statistics of both sides of an acceptance test."""

    control: ResultStatistics
    candidate: ResultStatistics


class MetricResult(BaseModel):
    """The verdict on one metric."""

    metric: Metric
    statistics: MetricStatistics
    passed: bool


class AcceptanceTestResults(BaseModel):
    """The verdict of an acceptance test."""

    passed: bool
    metric_results: list[MetricResult] | None = None
    error: str | None = None


class AcceptanceTest(BaseModel):
    """A candidate instance checked against a baseline on a set of metrics."""

    id: str
    name: str
    description: str
    app_id: str
    experiment_id: str
    control: ComparisonInstance
    candidate: ComparisonInstance
    metrics: list[Metric]
    created_at: datetime
    updated_at: datetime
    status: ExperimentStatus | None = ExperimentStatus.unknown
    results: AcceptanceTestResults | None = None


@dataclass
class ScenarioConfiguration:
    """An option and the values a scenario test tries for it."""

    name: str
    values: list[str]

    def __post_init__(self) -> None:
        if len(self.values) <= 0:
            raise ValueError("Configuration values must be non-empty.")


class ScenarioInputType(StrEnum):
    """Where a scenario's inputs come from."""

    INPUT_SET = "input_set"
    INPUT = "input"
    NEW = "new"


_SCENARIO_DATA_TYPES = {ScenarioInputType.INPUT_SET: str, ScenarioInputType.INPUT: list, ScenarioInputType.NEW: list}


@dataclass
class ScenarioInput:
    """A scenario's inputs: an input set id, managed input ids, or new data."""

    scenario_input_type: ScenarioInputType
    scenario_input_data: str | list[str] | list[dict[str, Any]]

    def __post_init__(self) -> None:
        expected = _SCENARIO_DATA_TYPES[self.scenario_input_type]
        if not isinstance(self.scenario_input_data, expected):
            kind = "a string when using an input set" if expected is str else "a list"
            raise ValueError(f"Scenario input type must be {kind}.")


@dataclass
class Scenario:
    """One scenario of a scenario test: inputs, an instance and option combinations."""

    scenario_input: ScenarioInput
    instance_id: str
    scenario_id: str | None = None
    configuration: list[ScenarioConfiguration] | None = None

    def option_combinations(self) -> list[dict[str, str]]:
        """Every combination of the configured option values (one empty set when none)."""
        if not self.configuration:
            return [{}]
        names = [c.name for c in self.configuration]
        return [dict(zip(names, values, strict=True)) for values in itertools.product(*(c.values for c in self.configuration))]


def scenarios_by_id(scenarios: list[Scenario]) -> dict[str, Scenario]:
    """Scenarios keyed by id (``scenario-<n>`` when unnamed); duplicates are refused."""
    out: dict[str, Scenario] = {}
    for ix, scenario in enumerate(scenarios, start=1):
        scenario_id = f"scenario-{ix}" if scenario.scenario_id is None else scenario.scenario_id
        if scenario_id in out:
            raise ValueError(f"Duplicate scenario ID found: {scenario_id}")
        out[scenario_id] = scenario
    return out


def option_sets(scenarios: list[Scenario]) -> dict[str, dict[str, dict[str, str]]]:
    """Per scenario id, its option sets named ``<scenario id>_<n>``."""
    return {
        scenario_id: {f"{scenario_id}_{ix}": combo for ix, combo in enumerate(scenario.option_combinations())}
        for scenario_id, scenario in scenarios_by_id(scenarios).items()
    }
