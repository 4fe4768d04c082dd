"""The retry schedule, Retry-After, address refusals and filters, as pure code."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from runyard.domain import webhooks as wh
from runyard.settings import Settings


def test_default_schedule_spans_about_a_day_in_growing_gaps() -> None:
    s = Settings().webhooks
    policy = wh.RetryPolicy(max_attempts=s.max_attempts, base_seconds=s.backoff_base_seconds, cap_seconds=s.backoff_cap_seconds)
    for seed in range(20):
        rng = random.Random(seed)
        gaps = [policy.delay(n, rng=rng) for n in range(1, policy.max_attempts)]
        assert policy.max_attempts >= 10
        assert 20 * 3600 < sum(gaps) < 30 * 3600, sum(gaps) / 3600
        below_cap = gaps[:10]  # 30 s · 2^9 is the last step under the 6-hour cap; from there each is jittered at the cap
        assert all(b > a for a, b in zip(below_cap, below_cap[1:], strict=False))


def test_retry_after_wins_when_longer() -> None:
    policy = wh.RetryPolicy(base_seconds=1)
    assert policy.delay(1, retry_after=120) == 120
    assert policy.delay(1, retry_after=10**9) == policy.max_retry_after_seconds
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert wh.parse_retry_after("7", now=now) == 7
    assert wh.parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now=now) == 60
    assert wh.parse_retry_after("soon", now=now) is None


def test_refusals() -> None:
    def refused(a: str, **kw: bool) -> str | None:
        return wh.refusal(a, allow_loopback=kw.get("loopback", False), deny_private=kw.get("private", False))

    assert "metadata" in refused("169.254.169.254", loopback=True)
    assert "link-local" in refused("169.254.1.1", loopback=True)
    assert "link-local" in refused("fe80::1", loopback=True)
    assert "loopback" in refused("127.0.0.1") and refused("127.0.0.1", loopback=True) is None
    assert "loopback" in refused("::ffff:127.0.0.1")
    assert refused("10.1.2.3") is None and "private" in refused("10.1.2.3", private=True)
    assert refused("93.184.216.34") is None
    assert refused("0.0.0.0") is not None


def test_filters_and_signatures() -> None:
    assert wh.matches(["run.status"], {"statuses": ["failed"]}, event_type="run.status", app_id="a", status="failed")
    assert not wh.matches(["run.status"], {"statuses": ["failed"]}, event_type="run.status", app_id="a", status="succeeded")
    assert not wh.matches(["version.pushed"], {}, event_type="run.status", app_id="a")
    assert wh.matches(["*"], {"application_ids": ["a"]}, event_type="version.pushed", app_id="a")
    secret = wh.new_secret()
    header = wh.nextmv_signature([secret], b"{}", 1_000)
    assert wh.verify_nextmv(secret, b"{}", header, now_ms=1_000)
    assert not wh.verify_nextmv(secret, b"{}", header, now_ms=1_000 + 301_000)
    assert not wh.verify_nextmv(wh.new_secret(), b"{}", header, now_ms=1_000)
