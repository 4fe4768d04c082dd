from __future__ import annotations

import pytest

from runyard.domain.errors import Invalid
from runyard.domain.manifest import manifest_from_requirements, parse_manifest
from runyard.domain.options import option_value_str, render_options


def test_defaults_and_aliases() -> None:
    m = parse_manifest({"files": ["main.py"], "python": {"pip-requirements": "requirements.txt", "version": 3.12}, "unknown": 1})
    assert m.type == "python" and m.entrypoint == "main.py" and m.working_directory == "."
    assert m.content_format == "json"
    assert m.python is not None and m.python.pip_requirements == "requirements.txt" and m.python.version == "3.12"


def test_multi_file_defaults_are_filled() -> None:
    m = parse_manifest({"type": "python", "configuration": {"content": {"format": "multi-file"}}})
    assert m.multi_file.input.path == "inputs"
    assert m.multi_file.output.solutions == "outputs/solutions"


def test_option_items_accept_both_type_keys_and_drop_local_only() -> None:
    m = parse_manifest(
        {"configuration": {"options": {"items": [
            {"name": "duration", "option_type": "int", "default": 30},
            {"name": "input", "type": "string", "local_only": True},
        ]}}}
    )
    assert [(i.name, i.option_type) for i in m.option_items] == [("duration", "int")]


def test_bad_values_name_the_field() -> None:
    with pytest.raises(Invalid, match="type"):
        parse_manifest({"type": "cobol"})
    with pytest.raises(Invalid, match="mapping"):
        parse_manifest(["not", "a", "mapping"])


def test_push_payload_maps_back_to_manifest_fields() -> None:
    req = {
        "executable_type": "python",
        "runtime": "ghcr.io/nextmv-io/runtime/python:3.11",
        "io_configuration": {"format": "multi-file", "multi_file": {"input_path": "in/", "output_configuration": {"metrics_path": "m.json"}}},
        "options": {"strict": True, "items": [{"name": "a", "option_type": "int"}], "format": {"template": ["--{{name}}={{value}}"]}},
        "entrypoint": "src/app.py",
        "working_directory": "src",
    }
    m = parse_manifest(manifest_from_requirements(req))
    assert m.content_format == "multi-file" and m.multi_file.input.path == "in/" and m.multi_file.output.metrics == "m.json"
    assert m.configuration.options is not None and m.configuration.options.strict
    assert m.configuration.options.format == ["--{{name}}={{value}}"]
    assert m.entrypoint == "src/app.py" and m.working_directory == "src"


def test_option_rendering() -> None:
    assert render_options({"duration": "5", "details": False}) == ["-duration", "5", "-details", "false"]
    assert render_options({"a": 1, "b": "x y"}, ["--{{name}}={{value}}"]) == ["--a=1", "--b=x y"]
    assert option_value_str({"k": [1]}) == '{"k":[1]}'
