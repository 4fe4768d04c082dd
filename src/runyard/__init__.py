"""Runyard: a self-hosted platform for decision models that speaks the Nextmv Cloud API.

``from runyard import cloud`` is the client SDK (the names of ``nextmv.cloud``); ``Input``,
``InputFormat``, ``Output``, ``OutputFormat``, ``load`` and ``write`` are the app-side helpers
(the names of ``nextmv``). They are loaded on first use so ``import runyard`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Input": "runyard.sdk._io",
    "InputFormat": "runyard.sdk._io",
    "Output": "runyard.sdk._io",
    "OutputFormat": "runyard.sdk._io",
    "load": "runyard.sdk._io",
    "write": "runyard.sdk._io",
}

__all__ = ["Input", "InputFormat", "Output", "OutputFormat", "__version__", "cloud", "load", "write"]


def __getattr__(name: str) -> Any:
    if name == "cloud":
        return import_module("runyard.cloud")
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'runyard' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
