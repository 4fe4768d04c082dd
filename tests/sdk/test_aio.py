"""``AsyncClient`` / ``AsyncApplication``: the core run surface, async, against a real server."""

from __future__ import annotations

import asyncio
import time

import pytest

from runyard import cloud
from runyard.sdk.aio import AsyncApplication, AsyncClient
from runyard.sdk.errors import NotFoundError

from .conftest import Deployed, LiveServer
from .recorder import recording_server


def test_async_run_surface(live_server: LiveServer, deployed: Deployed) -> None:
    async def scenario() -> None:
        async with AsyncClient(api_key=live_server.key, url=live_server.url) as client:
            app = AsyncApplication(client=client, id=deployed.app.id)
            instance_id = deployed.instance.id
            results = await asyncio.gather(*(app.new_run_with_result(input={"n": n}, instance_id=instance_id)
                                             for n in range(3)))
            assert [r.output["solution"] for r in results] == [{"n": n} for n in range(3)]
            assert all(r.metadata.status_v2 == cloud.StatusV2.succeeded for r in results)

            run_id = await app.new_run(input={"slow": 1}, instance_id=instance_id, options={"sleep": 60})
            info = await app.run_metadata(run_id)
            assert info.id == run_id and info.metadata.status_v2 in (cloud.StatusV2.queued, cloud.StatusV2.running)
            await app.cancel_run(run_id)
            canceled = await app.run_result_with_polling(run_id, cloud.PollingOptions(max_duration=30))
            assert canceled.metadata.status_v2 == cloud.StatusV2.canceled
            assert (await app.run_result(results[0].id)).output == results[0].output

            with pytest.raises(NotFoundError):
                await app.run_metadata("run-does-not-exist")

    asyncio.run(scenario())


def test_async_retries_use_the_shared_policy() -> None:
    async def scenario(url: str) -> str:
        async with AsyncClient(api_key="k", url=url, backoff_factor=0.01, backoff_jitter=0) as client:
            return await AsyncApplication(client=client, id="wire-app").new_run(input={"x": 1})

    with recording_server() as rec:
        rec.fail_next("POST", r"/v1/applications/[^/]+/runs", 429, {"Retry-After": "0"})
        started = time.monotonic()
        assert asyncio.run(scenario(rec.url)) == "run-1"
    keys = {r.headers["idempotency-key"] for r in rec.requests}
    assert len(rec.requests) == 2 and len(keys) == 1
    assert time.monotonic() - started < 2
