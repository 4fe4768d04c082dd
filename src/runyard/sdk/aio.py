"""Async twins of ``Client`` and ``Application`` for the core run surface.

Same names, arguments and return types as the sync SDK; every call is ``async``::

    async with AsyncClient(url=..., api_key=...) as client:
        app = AsyncApplication(client=client, id="my-app")
        result = await app.new_run_with_result(input={"x": 1}, instance_id="latest")
"""

from __future__ import annotations

import time
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx

from runyard.sdk._base_client import RetryPolicy, dumps_compact, policy_from, prepare, send_async
from runyard.sdk._client import ClientSettings
from runyard.sdk._events import StreamUnavailable, astream_events
from runyard.sdk._io import Input
from runyard.sdk._models_runs import (
    TERMINAL_STATUSES,
    DownloadURL,
    ExternalRunResult,
    RunConfiguration,
    RunInformation,
    RunResult,
    UploadURL,
)
from runyard.sdk._polling import DEFAULT_POLLING_OPTIONS, PollingOptions, apoll
from runyard.sdk._run_requests import (
    END_STREAM_PARAMS,
    WaitPlan,
    needs_download,
    options_dict,
    output_came_as_url,
    plan_input,
    polling_timeout,
    run_payload,
    stream_deadline,
    with_input_format,
)
from runyard.sdk.errors import APIError

__all__ = ["AsyncApplication", "AsyncClient"]

_JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class AsyncClient(ClientSettings):
    """The async client: same settings as :class:`runyard.cloud.Client`."""

    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
        self._http: httpx.AsyncClient | None = None
        self.event_streams = True  # until the server shows it has none (then ``*_with_result`` long-polls only)

    @property
    def retry_policy(self) -> RetryPolicy:
        return policy_from(max_retries=self.max_retries, backoff_factor=self.backoff_factor,
                           backoff_jitter=self.backoff_jitter, backoff_max=self.backoff_max,
                           status_forcelist=self.status_forcelist, allowed_methods=self.allowed_methods)

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(transport=self.transport, timeout=self.timeout, follow_redirects=True)
        return self._http

    async def aclose(self) -> None:
        """Close pooled connections."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(self, method: str, endpoint: str, data: Any | None = None, headers: dict[str, str] | None = None,
                      payload: dict[str, Any] | list[Any] | None = None, query_params: dict[str, Any] | None = None,
                      json_configurations: dict[str, Any] | None = None, *, timeout: float | None = None) -> httpx.Response:
        """One API call; raises a :mod:`runyard.sdk.errors` class for a 4xx/5xx answer."""
        prepared = prepare(
            base_url=self.url, method=method, endpoint=endpoint, default_headers=self.headers or {},
            headers=headers, payload=payload, data=data, query_params=query_params,
            json_configurations=json_configurations, timeout=timeout if timeout is not None else self.timeout,
        )
        return await send_async(self.http, prepared, self.retry_policy)

    async def upload_to_presigned_url(self, data: dict[str, Any] | str | bytes, url: str,
                                      json_configurations: dict[str, Any] | None = None) -> None:
        """PUT ``data`` to a presigned URL (no API key is sent there)."""
        if isinstance(data, dict):
            data = dumps_compact(data, json_configurations)
        await self.request("PUT", url, data=data, headers={})


@dataclass
class AsyncApplication:
    """The async run surface of an application."""

    client: AsyncClient
    id: str
    default_instance_id: str = "devint"
    endpoint: str = "v1/applications/{id}"

    def __post_init__(self) -> None:
        self.endpoint = self.endpoint.format(id=self.id)

    async def upload_url(self) -> UploadURL:
        """A URL to upload a large input to."""
        return UploadURL.from_dict((await self.client.request("POST", f"{self.endpoint}/runs/uploadurl")).json())

    async def upload_large_input(self, input: dict[str, Any] | str | bytes, upload_url: UploadURL,
                                 json_configurations: dict[str, Any] | None = None) -> None:
        """PUT an input to an upload URL."""
        await self.client.upload_to_presigned_url(url=upload_url.upload_url, data=input,
                                                  json_configurations=json_configurations)

    async def new_run(self, input: Input | dict[str, Any] | Any | str = None, instance_id: str | None = None,
                      name: str | None = None, description: str | None = None, upload_id: str | None = None,
                      options: Any | dict[str, str] | None = None,
                      configuration: RunConfiguration | dict[str, Any] | None = None,
                      batch_experiment_id: str | None = None,
                      external_result: ExternalRunResult | dict[str, Any] | None = None,
                      json_configurations: dict[str, Any] | None = None, *,
                      input_dir_path: str | None = None) -> str:
        """Start a run and return its id."""
        plan = plan_input(input, input_dir_path, json_configurations)
        if upload_id is None and plan.upload is not None:
            url = await self.upload_url()
            await self.upload_large_input(plan.upload, url, json_configurations)
            upload_id = url.upload_id
        payload = run_payload(
            run_input=plan, upload_id=upload_id, name=name, description=description,
            options=options_dict(input, options, json_configurations),
            configuration=with_input_format(configuration, plan.input_format),
            batch_experiment_id=batch_experiment_id, external_result=external_result,
        )
        query = {"instance_id": instance_id if instance_id is not None else self.default_instance_id}
        response = await self.client.request("POST", f"{self.endpoint}/runs", payload=payload, query_params=query,
                                             json_configurations=json_configurations)
        return response.json()["run_id"]

    async def new_run_with_result(self, input: Input | dict[str, Any] | Any | str = None, instance_id: str | None = None,
                                  name: str | None = None, description: str | None = None,
                                  upload_id: str | None = None, run_options: Any | dict[str, str] | None = None,
                                  polling_options: PollingOptions = DEFAULT_POLLING_OPTIONS,
                                  configuration: RunConfiguration | dict[str, Any] | None = None,
                                  batch_experiment_id: str | None = None,
                                  external_result: ExternalRunResult | dict[str, Any] | None = None, *,
                                  input_dir_path: str | None = None) -> RunResult:
        """Start a run and return its result once it has ended."""
        run_id = await self.new_run(
            input=input, instance_id=instance_id, name=name, description=description, upload_id=upload_id,
            options=run_options, configuration=configuration, batch_experiment_id=batch_experiment_id,
            external_result=external_result, input_dir_path=input_dir_path,
        )
        return await self.run_result_with_polling(run_id, polling_options)

    async def cancel_run(self, run_id: str) -> None:
        """Ask the server to cancel a run."""
        await self.client.request("PATCH", f"{self.endpoint}/runs/{run_id}/cancel")

    async def run_metadata(self, run_id: str, *, wait: float | None = None) -> RunInformation:
        """A run's information; ``wait`` (s, ≤ 60) holds the answer until the run has ended."""
        response = await self.client.request(
            "GET", f"{self.endpoint}/runs/{run_id}/metadata", query_params={"wait": wait} if wait else None,
            timeout=self.client.timeout + wait if wait else None,
        )
        info = RunInformation.from_dict(response.json())
        info.console_url = self._console_url(info.id)
        return info

    async def run_result(self, run_id: str) -> RunResult:
        """A run's information and output (as it is now)."""
        return await self._run_result(run_id, await self.run_metadata(run_id))

    async def run_result_with_polling(self, run_id: str,
                                      polling_options: PollingOptions = DEFAULT_POLLING_OPTIONS) -> RunResult:
        """The run's result once it has ended: from the run's event stream where the server offers it (as
        the sync SDK), else server long-polls; documented polling as the last fallback."""
        end = await self._await_end(run_id, polling_options)
        if end is not None and isinstance(end.get("result"), dict):
            return await self._result_from(end["result"], output_is_url=False)
        plan = WaitPlan(polling_options)
        while True:
            wait = plan.next_wait()
            if wait == WaitPlan.STOP:
                return None  # type: ignore[return-value]
            started = time.monotonic()
            response = await self.client.request("GET", f"{self.endpoint}/runs/{run_id}", query_params={"wait": wait},
                                                 timeout=self.client.timeout + wait)
            result = await self._result_of(response, output_came_as_url(response.headers))
            if result.metadata.status_v2 in TERMINAL_STATUSES:
                return result
            if WaitPlan.ignored(wait, time.monotonic() - started):
                info = await self._poll(run_id, plan.fallback_options())
                return None if info is None else await self._run_result(run_id, info)  # type: ignore[return-value]

    async def _await_end(self, run_id: str, options: PollingOptions) -> dict[str, Any] | None:
        """The data of the run's ``end`` event once it has ended (see the sync ``Application``); None
        without a stream (then the long-poll takes over)."""
        if options.stop is not None or not self.client.event_streams:
            return None
        events = astream_events(self.client, f"{self.endpoint}/runs/{run_id}/events", params=END_STREAM_PARAMS,
                                until="end", deadline=stream_deadline(options))
        try:
            async with aclosing(events):
                async for event in events:
                    if event.event == "end":
                        return event.data
        except StreamUnavailable:
            self.client.event_streams = False
        except TimeoutError:
            raise polling_timeout(options) from None
        except (APIError, httpx.HTTPError):
            pass
        return None

    async def _poll(self, run_id: str, opts: PollingOptions) -> RunInformation | None:
        async def attempt() -> tuple[RunInformation | None, bool]:
            info = await self.run_metadata(run_id)
            return (info, True) if info.metadata.status_v2 in TERMINAL_STATUSES else (None, False)

        return await apoll(opts, attempt)

    async def _run_result(self, run_id: str, info: RunInformation) -> RunResult:
        large = needs_download(info, output=True)
        response = await self.client.request("GET", f"{self.endpoint}/runs/{run_id}",
                                             query_params={"format": "url"} if large else None)
        return await self._result_of(response, large)

    async def _result_of(self, response: Any, output_is_url: bool) -> RunResult:
        """The ``RunResult`` of a ``GET …/runs/{id}`` answer, its output downloaded if it came as a URL."""
        return await self._result_from(response.json(), output_is_url)

    async def _result_from(self, body: dict[str, Any], output_is_url: bool) -> RunResult:
        result = RunResult.from_dict(body)
        result.console_url = self._console_url(result.id)
        if output_is_url and body.get("output") is not None:
            url = DownloadURL.from_dict(body["output"])
            result.output = (await self.client.request("GET", url.url, headers=_JSON_HEADERS)).json()
        return result

    def run_console_url(self, run_id: str) -> str:
        """The run's page in the web console (the server's own console unless ``console_url`` says otherwise)."""
        return f"{self.client.console_url}/app/{self.id}/run/{run_id}?view=details"

    _console_url = run_console_url
