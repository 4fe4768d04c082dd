"""Webhook deliveries show in ``/metrics``: attempts by outcome, their time, deliveries ended by state."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from runyard.testing.receiver import Answer

from .conftest import create_webhook, deliveries, submit, wait_until


def scrape(api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    response = api.get("/metrics")  # an admin key reads them
    assert response.status_code == 200, response.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def test_deliveries_and_their_attempts_move_the_webhook_series(start_server, receiver) -> None:  # type: ignore[no-untyped-def]
    api, _ = start_server(max_attempts=2, backoff_base_seconds=0.2)
    api.new_app("counted")
    create_webhook(api, receiver.url, filters={"statuses": ["succeeded"]})
    before = scrape(api)
    assert before.get(("runyard_webhook_attempts_total", (("outcome", "delivered"),)), 0) == 0

    receiver.script = [Answer(500)]  # the first delivery: one failed attempt, then delivered
    submit(api, "counted")
    wait_until(lambda: [d for d in deliveries(api) if d["state"] == "succeeded"], what="a delivery succeeded")
    receiver.script = [Answer(500), Answer(500)]  # the second: both attempts fail, the delivery fails
    submit(api, "counted")
    wait_until(lambda: [d for d in deliveries(api) if d["state"] == "failed"], what="a delivery failed")

    after = scrape(api)
    assert after[("runyard_webhook_attempts_total", (("outcome", "delivered"),))] == 1
    assert after[("runyard_webhook_attempts_total", (("outcome", "failed"),))] == 3
    assert after[("runyard_webhook_deliveries_total", (("state", "succeeded"),))] == 1
    assert after[("runyard_webhook_deliveries_total", (("state", "failed"),))] == 1
    assert after[("runyard_webhook_attempt_seconds_count", ())] == 4
    assert after[("runyard_webhook_attempt_seconds_sum", ())] > 0
