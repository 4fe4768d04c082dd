"""Output collection rules (contract §2.5, §2.8) and input placement."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from runyard.domain.errors import UnsafeArchive
from runyard.domain.manifest import parse_manifest
from runyard.execution.runtime.collect import collect, place_input, snapshot
from runyard.storage.archives import ArchiveLimits

MULTI = parse_manifest(
    {"configuration": {"content": {"format": "multi-file", "multi-file": {"output": {"metrics": "out/m.json"}}}}}
)
JSON = parse_manifest({})


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))


def _collect(tmp_path: Path, manifest, stdout: str | None, before=None):  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    stdout_path = None
    if stdout is not None:
        stdout_path = out / "stdout"
        stdout_path.write_text(stdout)
    logs: list[str] = []
    result = collect(base=tmp_path / "app", manifest=manifest, stdout_path=stdout_path, out_dir=out,
                     before=before or {}, log=logs.append)
    return result, logs


def test_sidecar_lookup_order_and_wrappers(tmp_path: Path) -> None:
    app = tmp_path / "app"
    _write(app / "outputs/statistics/statistics.json", {"statistics": {"from": "nested"}})
    _write(app / "outputs/metrics.json", {"from": "outputs"})
    stdout = json.dumps({"statistics": {"from": "stdout"}, "metrics": {"from": "stdout"}, "assets": [{"name": "a"}]})
    result, _ = _collect(tmp_path, JSON, stdout)
    assert result.statistics == {"from": "nested"}
    assert result.metrics == {"from": "outputs"}  # bare value accepted
    assert result.assets == [{"name": "a"}]       # only stdout had it


def test_multi_file_manifest_path_wins(tmp_path: Path) -> None:
    app = tmp_path / "app"
    _write(app / "out/m.json", {"metrics": {"from": "manifest"}})
    _write(app / "outputs/metrics.json", {"metrics": {"from": "default"}})
    result, _ = _collect(tmp_path, MULTI, None)
    assert result.metrics == {"from": "manifest"}


def test_broken_sidecar_is_skipped_and_logged(tmp_path: Path) -> None:
    _write(tmp_path / "app/outputs/statistics.json", "{not json")
    result, logs = _collect(tmp_path, JSON, '{"statistics": {"ok": 1}}')
    assert result.statistics == {"ok": 1}
    assert any("not valid JSON" in line for line in logs)


def test_non_json_stdout_becomes_json_string(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    result, logs = _collect(tmp_path, JSON, "plain text\n")
    assert json.loads(result.output_path.read_text()) == "plain text\n"  # type: ignore[union-attr]
    assert result.statistics is None and logs


def test_empty_stdout_is_no_output(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    result, _ = _collect(tmp_path, JSON, "")
    assert result.output_path is None


def test_multi_file_collects_new_or_modified_only(tmp_path: Path) -> None:
    app = tmp_path / "app"
    _write(app / "outputs/solutions/shipped.json", {"unchanged": True})
    _write(app / "outputs/solutions/overwritten.json", {"v": 1})
    _write(app / "main.py", "")
    before = snapshot(app)
    _write(app / "outputs/solutions/overwritten.json", {"v": 22})
    _write(app / "outputs/solutions/new/deep.csv", "a\n")
    _write(app / "outputs/solutions/__pycache__/x.pyc", "")
    os.symlink("/etc/passwd", app / "outputs/solutions/link")
    result, _ = _collect(tmp_path, MULTI, None, before)
    with tarfile.open(result.output_path) as tar:  # type: ignore[arg-type]
        names = sorted(tar.getnames())
    assert names == ["new/deep.csv", "overwritten.json"]  # relative to the solutions folder, as users wrote them


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_place_input_by_format(tmp_path: Path) -> None:
    (tmp_path / "in.tgz").write_bytes(_tar({"a.json": b"{}"}))
    (tmp_path / "in.json").write_text("{}")
    limits = ArchiveLimits()
    assert place_input(tmp_path / "in.json", tmp_path, JSON, "json", limits) == tmp_path / "in.json"
    assert place_input(tmp_path / "in.tgz", tmp_path, MULTI, "multi-file", limits) is None
    assert (tmp_path / "inputs/a.json").is_file()
    assert place_input(tmp_path / "in.tgz", tmp_path, JSON, "csv-archive", limits) is None
    assert (tmp_path / "input/a.json").is_file()
    assert place_input(None, tmp_path / "x", MULTI, "multi-file", limits) is None
    assert (tmp_path / "x/inputs").is_dir()


def test_place_input_refuses_unsafe_archive(tmp_path: Path) -> None:
    (tmp_path / "in.tgz").write_bytes(_tar({"../../escape": b"x"}))
    with pytest.raises(UnsafeArchive):
        place_input(tmp_path / "in.tgz", tmp_path / "app", MULTI, "multi-file", ArchiveLimits())
    assert not (tmp_path / "escape").exists()


def test_files_a_json_run_leaves_in_output_are_named_in_its_log(tmp_path: Path) -> None:
    app = tmp_path / "app"
    _write(app / "output/kept-before.csv", "from the bundle")
    _write(app / "outputs/notes.txt", "from the bundle")
    before = snapshot(app, ("output", "outputs"))
    _write(app / "output/solution.csv", "item,take\na,1\n")
    _write(app / "outputs/metrics.json", {"metrics": {"m": 1}})  # a sidecar: read, so not left behind
    _write(app / "outputs/solutions/extra.json", {"x": 1})
    result, logs = _collect(tmp_path, JSON, '{"solution": {}}', before)
    assert result.metrics == {"m": 1}
    (csv_line,) = [line for line in logs if "under output/" in line]
    assert "output/solution.csv" in csv_line and "kept-before" not in csv_line
    assert "not kept" in csv_line and "json" in csv_line and "csv-archive" in csv_line
    (multi_line,) = [line for line in logs if "under outputs/" in line]
    assert "outputs/solutions/extra.json" in multi_line and "metrics.json" not in multi_line and "notes" not in multi_line
    assert "multi-file" in multi_line


def test_a_json_run_that_writes_no_files_logs_nothing_about_them(tmp_path: Path) -> None:
    app = tmp_path / "app"
    _write(app / "output/from-bundle.csv", "x")
    _, logs = _collect(tmp_path, JSON, '{"solution": {}}', snapshot(app, ("output", "outputs")))
    assert not [line for line in logs if "not kept" in line]
