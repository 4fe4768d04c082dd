"""Shadow tests, switchback tests and ensemble definitions of an application (nextmv 1.13.0's methods)."""

from __future__ import annotations

import secrets as _random
import string
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runyard.sdk._models_online import (
    EnsembleDefinition,
    EvaluationRule,
    RunGroup,
    ShadowTest,
    ShadowTestMetadata,
    StartEvents,
    StopIntent,
    SwitchbackTest,
    SwitchbackTestMetadata,
    TerminationEvents,
    TestComparisonSingle,
    TestRun,
)
from runyard.sdk._pagination import iter_pages

if TYPE_CHECKING:
    from runyard.sdk._client import Client


def _new_id(prefix: str) -> str:
    return f"{prefix}-" + "".join(_random.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def _fields(name: str | None, description: str | None) -> dict[str, Any]:
    if not name and description is None:
        raise ValueError("Must provide at least name or description to update")
    return {k: v for k, v in (("name", name), ("description", description)) if v is not None}


class OnlineMixin:
    """Shadow and switchback tests and ensemble definitions of :class:`~runyard.cloud.Application`."""

    client: Client
    endpoint: str
    experiments_endpoint: str

    def _items(self, path: str) -> list[dict[str, Any]]:
        return list(iter_pages(self.client, path, "items"))

    def _test_runs(self, kind: str, test_id: str) -> list[TestRun]:
        runs = self.client.request("GET", f"{self.experiments_endpoint}/{kind}/{test_id}/runs").json().get("runs", [])
        return [TestRun.from_dict(r) for r in runs]

    # --- shadow tests ---------------------------------------------------------------------------

    def new_shadow_test(self, comparisons: dict[str, list[str]], termination_events: TerminationEvents,
                        shadow_test_id: str | None = None, name: str | None = None, description: str | None = None,
                        start_events: StartEvents | None = None) -> ShadowTest:
        """Create a shadow test (a draft): runs on each baseline are mirrored to its candidates once started."""
        test_id = shadow_test_id or _new_id("shadow")
        payload: dict[str, Any] = {"id": test_id, "name": name or test_id, "comparisons": comparisons,
                                   "termination_events": termination_events.to_dict()}
        if description is not None:
            payload["description"] = description
        if start_events is not None:
            payload["start_events"] = start_events.to_dict()
        return ShadowTest.from_dict(self.client.request("POST", f"{self.experiments_endpoint}/shadow", payload=payload).json())

    def shadow_test(self, shadow_test_id: str) -> ShadowTest:
        """A shadow test with its runs (tagged baseline or candidate) and summaries per instance."""
        test = ShadowTest.from_dict(self.client.request("GET", f"{self.experiments_endpoint}/shadow/{shadow_test_id}").json())
        test.runs = self._test_runs("shadow", shadow_test_id)
        return test

    def shadow_test_metadata(self, shadow_test_id: str) -> ShadowTestMetadata:
        return ShadowTestMetadata.from_dict(
            self.client.request("GET", f"{self.experiments_endpoint}/shadow/{shadow_test_id}/metadata").json())

    def list_shadow_tests(self) -> list[ShadowTest]:
        return [ShadowTest.from_dict(t) for t in self._items(f"{self.experiments_endpoint}/shadow")]

    def shadow_test_analysis(self, shadow_test_id: str) -> dict[str, Any]:
        """Per candidate and metric: paired differences, bootstrap CI, Wilcoxon p-value, effect size, verdict."""
        return self.client.request("GET", f"{self.experiments_endpoint}/shadow/{shadow_test_id}/analysis").json()

    def update_shadow_test(self, shadow_test_id: str, name: str | None = None, description: str | None = None) -> ShadowTest:
        response = self.client.request("PATCH", f"{self.experiments_endpoint}/shadow/{shadow_test_id}",
                                       payload=_fields(name, description))
        return ShadowTest.from_dict(response.json())

    def start_shadow_test(self, shadow_test_id: str) -> None:
        self.client.request("PUT", f"{self.experiments_endpoint}/shadow/{shadow_test_id}/start")

    def stop_shadow_test(self, shadow_test_id: str, intent: StopIntent) -> None:
        self.client.request("PUT", f"{self.experiments_endpoint}/shadow/{shadow_test_id}/stop",
                            payload={"intent": StopIntent(intent).value})

    def delete_shadow_test(self, shadow_test_id: str) -> None:
        self.client.request("DELETE", f"{self.experiments_endpoint}/shadow/{shadow_test_id}")

    # --- switchback tests -----------------------------------------------------------------------

    def new_switchback_test(self, comparison: TestComparisonSingle, unit_duration_minutes: float, units: int,
                            switchback_test_id: str | None = None, name: str | None = None,
                            description: str | None = None, start: datetime | None = None) -> SwitchbackTest:
        """Create a switchback test (a draft) with a random plan of ``units`` units."""
        test_id = switchback_test_id or _new_id("switchback")
        plan: dict[str, Any] = {"unit_duration_minutes": unit_duration_minutes, "units": units}
        if start is not None:
            plan["start"] = start.isoformat()
        payload: dict[str, Any] = {"id": test_id, "name": name or test_id, "comparison": comparison.to_dict(),
                                   "generate_random_plan": plan}
        if description is not None:
            payload["description"] = description
        response = self.client.request("POST", f"{self.experiments_endpoint}/switchback", payload=payload)
        return SwitchbackTest.from_dict(response.json())

    def switchback_test(self, switchback_test_id: str) -> SwitchbackTest:
        """A switchback test with its plan, runs (tagged by arm and unit) and summaries per arm and unit."""
        path = f"{self.experiments_endpoint}/switchback/{switchback_test_id}"
        test = SwitchbackTest.from_dict(self.client.request("GET", path).json())
        test.runs = self._test_runs("switchback", switchback_test_id)
        return test

    def switchback_test_metadata(self, switchback_test_id: str) -> SwitchbackTestMetadata:
        return SwitchbackTestMetadata.from_dict(
            self.client.request("GET", f"{self.experiments_endpoint}/switchback/{switchback_test_id}/metadata").json())

    def list_switchback_tests(self) -> list[SwitchbackTest]:
        return [SwitchbackTest.from_dict(t) for t in self._items(f"{self.experiments_endpoint}/switchback")]

    def switchback_test_analysis(self, switchback_test_id: str) -> dict[str, Any]:
        """Per metric: the candidate's units against the baseline's (Mann–Whitney), effect size, verdict."""
        return self.client.request("GET", f"{self.experiments_endpoint}/switchback/{switchback_test_id}/analysis").json()

    def update_switchback_test(self, switchback_test_id: str, name: str | None = None,
                               description: str | None = None) -> SwitchbackTest:
        response = self.client.request("PATCH", f"{self.experiments_endpoint}/switchback/{switchback_test_id}",
                                       payload=_fields(name, description))
        return SwitchbackTest.from_dict(response.json())

    def start_switchback_test(self, switchback_test_id: str) -> None:
        self.client.request("PUT", f"{self.experiments_endpoint}/switchback/{switchback_test_id}/start")

    def stop_switchback_test(self, switchback_test_id: str, intent: StopIntent) -> None:
        self.client.request("PUT", f"{self.experiments_endpoint}/switchback/{switchback_test_id}/stop",
                            payload={"intent": StopIntent(intent).value})

    def delete_switchback_test(self, switchback_test_id: str) -> None:
        self.client.request("DELETE", f"{self.experiments_endpoint}/switchback/{switchback_test_id}")

    # --- ensemble definitions -------------------------------------------------------------------

    def new_ensemble_definition(self, run_groups: list[RunGroup], rules: list[EvaluationRule], id: str | None = None,
                                name: str | None = None, description: str | None = None) -> EnsembleDefinition:
        """Define an ensemble: run groups to fan out and the rules that pick the winning child run."""
        def_id = id or _new_id("ensemble")
        payload = {"id": def_id, "run_groups": [g.to_dict() for g in run_groups], "rules": [r.to_dict() for r in rules],
                   "name": name or def_id, "description": description or name or def_id}
        return EnsembleDefinition.from_dict(self.client.request("POST", f"{self.endpoint}/ensembles", payload=payload).json())

    def ensemble_definition(self, ensemble_definition_id: str) -> EnsembleDefinition:
        return EnsembleDefinition.from_dict(self.client.request("GET", f"{self.endpoint}/ensembles/{ensemble_definition_id}").json())

    def list_ensemble_definitions(self) -> list[EnsembleDefinition]:
        return [EnsembleDefinition.from_dict(d) for d in self._items(f"{self.endpoint}/ensembles")]

    def update_ensemble_definition(self, id: str, name: str | None = None, description: str | None = None) -> EnsembleDefinition:
        response = self.client.request("PATCH", f"{self.endpoint}/ensembles/{id}", payload=_fields(name, description))
        return EnsembleDefinition.from_dict(response.json())

    def delete_ensemble_definition(self, ensemble_definition_id: str) -> None:
        self.client.request("DELETE", f"{self.endpoint}/ensembles/{ensemble_definition_id}")

    def ensemble_run(self, run_id: str) -> dict[str, Any]:
        """An ensemble run's children, each rule's evaluation and the winner (``GET …/runs/{id}/ensemble``)."""
        return self.client.request("GET", f"{self.endpoint}/runs/{run_id}/ensemble").json()
