"""Experiments of an application (managed inputs, input sets, batch experiments, scenario and
acceptance tests) and its secrets collections."""

from __future__ import annotations

import re
import secrets as _random
import string
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runyard.sdk._io import InputFormat
from runyard.sdk._models_app import Secret, SecretsCollection, SecretsCollectionSummary
from runyard.sdk._models_experiments import (
    AcceptanceTest,
    BatchExperiment,
    BatchExperimentInformation,
    BatchExperimentMetadata,
    BatchExperimentRun,
    ExperimentStatus,
    InputSet,
    ManagedInput,
    Metric,
    Scenario,
    ScenarioInputType,
    option_sets,
    scenarios_by_id,
)
from runyard.sdk._models_runs import Format, FormatInput, UploadURL
from runyard.sdk._polling import DEFAULT_POLLING_OPTIONS, PollingOptions, poll
from runyard.sdk.errors import NotFoundError

if TYPE_CHECKING:
    from runyard.sdk._client import Client

_ACCEPTANCE_DONE = {ExperimentStatus.completed, ExperimentStatus.failed, ExperimentStatus.canceled}
_ID_MAX = 40


def _as_dict(value: Any) -> Any:
    return value.to_dict() if hasattr(value, "to_dict") else value


def _put_optional(payload: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Add the keyword arguments that are not ``None`` to ``payload``, in order."""
    payload.update({k: v for k, v in fields.items() if v is not None})
    return payload


def safe_name_and_id(prefix: str, entity_id: str) -> tuple[str, str]:
    """A readable, unique ``(name, id)`` for an entity created on the caller's behalf."""
    words = [w.lower() for w in re.split(r"[^A-Za-z0-9]+", entity_id) if w]
    slug = "".join(_random.choice(string.ascii_lowercase + string.digits) for _ in range(8))
    parts = [prefix]
    for word in words:
        if len("-".join([*parts, word])) + len(slug) + 1 > _ID_MAX - 3:
            break
        parts.append(word)
    new_id = "-".join([*parts, slug])
    return " ".join(p.capitalize() for p in new_id.split("-")), new_id


class ExperimentsMixin:
    """Experiment and secrets methods of :class:`~runyard.cloud.Application`."""

    client: Client
    endpoint: str
    experiments_endpoint: str

    if TYPE_CHECKING:
        def upload_url(self) -> UploadURL: ...
        def upload_large_input(self, input: Any, upload_url: UploadURL, json_configurations: Any = None) -> None: ...
        def instance(self, instance_id: str) -> Any: ...

    def _get(self, path: str, query: dict[str, Any] | None = None) -> Any:
        return self.client.request("GET", path, query_params=query).json()

    # --- managed inputs -------------------------------------------------------------------------

    def new_managed_input(self, id: str, name: str, description: str | None = None, upload_id: str | None = None,
                          run_id: str | None = None, format: Format | dict[str, Any] | None = None) -> ManagedInput:
        """Store an input (from an upload or a run) for use in experiments."""
        if upload_id is None and run_id is None:
            raise ValueError("Either upload_id or run_id must be specified")
        payload = _put_optional({"id": id, "name": name}, description=description, upload_id=upload_id, run_id=run_id)
        payload["format"] = _as_dict(format) if format is not None else Format(
            format_input=FormatInput(input_type=InputFormat.JSON)).to_dict()
        response = self.client.request("POST", f"{self.endpoint}/inputs", payload=payload)
        return ManagedInput.from_dict(response.json())

    def managed_input(self, managed_input_id: str) -> ManagedInput:
        """A managed input."""
        return ManagedInput.from_dict(self._get(f"{self.endpoint}/inputs/{managed_input_id}"))

    def list_managed_inputs(self) -> list[ManagedInput]:
        """The application's managed inputs."""
        return [ManagedInput.from_dict(m) for m in self._get(f"{self.endpoint}/inputs")]

    def update_managed_input(self, managed_input_id: str, name: str, description: str) -> None:
        """Rename or redescribe a managed input."""
        self.client.request("PUT", f"{self.endpoint}/inputs/{managed_input_id}",
                            payload={"name": name, "description": description})

    def delete_managed_input(self, managed_input_id: str) -> None:
        """Delete a managed input."""
        self.client.request("DELETE", f"{self.endpoint}/inputs/{managed_input_id}")

    # --- input sets -----------------------------------------------------------------------------

    def new_input_set(self, id: str, name: str, description: str | None = None, end_time: datetime | None = None,
                      instance_id: str | None = None, maximum_runs: int | None = None, run_ids: list[str] | None = None,
                      start_time: datetime | None = None, inputs: list[ManagedInput] | None = None) -> InputSet:
        """Create an input set from runs (by ids, or an instance and time window) or managed inputs."""
        payload = _put_optional(
            {"id": id, "name": name}, description=description,
            end_time=end_time.isoformat() if end_time is not None else None, instance_id=instance_id,
            maximum_runs=maximum_runs, run_ids=run_ids,
            start_time=start_time.isoformat() if start_time is not None else None,
            inputs=[i.to_dict() for i in inputs] if inputs is not None else None,
        )
        response = self.client.request("POST", f"{self.experiments_endpoint}/inputsets", payload=payload)
        return InputSet.from_dict(response.json())

    def input_set(self, input_set_id: str) -> InputSet:
        """An input set."""
        return InputSet.from_dict(self._get(f"{self.experiments_endpoint}/inputsets/{input_set_id}"))

    def list_input_sets(self) -> list[InputSet]:
        """The application's input sets."""
        return [InputSet.from_dict(s) for s in self._get(f"{self.experiments_endpoint}/inputsets")]

    # --- batch experiments and scenario tests ---------------------------------------------------

    def new_batch_experiment(self, name: str, input_set_id: str | None = None, instance_ids: list[str] | None = None,
                             description: str | None = None, id: str | None = None,
                             option_sets: dict[str, dict[str, str]] | None = None,
                             runs: list[BatchExperimentRun | dict[str, Any]] | None = None,
                             type: str | None = "batch") -> str:
        """Start a batch experiment; returns its id."""
        payload = _put_optional(
            {"name": name}, input_set_id=input_set_id, instance_ids=instance_ids, description=description, id=id,
            option_sets=option_sets, runs=[_as_dict(r) for r in runs] if runs is not None else None, type=type,
        )
        response = self.client.request("POST", f"{self.experiments_endpoint}/batch", payload=payload)
        return response.json()["id"]

    def batch_experiment_analysis(self, batch_id: str, baseline_instance_id: str | None = None) -> dict[str, Any]:
        """Each instance against the baseline instance (default: the experiment's first), paired by input."""
        query = {"baseline_instance_id": baseline_instance_id} if baseline_instance_id else None
        return self._get(f"{self.experiments_endpoint}/batch/{batch_id}/analysis", query)

    def batch_experiment(self, batch_id: str) -> BatchExperiment:
        """A batch experiment with its results."""
        return BatchExperiment.from_dict(self._get(f"{self.experiments_endpoint}/batch/{batch_id}"))

    def list_batch_experiments(self) -> list[BatchExperimentMetadata]:
        """The application's batch experiments."""
        items = self._get(f"{self.experiments_endpoint}/batch", {"type": "batch"})
        return [BatchExperimentMetadata.from_dict(b) for b in items]

    def update_batch_experiment(self, batch_experiment_id: str, name: str, description: str) -> BatchExperimentInformation:
        """Rename or redescribe a batch experiment."""
        response = self.client.request("PATCH", f"{self.experiments_endpoint}/batch/{batch_experiment_id}",
                                       payload={"name": name, "description": description})
        return BatchExperimentInformation.from_dict(response.json())

    def delete_batch_experiment(self, batch_id: str) -> None:
        """Delete a batch experiment."""
        self.client.request("DELETE", f"{self.experiments_endpoint}/batch/{batch_id}")

    def new_scenario_test(self, id: str, name: str, scenarios: list[Scenario], description: str | None = None,
                          repetitions: int | None = 0) -> str:
        """Start a scenario test: every scenario's inputs × option combinations × repetitions."""
        if len(scenarios) < 1:
            raise ValueError("At least one scenario must be provided")
        by_id = scenarios_by_id(scenarios)
        input_sets = {}
        for scenario_id, scenario in by_id.items():
            self.instance(instance_id=scenario.instance_id)  # fail early on an unknown instance
            input_sets[scenario_id] = self._input_set_for_scenario(scenario, scenario_id)
        all_sets: dict[str, dict[str, str]] = {}
        runs: list[BatchExperimentRun] = []
        for scenario_id, scenario_sets in option_sets(scenarios).items():
            all_sets.update(scenario_sets)
            input_set, scenario = input_sets[scenario_id], by_id[scenario_id]
            input_ids = input_set.input_ids or [i.id for i in input_set.inputs]
            for set_key in scenario_sets:
                for input_id in input_ids:
                    for repetition in range((repetitions or 0) + 1):
                        runs.append(BatchExperimentRun(
                            input_id=input_id, input_set_id=input_set.id, instance_id=scenario.instance_id,
                            option_set=set_key, scenario_id=scenario_id, repetition=repetition,
                            run_number=str(len(runs) + 1),
                        ))
        return self.new_batch_experiment(id=id, name=name, description=description, type="scenario",
                                         option_sets=all_sets, runs=runs)

    def scenario_test(self, scenario_test_id: str) -> BatchExperiment:
        """A scenario test with its results."""
        return self.batch_experiment(batch_id=scenario_test_id)

    def list_scenario_tests(self) -> list[BatchExperimentMetadata]:
        """The application's scenario tests."""
        items = self._get(f"{self.experiments_endpoint}/batch", {"type": "scenario"})
        return [BatchExperimentMetadata.from_dict(b) for b in items]

    def update_scenario_test(self, scenario_test_id: str, name: str, description: str) -> BatchExperimentInformation:
        """Rename or redescribe a scenario test."""
        return self.update_batch_experiment(batch_experiment_id=scenario_test_id, name=name, description=description)

    def delete_scenario_test(self, scenario_test_id: str) -> None:
        """Delete a scenario test."""
        self.delete_batch_experiment(batch_id=scenario_test_id)

    def _input_set_for_scenario(self, scenario: Scenario, scenario_id: str) -> InputSet:
        kind, data = scenario.scenario_input.scenario_input_type, scenario.scenario_input.scenario_input_data
        if kind == ScenarioInputType.INPUT_SET:
            return self.input_set(input_set_id=data)  # type: ignore[arg-type]
        if kind == ScenarioInputType.INPUT:
            inputs = [ManagedInput.from_dict({"id": input_id}) for input_id in data]
        elif kind == ScenarioInputType.NEW:
            inputs = []
            for item in data:
                url = self.upload_url()
                self.upload_large_input(input=item, upload_url=url)
                name, new_id = safe_name_and_id("man-input", scenario_id)
                inputs.append(self.new_managed_input(id=new_id, name=name, upload_id=url.upload_id,
                                                     description=f"Automatically created from scenario test: {new_id}"))
        else:
            raise ValueError(f"Unknown scenario input type: {kind}")
        name, set_id = safe_name_and_id("inpset", scenario_id)
        return self.new_input_set(id=set_id, name=name, maximum_runs=20, inputs=inputs,
                                  description=f"Automatically created from scenario test: {set_id}")

    # --- acceptance tests -----------------------------------------------------------------------

    def new_acceptance_test(self, candidate_instance_id: str, baseline_instance_id: str, id: str,
                            metrics: list[Metric | dict[str, Any]], name: str, input_set_id: str | None = None,
                            description: str | None = None) -> AcceptanceTest:
        """Compare a candidate instance with a baseline on ``metrics`` (over a new batch experiment
        from ``input_set_id``, or the existing batch experiment with the same ``id``)."""
        if input_set_id is None:
            try:
                batch_id = self.batch_experiment(batch_id=id).id
            except NotFoundError as exc:
                raise ValueError(
                    f"batch experiment {id} does not exist, input_set_id must be defined to create a new one"
                ) from exc
        else:
            batch_id = self.new_batch_experiment(name=name, input_set_id=input_set_id, description=description, id=id,
                                                 instance_ids=[candidate_instance_id, baseline_instance_id])
        if batch_id != id:
            raise ValueError(f"batch experiment_id ({batch_id}) does not match acceptance test id ({id})")
        payload = _put_optional(
            {"candidate": {"instance_id": candidate_instance_id}, "control": {"instance_id": baseline_instance_id},
             "metrics": [_as_dict(m) for m in metrics], "experiment_id": batch_id, "name": name},
            description=description, id=id,
        )
        response = self.client.request("POST", f"{self.experiments_endpoint}/acceptance", payload=payload)
        return AcceptanceTest.from_dict(response.json())

    def new_acceptance_test_with_result(self, candidate_instance_id: str, baseline_instance_id: str, id: str,
                                        metrics: list[Metric | dict[str, Any]], name: str,
                                        input_set_id: str | None = None, description: str | None = None,
                                        polling_options: PollingOptions = DEFAULT_POLLING_OPTIONS) -> AcceptanceTest:
        """Create an acceptance test and poll until it has a verdict."""
        self.new_acceptance_test(candidate_instance_id=candidate_instance_id, baseline_instance_id=baseline_instance_id,
                                 id=id, metrics=metrics, name=name, input_set_id=input_set_id, description=description)

        def attempt() -> tuple[AcceptanceTest | None, bool]:
            test = self.acceptance_test(acceptance_test_id=id)
            return (test, True) if test.status in _ACCEPTANCE_DONE else (None, False)

        return poll(polling_options=polling_options, polling_func=attempt)

    def acceptance_test_analysis(self, acceptance_test_id: str) -> dict[str, Any]:
        """The candidate against the control per metric of the test, paired by input: CI, p-value, effect size, verdict."""
        return self._get(f"{self.experiments_endpoint}/acceptance/{acceptance_test_id}/analysis")

    def acceptance_test(self, acceptance_test_id: str) -> AcceptanceTest:
        """An acceptance test and its verdict."""
        return AcceptanceTest.from_dict(self._get(f"{self.experiments_endpoint}/acceptance/{acceptance_test_id}"))

    def list_acceptance_tests(self) -> list[AcceptanceTest]:
        """The application's acceptance tests."""
        return [AcceptanceTest.from_dict(t) for t in self._get(f"{self.experiments_endpoint}/acceptance")]

    def delete_acceptance_test(self, acceptance_test_id: str) -> None:
        """Delete an acceptance test."""
        self.client.request("DELETE", f"{self.experiments_endpoint}/acceptance/{acceptance_test_id}")

    # --- secrets --------------------------------------------------------------------------------

    def new_secrets_collection(self, secrets: list[Secret], id: str, name: str,
                               description: str | None = None) -> SecretsCollectionSummary:
        """Create a secrets collection (values are injected into runs that name it)."""
        if len(secrets) == 0:
            raise ValueError("secrets must be provided")
        payload = _put_optional({"secrets": [s.to_dict() for s in secrets]}, id=id, name=name, description=description)
        response = self.client.request("POST", f"{self.endpoint}/secrets", payload=payload)
        return SecretsCollectionSummary.from_dict(response.json())

    def secrets_collection(self, secrets_collection_id: str) -> SecretsCollection:
        """A secrets collection with its values."""
        return SecretsCollection.from_dict(self._get(f"{self.endpoint}/secrets/{secrets_collection_id}"))

    def list_secrets_collections(self) -> list[SecretsCollectionSummary]:
        """The application's secrets collections (without values)."""
        return [SecretsCollectionSummary.from_dict(s) for s in self._get(f"{self.endpoint}/secrets")["items"]]

    def update_secrets_collection(self, secrets_collection_id: str, name: str, description: str,
                                  secrets: list[Secret]) -> SecretsCollectionSummary:
        """Replace a secrets collection's name, description and secrets."""
        if len(secrets) == 0:
            raise ValueError("secrets must be provided")
        payload = {"name": name, "description": description, "secrets": [s.to_dict() for s in secrets]}
        response = self.client.request("PUT", f"{self.endpoint}/secrets/{secrets_collection_id}", payload=payload)
        return SecretsCollectionSummary.from_dict(response.json())

    def delete_secrets_collection(self, secrets_collection_id: str) -> None:
        """Delete a secrets collection."""
        self.client.request("DELETE", f"{self.endpoint}/secrets/{secrets_collection_id}")
