"""The run state machine: the one place that says which status may follow which."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


TERMINAL: frozenset[RunStatus] = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED})

_ALLOWED: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELED, RunStatus.FAILED}),
    RunStatus.RUNNING: frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.QUEUED}),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELED: frozenset(),
}


def can_transition(current: RunStatus, target: RunStatus) -> bool:
    """Whether a run in ``current`` may move to ``target``."""
    return target in _ALLOWED[RunStatus(current)]


def sources_of(target: RunStatus) -> frozenset[RunStatus]:
    """The statuses a run may be in to move to ``target`` (for conditional updates)."""
    return frozenset(s for s, targets in _ALLOWED.items() if target in targets)


def is_terminal(status: RunStatus | str) -> bool:
    return RunStatus(status) in TERMINAL


def status_v1(status: RunStatus | str) -> str:
    """The legacy ``status`` of 0.28.5: only failed, running and succeeded exist there."""
    status = RunStatus(status)
    if status is RunStatus.SUCCEEDED:
        return "succeeded"
    if status in (RunStatus.FAILED, RunStatus.CANCELED):
        return "failed"
    return "running"


def final_status(*, exit_code: int | None, cancel_requested: bool, deadline_hit: bool) -> tuple[RunStatus, str]:
    """The terminal status and error message from what the runner saw and what was asked for."""
    if cancel_requested:
        return RunStatus.CANCELED, "run was canceled"
    if deadline_hit:
        return RunStatus.FAILED, "run reached the maximum duration of its execution class and was stopped"
    if exit_code == 0:
        return RunStatus.SUCCEEDED, ""
    return RunStatus.FAILED, "Run failed, please check logs for details."
