"""Options: merging by source and rendering into argv."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_TEMPLATE: tuple[str, ...] = ("-{{name}}", "{{value}}")


def option_value_str(value: Any) -> str:
    """Options travel as strings: non-strings are JSON-encoded (``True`` → ``true``, ``5`` → ``5``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def render_options(options: Mapping[str, Any], template: Sequence[str] | None = None) -> list[str]:
    """argv for ``options`` with the manifest template (default ``-name value``)."""
    parts = list(template) if template else list(DEFAULT_TEMPLATE)
    argv: list[str] = []
    for name, value in options.items():
        text = option_value_str(value)
        for part in parts:
            argv.append(part.replace("{{name}}", name).replace("{{value}}", text))
    return argv
