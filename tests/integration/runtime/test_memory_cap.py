"""The execution class's memory cap holds for both ways of starting a process (prlimit or preexec hook)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runyard.execution.runtime.process import ProcessSpec, run_process

ALLOCATE = "import sys\ntry:\n    b = bytearray(400 * 1024 * 1024)\nexcept MemoryError:\n    sys.exit(42)\nprint('allocated')\n"


@pytest.mark.parametrize("trusted", [True, False], ids=["prlimit", "preexec"])
def test_an_allocation_above_the_cap_fails_and_below_it_works(tmp_path: Path, trusted: bool) -> None:
    script = tmp_path / "alloc.py"
    script.write_text(ALLOCATE)
    lines: list[str] = []

    def run(memory_mb: int | None) -> int | None:
        spec = ProcessSpec(argv=[sys.executable, str(script)], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                           stdout_path=tmp_path / "out", memory_mb=memory_mb, trusted_launcher=trusted)
        return run_process(spec, on_stderr_line=lines.append).exit_code

    assert run(200) == 42, lines
    assert run(2000) == 0, lines
    assert (tmp_path / "out").read_text().strip() == "allocated"
    assert run(None) == 0
