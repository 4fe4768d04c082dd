import pytest

from runyard.domain.runs import RunStatus, can_transition, final_status, is_terminal, sources_of, status_v1

Q, R, S, F, C = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED)


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (Q, R, True), (Q, C, True), (Q, F, True), (Q, S, False),
        (R, S, True), (R, F, True), (R, C, True), (R, Q, True),
        (S, F, False), (S, C, False), (F, S, False), (C, R, False), (C, Q, False),
    ],
)
def test_transitions(current: RunStatus, target: RunStatus, allowed: bool) -> None:
    assert can_transition(current, target) is allowed


def test_terminal_states_have_no_way_out() -> None:
    for status in (S, F, C):
        assert is_terminal(status)
        assert not any(can_transition(status, t) for t in RunStatus)
    assert not is_terminal(Q) and not is_terminal(R)


def test_sources_feed_conditional_updates() -> None:
    assert sources_of(S) == {R}
    assert sources_of(C) == {Q, R}
    assert sources_of(R) == {Q}


def test_legacy_status_only_knows_three_values() -> None:
    assert [status_v1(s) for s in (Q, R, S, F, C)] == ["running", "running", "succeeded", "failed", "failed"]


def test_final_status_prefers_cancel_then_deadline_then_exit_code() -> None:
    assert final_status(exit_code=0, cancel_requested=True, deadline_hit=True)[0] is C
    status, error = final_status(exit_code=-9, cancel_requested=False, deadline_hit=True)
    assert status is F and "maximum duration" in error
    assert final_status(exit_code=0, cancel_requested=False, deadline_hit=False) == (S, "")
    status, error = final_status(exit_code=3, cancel_requested=False, deadline_hit=False)
    assert status is F and "check logs" in error
