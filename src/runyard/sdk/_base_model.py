"""The pydantic base of every wire model: unknown keys ignored, ``None`` omitted when sent."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from pydantic import BaseModel as PydanticBaseModel


class BaseModel(PydanticBaseModel):
    """A wire model: ``from_dict`` to read an API answer, ``to_dict`` to send one."""

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None = None) -> Any:
        """An instance from a dict (``None`` stays ``None``)."""
        if data is None:
            return None
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: aliases used, ``None`` fields left out."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


def from_dict(data: dict[str, Any]) -> Any:
    """Rebuild an object from ``{"class": {"module", "name"}, "attributes": {...}}``."""
    module = import_module(data["class"]["module"])
    cls = getattr(module, data["class"]["name"])
    return cls.from_dict(data["attributes"])
