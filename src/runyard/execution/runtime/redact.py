"""Secret values out of what a run leaves behind: its log, live log and ``error_log``."""

from __future__ import annotations

import re
from collections.abc import Mapping

MASK = "***"
_MIN_LINE = 4  # lines of a multi-line secret shorter than this are too common to mask on their own


class Redactor:
    """Replaces every secret value of a run with ``***``; the identity when the run has none."""

    def __init__(self, values: list[str]) -> None:
        # Longest first, so a value that contains another is masked whole.
        ordered = sorted({v for v in values if v}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    @classmethod
    def of(cls, env: Mapping[str, str], files: Mapping[str, str]) -> Redactor:
        """For a run's env and file secrets: each value whole, and each line of a multi-line one."""
        values: list[str] = []
        for value in (*env.values(), *files.values()):
            if not value.strip():
                continue  # masking blanks would mask every space of the log
            value = value.strip("\r\n")
            values.append(value)
            lines = value.splitlines()
            if len(lines) > 1:
                values.extend(line.strip() for line in lines if len(line.strip()) >= _MIN_LINE)
        return cls(values)

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)
