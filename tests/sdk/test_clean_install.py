"""The SDK installs and imports without the server's dependencies (SQLAlchemy, FastAPI, …)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from compat.harness import python311, uv_bin

REPO = Path(__file__).resolve().parents[2]
SDK_DEPENDENCIES = ["httpx", "pydantic", "pyyaml", "typer", "rich"]

PROBE = """
import importlib.util, sys
import runyard.cloud
from runyard import cloud, Input, Output, InputFormat, write
from runyard.sdk import aio, errors
client = cloud.Client(api_key="k", url="http://127.0.0.1:9")
cloud.Application(client=client, id="a")
write(Output(solution={"ok": True}))
server_side = [m for m in ("sqlalchemy", "fastapi", "uvicorn", "alembic", "pydantic_settings") if importlib.util.find_spec(m)]
loaded = [m for m in sys.modules if m.startswith(("runyard.server", "runyard.services", "runyard.storage", "runyard.domain"))]
print("server deps:", server_side, "server modules:", loaded)
sys.exit(1 if server_side or loaded else 0)
"""


def _sdk_only_venv(tmp_path: Path) -> str:
    """A virtualenv holding runyard with only its base dependencies (``pip install runyard``); its python."""
    venv = tmp_path / "sdk-only"

    def uv(*args: str) -> None:
        proc = subprocess.run([uv_bin(), *args], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"uv {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"

    uv("venv", "--python", python311(), str(venv))
    python = str(venv / "bin" / "python")
    uv("pip", "install", "--python", python, "-e", str(REPO), "--no-deps")
    uv("pip", "install", "--python", python, *SDK_DEPENDENCIES)
    return python


@pytest.mark.slow
def test_sdk_imports_in_a_venv_without_server_dependencies(tmp_path: Path) -> None:
    python = _sdk_only_venv(tmp_path)
    proc = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"ok": true' in proc.stdout


@pytest.mark.slow
def test_serve_without_the_server_extra_prints_the_install_command(tmp_path: Path) -> None:
    """``pip install runyard`` then ``runyard serve``: one line naming the command, no traceback."""
    python = _sdk_only_venv(tmp_path)
    runyard = str(Path(python).parent / "runyard")
    for argv in ([runyard, "serve"], [runyard, "serve", "--port", "0"]):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert "pip install 'runyard[server]'" in lines[0] and "Traceback" not in proc.stderr
