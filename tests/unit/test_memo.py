"""The bounded memo behind the runner's per-bundle lookups."""

from __future__ import annotations

from runyard.domain.memo import Memo


def test_a_memo_starts_over_when_full_and_never_grows_past_its_limit() -> None:
    memo: Memo[str, int] = Memo(3)
    assert [memo.remember(k, i) for i, k in enumerate("abc")] == [0, 1, 2]
    assert memo == {"a": 0, "b": 1, "c": 2}
    assert memo.remember("d", 3) == 3
    assert memo == {"d": 3}  # everything else is looked up again
    for i in range(100):
        memo.remember(str(i), i)
        assert len(memo) <= 3
