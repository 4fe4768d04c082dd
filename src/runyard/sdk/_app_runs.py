"""Runs of an application: submit, wait (long-poll), read results and logs, cancel, track."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx

from runyard.sdk._base_client import dumps_compact
from runyard.sdk._events import StreamEvent, StreamUnavailable, stream_events
from runyard.sdk._io import Input, Output
from runyard.sdk._models_runs import (
    TERMINAL_STATUSES,
    DownloadURL,
    ExternalRunResult,
    Run,
    RunConfiguration,
    RunInformation,
    RunLog,
    RunResult,
    StatusV2,
    TrackedRun,
    UploadURL,
)
from runyard.sdk._polling import DEFAULT_POLLING_OPTIONS, PollingOptions, poll
from runyard.sdk._run_filters import iter_runs, run_query
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

if TYPE_CHECKING:
    from runyard.sdk._client import Client

JSON_HEADERS = {"Content-Type": "application/json"}


class RunsMixin:
    """Run methods of :class:`~runyard.cloud.Application`."""

    client: Client
    id: str
    endpoint: str
    default_instance_id: str

    # --- submitting -----------------------------------------------------------------------------

    def new_run(
        self,
        input: Input | dict[str, Any] | Any | str = None,
        instance_id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        upload_id: str | None = None,
        options: Any | dict[str, str] | None = None,
        configuration: RunConfiguration | dict[str, Any] | None = None,
        batch_experiment_id: str | None = None,
        external_result: ExternalRunResult | dict[str, Any] | None = None,
        json_configurations: dict[str, Any] | None = None,
        *,
        input_dir_path: str | None = None,
    ) -> str:
        """Start a run and return its id. Large inputs, csv-archive inputs and ``input_dir_path``
        (a directory sent as a .tar.gz, format ``multi-file``) go through an upload URL."""
        plan = plan_input(input, input_dir_path, json_configurations)
        if upload_id is None and plan.upload is not None:
            url = self.upload_url()
            self.upload_large_input(input=plan.upload, upload_url=url, json_configurations=json_configurations)
            upload_id = url.upload_id
        payload = run_payload(
            run_input=plan, upload_id=upload_id, name=name, description=description,
            options=options_dict(input, options, json_configurations),
            configuration=with_input_format(configuration, plan.input_format),
            batch_experiment_id=batch_experiment_id, external_result=external_result,
        )
        query = {"instance_id": instance_id if instance_id is not None else self.default_instance_id}
        response = self.client.request("POST", f"{self.endpoint}/runs", payload=payload, query_params=query,
                                       json_configurations=json_configurations)
        return response.json()["run_id"]

    def new_run_with_result(
        self,
        input: Input | dict[str, Any] | Any | str = None,
        instance_id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        upload_id: str | None = None,
        run_options: Any | dict[str, str] | None = None,
        polling_options: PollingOptions = DEFAULT_POLLING_OPTIONS,
        configuration: RunConfiguration | dict[str, Any] | None = None,
        batch_experiment_id: str | None = None,
        external_result: ExternalRunResult | dict[str, Any] | None = None,
        *,
        input_dir_path: str | None = None,
    ) -> RunResult:
        """Start a run and return its result once it has ended."""
        run_id = self.new_run(
            input=input, instance_id=instance_id, name=name, description=description, upload_id=upload_id,
            options=run_options, configuration=configuration, batch_experiment_id=batch_experiment_id,
            external_result=external_result, input_dir_path=input_dir_path,
        )
        return self.run_result_with_polling(run_id=run_id, polling_options=polling_options)

    def cancel_run(self, run_id: str) -> None:
        """Ask the server to cancel a run."""
        self.client.request("PATCH", f"{self.endpoint}/runs/{run_id}/cancel")

    # --- reading --------------------------------------------------------------------------------

    def run_metadata(self, run_id: str, *, wait: float | None = None) -> RunInformation:
        """A run's information. ``wait`` (seconds, ≤ 60) holds the answer until the run has ended."""
        query = {"wait": wait} if wait else None
        timeout = self.client.timeout + wait if wait else None
        response = self.client.request("GET", f"{self.endpoint}/runs/{run_id}/metadata", query_params=query,
                                       timeout=timeout)
        info = RunInformation.from_dict(response.json())
        info.console_url = self._console_url(info.id)
        return info

    def run_result(self, run_id: str) -> RunResult:
        """A run's information and output (as it is now)."""
        return self._run_result(run_id, self.run_metadata(run_id=run_id))

    def run_result_with_polling(self, run_id: str, polling_options: PollingOptions = DEFAULT_POLLING_OPTIONS) -> RunResult:
        """The run's result once it has ended: the run's event stream says when, where the server offers
        it, and brings the result with its end when the output is small; else server long-polls that
        answer with the result itself (documented polling against servers that do neither); ``None``
        if ``polling_options.stop`` ends the wait."""
        end = self._await_end(run_id, polling_options)
        if end is not None and isinstance(end.get("result"), dict):
            return self._result_from(end["result"], output_is_url=False)
        plan = WaitPlan(polling_options)
        while True:
            wait = plan.next_wait()
            if wait == WaitPlan.STOP:
                return None  # type: ignore[return-value]
            started = time.monotonic()
            response = self.client.request("GET", f"{self.endpoint}/runs/{run_id}", query_params={"wait": wait},
                                           timeout=self.client.timeout + wait)
            result = self._result_of(response, output_came_as_url(response.headers))
            if result.metadata.status_v2 in TERMINAL_STATUSES:
                return result
            if WaitPlan.ignored(wait, time.monotonic() - started):
                info = self._poll_until_ended(run_id, plan.fallback_options())
                return None if info is None else self._run_result(run_id, info)  # type: ignore[return-value]

    def _await_end(self, run_id: str, options: PollingOptions) -> dict[str, Any] | None:
        """The data of the run's ``end`` event (with its ``result`` when the output is small), once the
        run has ended. Without ``stop`` only: that is asked between polls. A server without streams,
        or any error, returns None at once: the long-poll that follows takes over (and reports a real
        error, such as an unknown run, itself)."""
        if options.stop is not None or not self.client.event_streams:
            return None
        try:
            for event in stream_events(self.client, f"{self.endpoint}/runs/{run_id}/events", params=END_STREAM_PARAMS,
                                       until="end", deadline=stream_deadline(options)):
                if event.event == "end":
                    return event.data
        except StreamUnavailable:
            self.client.event_streams = False
        except TimeoutError:
            raise polling_timeout(options) from None
        except (APIError, httpx.HTTPError):
            pass
        return None

    def list_runs(self, status: StatusV2 | Iterable[StatusV2] | None = None, *, instance_id: str | None = None,
                  version_id: str | None = None, created_after: datetime | str | None = None,
                  created_before: datetime | str | None = None, limit: int | None = None) -> list[Run]:
        """The application's runs, newest first (as ``Application.list_runs`` of nextmv 1.x), filtered by
        the server: with one of the statuses, of an instance or version, created at or after
        ``created_after`` and before ``created_before`` (naive times are UTC); at most ``limit`` of
        them, reading only the pages needed (all pages without it)."""
        query = run_query(status=status, instance_id=instance_id, version_id=version_id,
                          created_after=created_after, created_before=created_before)
        return [Run.from_dict(r) for r in iter_runs(self.client, f"{self.endpoint}/runs", query, limit)]

    def run_input(self, run_id: str) -> dict[str, Any]:
        """The input a run was started with."""
        info = self.run_metadata(run_id=run_id)
        large = needs_download(info, output=False)
        response = self.client.request("GET", f"{self.endpoint}/runs/{run_id}/input",
                                       query_params={"format": "url"} if large else None)
        if not large:
            return response.json()
        url = DownloadURL.from_dict(response.json())
        return self.client.request("GET", url.url, headers=JSON_HEADERS).json()

    @overload
    def run_logs(self, run_id: str) -> RunLog: ...
    @overload
    def run_logs(self, run_id: str, follow: Literal[False]) -> RunLog: ...
    @overload
    def run_logs(self, run_id: str, follow: Literal[True]) -> Iterator[str]: ...

    def run_logs(self, run_id: str, follow: bool = False) -> RunLog | Iterator[str]:
        """A run's logs; with ``follow=True`` an iterator of log lines as they are written, ending
        when the run ends."""
        if follow:
            return self._follow_logs(run_id)
        response = self.client.request("GET", f"{self.endpoint}/runs/{run_id}/logs")
        return RunLog.from_dict(response.json())

    # --- uploads and tracked runs ---------------------------------------------------------------

    def upload_url(self) -> UploadURL:
        """A URL to upload a large input (or tracked-run file) to."""
        response = self.client.request("POST", f"{self.endpoint}/runs/uploadurl")
        return UploadURL.from_dict(response.json())

    def upload_large_input(self, input: dict[str, Any] | str | bytes, upload_url: UploadURL,
                           json_configurations: dict[str, Any] | None = None) -> None:
        """PUT an input to an upload URL (dicts as compact JSON)."""
        if isinstance(input, dict):
            input = dumps_compact(input, json_configurations)
        self.client.upload_to_presigned_url(url=upload_url.upload_url, data=input)

    def track_run(self, tracked_run: TrackedRun, instance_id: str | None = None) -> str:
        """Record a run executed elsewhere (input, output, logs, status); return its id."""
        url_input = self.upload_url()
        run_input = tracked_run.input.data if isinstance(tracked_run.input, Input) else tracked_run.input
        self.upload_large_input(input=run_input, upload_url=url_input)
        url_output = self.upload_url()
        output = tracked_run.output.to_dict() if isinstance(tracked_run.output, Output) else tracked_run.output
        self.upload_large_input(input=output, upload_url=url_output)
        result = ExternalRunResult(output_upload_id=url_output.upload_id, status=tracked_run.status.value,
                                   execution_duration=tracked_run.duration)
        if tracked_run.logs is not None:
            url_logs = self.upload_url()
            self.upload_large_input(input=tracked_run.logs_text(), upload_url=url_logs)
            result.error_upload_id = url_logs.upload_id
        if tracked_run.error:
            result.error_message = tracked_run.error
        return self.new_run(upload_id=url_input.upload_id, external_result=result, instance_id=instance_id)

    def track_run_with_result(self, tracked_run: TrackedRun, polling_options: PollingOptions = DEFAULT_POLLING_OPTIONS,
                              instance_id: str | None = None) -> RunResult:
        """Record a tracked run and return its result."""
        run_id = self.track_run(tracked_run=tracked_run, instance_id=instance_id)
        return self.run_result_with_polling(run_id=run_id, polling_options=polling_options)

    # --- internals ------------------------------------------------------------------------------

    def run_console_url(self, run_id: str) -> str:
        """The run's page in the web console (the server's own console unless ``console_url`` says otherwise)."""
        return f"{self.client.console_url}/app/{self.id}/run/{run_id}?view=details"

    _console_url = run_console_url

    def _run_result(self, run_id: str, info: RunInformation) -> RunResult:
        large = needs_download(info, output=True)
        response = self.client.request("GET", f"{self.endpoint}/runs/{run_id}",
                                       query_params={"format": "url"} if large else None)
        return self._result_of(response, large)

    def _result_of(self, response: Any, output_is_url: bool) -> RunResult:
        """The ``RunResult`` of a ``GET …/runs/{id}`` answer, its output downloaded if it came as a URL."""
        return self._result_from(response.json(), output_is_url)

    def _result_from(self, body: dict[str, Any], output_is_url: bool) -> RunResult:
        result = RunResult.from_dict(body)
        result.console_url = self._console_url(result.id)
        if output_is_url and body.get("output") is not None:
            url = DownloadURL.from_dict(body["output"])
            result.output = self.client.request("GET", url.url, headers=JSON_HEADERS).json()
        return result

    def _poll_until_ended(self, run_id: str, options: PollingOptions) -> RunInformation | None:
        def attempt() -> tuple[RunInformation | None, bool]:
            info = self.run_metadata(run_id=run_id)
            return (info, True) if info.metadata.status_v2 in TERMINAL_STATUSES else (None, False)

        return poll(polling_options=options, polling_func=attempt)

    def run_events(self, run_id: str, *, last_event_id: str | None = None) -> Iterator[StreamEvent]:
        """A run's status changes (``status``) and log lines (``log``) as they happen, then ``end``;
        a dropped connection is resumed without a gap. ``StreamUnavailable`` if the server has no
        event streams."""
        return stream_events(self.client, f"{self.endpoint}/runs/{run_id}/events", last_event_id=last_event_id, until="end")

    def _follow_logs(self, run_id: str) -> Iterator[str]:
        # The event stream pushes each line as it is written; servers without it are polled.
        try:
            for event in self.run_events(run_id):
                if event.event == "log":
                    yield event.data.get("log", "")
            return
        except StreamUnavailable:
            pass
        since: str | None = None
        while True:
            page = self.client.request("GET", f"{self.endpoint}/runs/{run_id}/logs/live",
                                       query_params={"since": since} if since else None).json()
            items = page.get("items") or []
            for item in items:
                yield item.get("log", "")
            since = page.get("next_page_token") or since
            if page.get("status_v2") in {s.value for s in TERMINAL_STATUSES}:
                if not items:
                    return
                continue  # the run has ended: drain what is left without waiting
            if not items:
                time.sleep(max(0.05, float(page.get("next_available_in_seconds") or 1)))
