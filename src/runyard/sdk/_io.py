"""Inputs and outputs of a decision app: ``Input``, ``load``, ``Output``, ``write``."""

from __future__ import annotations

import copy
import csv
import json
import os
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel as PydanticBaseModel

from runyard.sdk._base_client import dumps_pretty


class InputFormat(StrEnum):
    """How an input is encoded."""

    JSON = "json"
    TEXT = "text"
    CSV = "csv"
    CSV_ARCHIVE = "csv-archive"
    MULTI_FILE = "multi-file"


_INPUT_TYPES: dict[InputFormat, type] = {InputFormat.TEXT: str, InputFormat.CSV: list, InputFormat.CSV_ARCHIVE: dict}


@dataclass
class Input:
    """An input: its data, its format and the options it was loaded with."""

    data: Any
    input_format: InputFormat | None = InputFormat.JSON
    options: Any = None

    def __post_init__(self) -> None:
        if self.input_format == InputFormat.JSON:
            try:
                dumps_pretty(self.data)
            except (TypeError, ValueError, OverflowError) as exc:
                raise ValueError(
                    f"Input has input_format InputFormat.JSON and data is of type {type(self.data)}, "
                    "which is not JSON serializable"
                ) from exc
        expected = _INPUT_TYPES.get(self.input_format)  # type: ignore[arg-type]
        if expected is not None and not isinstance(self.data, expected):
            raise ValueError(
                f"unsupported Input.data type: {type(self.data)} with input_format {self.input_format}, "
                f"supported type is `{expected.__name__}`"
            )
        self.options = copy.deepcopy(self.options)

    def to_dict(self) -> dict[str, Any]:
        """The input as a dict."""
        options = self.options.to_dict() if hasattr(self.options, "to_dict") else self.options
        return {"data": self.data, "input_format": InputFormat(self.input_format).value, "options": options}


def _read(path: str | None, input_format: InputFormat, csv_configurations: dict[str, Any]) -> Any:
    if path:
        with open(path, encoding="utf-8") as f:
            return _parse(f, input_format, csv_configurations)
    return _parse(sys.stdin, input_format, csv_configurations)


def _parse(stream: Any, input_format: InputFormat, csv_configurations: dict[str, Any]) -> Any:
    if input_format == InputFormat.JSON:
        return json.load(stream)
    if input_format == InputFormat.TEXT:
        return stream.read().rstrip("\n")
    return list(csv.DictReader(stream, **csv_configurations))


def load(input_format: InputFormat | None = InputFormat.JSON, options: Any = None, path: str | None = None,
         csv_configurations: dict[str, Any] | None = None) -> Input:
    """Read an input from ``path`` (a file, or a directory for csv-archive) or stdin."""
    input_format = InputFormat(input_format or InputFormat.JSON)
    csv_configurations = csv_configurations or {}
    if input_format in (InputFormat.CSV_ARCHIVE, InputFormat.MULTI_FILE):
        dir_path = path or "input"
        if not os.path.isdir(dir_path):
            raise ValueError(f"path {dir_path} is not a directory")
        data = {
            name.removesuffix(".csv"): _read(os.path.join(dir_path, name), InputFormat.CSV, csv_configurations)
            for name in sorted(os.listdir(dir_path))
            if name.endswith(".csv")
        }
        return Input(data=data, input_format=InputFormat.CSV_ARCHIVE, options=options)
    return Input(data=_read(path, input_format, csv_configurations), input_format=input_format, options=options)


class OutputFormat(StrEnum):
    """How an output is encoded."""

    JSON = "json"
    CSV_ARCHIVE = "csv-archive"


def _as_dict(value: Any, what: str) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"unsupported {what} type: {type(value)}")


@dataclass
class Output:
    """An output: solution, statistics, assets, and the options the app ran with."""

    options: Any = None
    output_format: OutputFormat | None = OutputFormat.JSON
    solution: Any = None
    statistics: Any = None
    csv_configurations: dict[str, Any] | None = None
    json_configurations: dict[str, Any] | None = None
    assets: list[Any] | None = None

    def __post_init__(self) -> None:
        self.options = copy.deepcopy(self.options)
        if self.solution is None:
            return
        if self.output_format == OutputFormat.JSON:
            try:
                dumps_pretty(self.solution)
            except (TypeError, ValueError, OverflowError) as exc:
                raise ValueError(
                    f"Output has output_format OutputFormat.JSON and Output.solution is of type "
                    f"{type(self.solution)}, which is not JSON serializable"
                ) from exc
        elif self.output_format == OutputFormat.CSV_ARCHIVE and not isinstance(self.solution, dict):
            raise ValueError(f"unsupported Output.solution type: {type(self.solution)} with output_format "
                             "OutputFormat.CSV_ARCHIVE, supported type is `dict`")

    def to_dict(self) -> dict[str, Any]:
        """The output as the platform reads it from stdout."""
        if self.assets is not None and not isinstance(self.assets, list):
            raise TypeError(f"unsupported assets type: {type(self.assets)}, supported types are `list`")
        out = {
            "options": _as_dict(self.options, "options") or {},
            "solution": self.solution if self.solution is not None else {},
            "statistics": _as_dict(self.statistics, "statistics") or {},
            "assets": [_as_dict(a, "asset") for a in self.assets or []],
        }
        if self.output_format == OutputFormat.CSV_ARCHIVE and self.csv_configurations:
            out["csv_configurations"] = self.csv_configurations
        return out


def write(output: Output | dict[str, Any] | PydanticBaseModel, path: str | None = None,
          skip_stdout_reset: bool = False) -> None:
    """Write an output: JSON to ``path`` or stdout; a csv-archive's solution as CSV files in ``path``."""
    del skip_stdout_reset  # Runyard never redirects stdout, so there is nothing to reset
    if isinstance(output, Output):
        data = output.to_dict()
    elif isinstance(output, dict):
        data = output
    elif hasattr(output, "to_dict"):
        data = output.to_dict()
    elif isinstance(output, PydanticBaseModel):
        data = output.model_dump(mode="json", exclude_none=True, by_alias=True)
    else:
        raise TypeError(f"unsupported output type: {type(output)}, supported types are `Output`, `dict`, `BaseModel`")
    json_configurations = getattr(output, "json_configurations", None) or {}
    if isinstance(output, Output) and output.output_format == OutputFormat.CSV_ARCHIVE:
        _write_archive(output, data, path, json_configurations)
        return
    text = dumps_pretty(data, json_configurations)
    if not path:
        print(text, file=sys.stdout)
        return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def _write_archive(output: Output, data: dict[str, Any], path: str | None, json_configurations: dict[str, Any]) -> None:
    dir_path = path or "output"
    if os.path.isfile(dir_path):
        raise ValueError(f"The path refers to an existing file: {dir_path}")
    os.makedirs(dir_path, exist_ok=True)
    meta = {k: data.get(k, default) for k, default in (("options", {}), ("statistics", {}), ("assets", []))}
    print(dumps_pretty(meta, json_configurations), file=sys.stdout)
    for name, rows in (output.solution or {}).items():
        with open(os.path.join(dir_path, f"{name}.csv"), "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else [], **(output.csv_configurations or {}))
            writer.writeheader()
            writer.writerows(rows)
