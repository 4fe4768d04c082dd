"""One typed settings tree; environment names derive from the path (``RUNYARD_DATABASE_URL``)."""

from runyard.settings._settings import (
    ExecutionClass,
    ExecutionSettings,
    LimitSettings,
    Settings,
)

__all__ = ["ExecutionClass", "ExecutionSettings", "LimitSettings", "Settings"]
