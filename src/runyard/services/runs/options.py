"""A run's options: manifest defaults < instance < run, validated against the manifest."""

from __future__ import annotations

from typing import Any

from runyard.domain.errors import Invalid
from runyard.domain.manifest import Manifest
from runyard.domain.options import option_value_str


def resolve_options(manifest: Manifest, instance_options: dict[str, Any], request_options: dict[str, Any]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Active options and their summary: manifest defaults < instance < run, each value a string."""
    items = {item.name: item for item in manifest.option_items}
    opts = manifest.configuration.options
    if opts is not None and opts.strict:
        unknown = sorted(set(request_options) - set(items))
        if unknown:
            raise Invalid(f"option {unknown[0]!r} is not defined in the app's manifest (strict options)")
    active: dict[str, str] = {}
    source: dict[str, str] = {}
    for name, item in items.items():
        if item.default is not None:
            active[name], source[name] = option_value_str(item.default), "version"
    for layer, label in ((instance_options, "instance"), (request_options, "run")):
        for name, value in layer.items():
            active[name], source[name] = option_value_str(value), label
    if opts is not None and opts.validation is not None and opts.validation.enforce == "all":
        _validate_values(items, active)
    missing = [name for name, item in items.items() if item.required and name not in active]
    if missing:
        raise Invalid(f"option {missing[0]!r} is required")
    return active, [{"name": n, "value": v, "source": source[n]} for n, v in active.items()]


def _validate_values(items: dict[str, Any], active: dict[str, str]) -> None:
    for name, value in active.items():
        item = items.get(name)
        if item is None:
            raise Invalid(f"option {name!r} is not defined in the app's manifest")
        kind = item.option_type
        try:
            parsed: Any = {"int": int, "float": float}.get(kind, str)(value)
        except ValueError:
            raise Invalid(f"option {name!r} must be of type {kind}, got {value!r}") from None
        if kind == "bool" and value.lower() not in ("true", "false", "1", "0", "t", "f", "yes", "no", "y", "n"):
            raise Invalid(f"option {name!r} must be a bool, got {value!r}")
        attrs = item.additional_attributes or {}
        if kind in ("int", "float"):
            if "min" in attrs and parsed < attrs["min"]:
                raise Invalid(f"option {name!r} must be at least {attrs['min']}, got {value}")
            if "max" in attrs and parsed > attrs["max"]:
                raise Invalid(f"option {name!r} must be at most {attrs['max']}, got {value}")
        if "values" in attrs and attrs["values"] and parsed not in attrs["values"] and value not in map(str, attrs["values"]):
            raise Invalid(f"option {name!r} must be one of {attrs['values']}, got {value!r}")
