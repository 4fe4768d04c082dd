"""How a run request is built and how waiting for a run proceeds, shared by the sync and async SDKs.

Nothing here performs I/O: the sync and async applications call these and do the HTTP themselves.
"""

from __future__ import annotations

import csv
import io
import math
import os
import tarfile
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel as PydanticBaseModel

from runyard.sdk._base_client import dumps_compact
from runyard.sdk._client import get_size
from runyard.sdk._io import Input, InputFormat
from runyard.sdk._models_runs import ExternalRunResult, RunConfiguration, RunInformation
from runyard.sdk._polling import PollingOptions

MAX_INLINE_SIZE = 5 * 1024 * 1024
"""Inputs and outputs above this many bytes go through upload / download URLs."""
LONG_POLL_SECONDS = 30.0
"""Longest single ``?wait=`` long-poll (the server caps it at 60 s)."""
STOPPABLE_LONG_POLL_SECONDS = 2.0
"""Long-poll length when ``PollingOptions.stop`` must be checked regularly."""
OUTPUT_DELIVERY_HEADER = "Runyard-Output"
"""Set to ``url`` by a long-polled result (``GET …/runs/{id}?wait=``) whose output came as a download URL."""


def output_came_as_url(headers: Any) -> bool:
    """Whether a long-polled result's ``output`` is a download URL rather than the output itself."""
    return headers.get(OUTPUT_DELIVERY_HEADER, "").lower() == "url"


@dataclass
class RunInput:
    """What a ``new_run`` call sends: inline data, or bytes/text to upload first, and its format."""

    inline: Any = None
    upload: str | bytes | None = None
    input_format: str | None = None


def input_data(input: Any) -> Any:
    """The JSON-ready data of an input given as dict, str, pydantic model or ``Input``."""
    if isinstance(input, Input):
        return input.data
    if isinstance(input, PydanticBaseModel):
        to_dict = getattr(input, "to_dict", None)
        return to_dict() if callable(to_dict) else input.model_dump(mode="json", exclude_none=True, by_alias=True)
    return input


def plan_input(input: Any, input_dir_path: str | None = None,
               json_configurations: dict[str, Any] | None = None) -> RunInput:
    """Decide how an input travels: inline when small, uploaded when large or an archive."""
    if input_dir_path is not None:
        return RunInput(upload=tar_directory(input_dir_path), input_format=InputFormat.MULTI_FILE.value)
    if isinstance(input, Input) and input.input_format in (InputFormat.CSV_ARCHIVE, InputFormat.MULTI_FILE):
        if not isinstance(input.data, dict):
            raise ValueError(f"a {input.input_format.value} Input needs a dict of file name to rows, or input_dir_path")
        return RunInput(upload=tar_csv_files(input.data), input_format=InputFormat(input.input_format).value)
    data = input_data(input)
    if data is None:
        return RunInput()
    fmt = InputFormat(input.input_format).value if isinstance(input, Input) and input.input_format else None
    if fmt == InputFormat.CSV.value:
        data = csv_text(data)
    size = get_size(data, json_configurations) if isinstance(data, dict | str) else len(dumps_compact(data))
    if size > MAX_INLINE_SIZE:
        upload = data if isinstance(data, str) else dumps_compact(data, json_configurations)
        return RunInput(upload=upload, input_format=fmt)
    return RunInput(inline=data, input_format=fmt)


def csv_text(rows: list[dict[str, Any]]) -> str:
    """CSV text of a list of rows (header from the first row)."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


def tar_csv_files(files: dict[str, Any]) -> bytes:
    """A .tar.gz holding ``<name>.csv`` per entry (rows) or ``<name>`` per text/bytes entry."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            if isinstance(content, list):
                name, content = (name if name.endswith(".csv") else f"{name}.csv"), csv_text(content)
            raw = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(raw), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(raw))
    return buffer.getvalue()


def tar_directory(path: str) -> bytes:
    """A .tar.gz of a directory's files, with paths relative to it."""
    if not os.path.isdir(path):
        raise ValueError(f"input_dir_path {path} is not a directory")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                tar.add(full, arcname=os.path.relpath(full, path))
    return buffer.getvalue()


def options_dict(input: Any, options: Any, json_configurations: dict[str, Any] | None = None) -> dict[str, str]:
    """Run options as the API wants them: every value a string (non-strings JSON-encoded)."""
    out: dict[str, Any] = {}
    if isinstance(input, Input) and input.options is not None and hasattr(input.options, "to_dict_cloud"):
        out = dict(input.options.to_dict_cloud())
    if options is not None:
        if hasattr(options, "to_dict_cloud"):
            out = dict(options.to_dict_cloud())
        elif isinstance(options, dict):
            for key, value in options.items():
                out[key] = value if isinstance(value, str) else dumps_compact(value, json_configurations)
    for key, value in out.items():
        if not isinstance(value, str):
            raise ValueError(f"options must be dict[str,str], option {key} has type {type(value)} instead.")
    return out


def with_input_format(configuration: RunConfiguration | dict[str, Any] | None, fmt: str | None) -> dict[str, Any] | None:
    """The configuration dict, with ``format.input.type`` filled in for archive inputs."""
    config = configuration.to_dict() if isinstance(configuration, RunConfiguration) else configuration
    if fmt not in (InputFormat.CSV_ARCHIVE.value, InputFormat.MULTI_FILE.value):
        return config
    config = dict(config or {})
    fmt_block = dict(config.get("format") or {})
    fmt_block.setdefault("input", {"type": fmt})
    config["format"] = fmt_block
    return config


def run_payload(*, run_input: RunInput, upload_id: str | None, name: str | None, description: str | None,
                options: dict[str, str], configuration: dict[str, Any] | None, batch_experiment_id: str | None,
                external_result: ExternalRunResult | dict[str, Any] | None) -> dict[str, Any]:
    """The JSON body of ``POST …/runs``, keys in the order the official SDK sends them."""
    payload: dict[str, Any] = {}
    if upload_id is not None:
        payload["upload_id"] = upload_id
    else:
        payload["input"] = run_input.inline
    if name is not None:
        payload["name"] = name
    if description is not None:
        payload["description"] = description
    if options:
        payload["options"] = options
    if configuration is not None:
        payload["configuration"] = configuration
    if batch_experiment_id is not None:
        payload["batch_experiment_id"] = batch_experiment_id
    if external_result is not None:
        payload["result"] = (
            external_result.to_dict() if isinstance(external_result, ExternalRunResult) else external_result
        )
    return payload


def needs_download(info: RunInformation, *, output: bool) -> bool:
    """Whether the run's output (or input) is too large to come inline."""
    size = info.metadata.output_size if output else info.metadata.input_size
    return size > MAX_INLINE_SIZE


class WaitPlan:
    """Long-poll bookkeeping for ``*_with_result``: how long the next wait is, when to give up, and
    whether the server ignored ``wait`` (an older server) so documented polling must take over."""

    STOP = -1.0

    def __init__(self, options: PollingOptions) -> None:
        self.options = options
        self.started = time.monotonic()
        self.tries = 0

    def remaining(self) -> float:
        if self.options.max_duration < 0:
            return math.inf
        return self.options.max_duration - (time.monotonic() - self.started)

    def next_wait(self) -> float:
        """Seconds for the next long-poll, or ``STOP``; raises as the documented ``poll`` does."""
        opts = self.options
        if 0 <= opts.max_tries <= self.tries:
            raise RuntimeError(f"polling did not succeed after {opts.max_tries} tries")
        if opts.stop is not None and opts.stop():
            return self.STOP
        left = self.remaining()
        if left <= 0:
            raise TimeoutError(
                f"polling did not succeed after {time.monotonic() - self.started} seconds, "
                f"exceeds max duration: {opts.max_duration}"
            )
        self.tries += 1
        longest = STOPPABLE_LONG_POLL_SECONDS if opts.stop is not None else LONG_POLL_SECONDS
        return round(max(0.1, min(longest, left)), 3)

    @staticmethod
    def ignored(wait: float, took: float) -> bool:
        """A non-terminal answer much faster than ``wait``: the server does not long-poll."""
        return took < min(wait / 2, 1.0)

    def fallback_options(self) -> PollingOptions:
        """The caller's options with ``max_duration`` reduced by the time already spent."""
        from dataclasses import replace

        if self.options.max_duration < 0:
            return self.options
        return replace(self.options, max_duration=max(0.0, self.remaining()))


# How ``*_with_result`` asks for a run's event stream: status changes only, and the result with the end.
END_STREAM_PARAMS = {"logs": "false", "result": "true"}


def stream_deadline(options: PollingOptions) -> float | None:
    """When (``time.monotonic()``) waiting on the run's event stream gives up: ``max_duration`` from now."""
    return time.monotonic() + options.max_duration if options.max_duration >= 0 else None


def polling_timeout(options: PollingOptions) -> TimeoutError:
    return TimeoutError(f"polling did not succeed after {options.max_duration} seconds, exceeds max duration: "
                        f"{options.max_duration}")
