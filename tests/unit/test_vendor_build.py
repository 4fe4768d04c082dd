"""The console's chart and map libraries come from npm at build time (``hatch_build.py``): pinned versions,
checked against pinned sha512 values, only their distribution files, shipped in the wheel."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import os
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("runyard_hatch_build", REPO / "hatch_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


hook = load_hook()


def npm() -> str:
    found = shutil.which("npm")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("npm is needed to build the console's libraries (apt-get install nodejs npm)", pytrace=False)
        pytest.skip("npm is not available here")
    return found


def tarball(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def test_the_pinned_libraries_are_fetched_checked_and_trimmed(tmp_path: Path) -> None:
    manifest = hook.vendor(tmp_path, npm())
    assert {name: entry["version"] for name, entry in manifest.items()} == {
        lib.name: lib.version for lib in hook.LIBRARIES}
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert "plotly/plotly.min.js" in files and "chartjs/chart.umd.min.js" in files
    assert "leaflet/leaflet.js" in files and "leaflet/leaflet.css" in files and "leaflet/images/layers.png" in files
    assert all(p.endswith(("LICENSE", "LICENSE.md")) for p in files if "LICEN" in p)  # each ships its licence
    assert not [p for p in files if p.endswith((".map", ".ts", "package.json"))]  # only what the console serves
    assert (tmp_path / "plotly" / "plotly.min.js").stat().st_size > 1_000_000
    # Up to date: a second build asks npm for nothing (a missing npm is then no problem).
    messages: list[str] = []
    assert hook.vendor(tmp_path, None, warn=messages.append) == manifest
    assert messages == []


def test_a_tarball_that_is_not_the_pinned_one_fails_the_build(tmp_path: Path) -> None:
    lib = dataclasses.replace(hook.LIBRARIES[2], integrity="sha512-" + "A" * 86 + "==")
    with pytest.raises(hook.VendorError, match="not the pinned"):
        hook.npm_pack(npm(), lib)


def test_without_npm_the_build_goes_on_and_says_so_once(tmp_path: Path) -> None:
    messages: list[str] = []
    assert hook.vendor(tmp_path / "vendor", None, warn=messages.append) == {}
    assert len(messages) == 1 and "npm not found" in messages[0] and "plotly.js-dist-min@" in messages[0]
    assert not (tmp_path / "vendor").exists()


def test_only_listed_regular_files_are_extracted(tmp_path: Path) -> None:
    lib = hook.Library("demo", "demo", "1.0.0", "sha512-x", ("dist/demo.js", "dist/images/"))
    data = tarball({"package/dist/demo.js": b"ok", "package/dist/images/a.png": b"png", "package/src/other.js": b"no",
                    "package/dist/images/../../../escape.js": b"no"},
                   links={"package/dist/images/link.png": "/etc/passwd"})
    assert hook.extract(data, lib, tmp_path) == ["demo.js", "images/a.png"]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == [
        "demo/demo.js", "demo/images/a.png"]
    with pytest.raises(hook.VendorError, match="has no dist/missing.js"):
        hook.extract(data, dataclasses.replace(lib, files=("dist/missing.js",)), tmp_path)


def test_the_wheel_ships_the_libraries(tmp_path: Path) -> None:
    npm()
    from hatchling.builders.wheel import WheelBuilder

    (wheel,) = WheelBuilder(str(REPO)).build(directory=str(tmp_path), versions=["standard"])
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in ("plotly/plotly.min.js", "chartjs/chart.umd.min.js", "leaflet/leaflet.js", "leaflet/leaflet.css",
                 "manifest.json"):
        assert f"runyard/console/static/vendor/{path}" in names, path
    assert "runyard/console/static/js/pages/run.js" in names
