"""A tiny in-memory RunContext and helpers to build bundles for execute() end to end."""

from __future__ import annotations

import io
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runyard.execution.runtime.envs import EnvironmentBuilder


@dataclass
class FakeContext:
    """RunContext backed by dicts; records logs and lifecycle calls for assertions."""

    bundles: dict[str, Path] = field(default_factory=dict)
    inputs: dict[str, Path] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    cancel_on_line: str | None = None

    def bundle_dir(self, bundle_id: str) -> Path:
        return self.bundles[bundle_id]

    def input_path(self, run_id: str) -> Path | None:
        return self.inputs.get(run_id)

    def log(self, run_id: str, line: str) -> None:
        self.logs.append(line)
        if self.cancel_on_line is not None and line.startswith(self.cancel_on_line):
            self.cancel.set()

    def cancel_requested(self, run_id: str) -> bool:
        return self.cancel.is_set()

    def mark_started(self, run_id: str) -> None:
        self.started.append(run_id)


def make_bundle(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> text) under ``root`` and return it."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A .tar.gz holding ``files`` at their relative paths."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tar_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def envs(tmp_path_factory: pytest.TempPathFactory) -> EnvironmentBuilder:
    """One env cache for the whole session: identical requirement sets are built once."""
    return EnvironmentBuilder(root=tmp_path_factory.mktemp("envs"))


@pytest.fixture
def ctx() -> FakeContext:
    return FakeContext()
