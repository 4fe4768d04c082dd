"""Build hook: the console's chart and map libraries, from npm at build time, into the package.

The repository holds none of their code. Each library is fetched with ``npm pack NAME@VERSION`` (npm's
own registry configuration and cache apply), its tarball is checked against the sha512 pinned here,
and only its distribution files are extracted under ``src/runyard/console/static/vendor/`` (ignored by
git, shipped in the wheel, present in an editable install). Without ``npm`` the build goes on without
them and says so once; the console then shows that the chart library is not installed in this build.
"""

# (no ``from __future__ import annotations``: hatchling loads this file outside sys.modules, where
# dataclasses cannot resolve string annotations)
import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

VENDOR = Path("src") / "runyard" / "console" / "static" / "vendor"
MANIFEST = "manifest.json"
NPM_SECONDS = 300


@dataclass(frozen=True)
class Library:
    """One npm package: its pinned version and tarball integrity, and the files the console serves."""

    name: str  # the console's name for it: vendor/<name>/…
    package: str
    version: str
    integrity: str  # sha512-<base64>, as npm's lock files spell it
    files: tuple[str, ...]  # paths inside the tarball's ``package/``; a trailing ``/`` takes the folder

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"


LIBRARIES = (
    Library("plotly", "plotly.js-dist-min", "4.1.2",
            "sha512-VSmS9KVNun16S8qFYYp9LlL/XBby4ueeGqB+K9AqRCVsup8dSpGULap4UyR1f2mz4pV3qjWp1sR5chwLgIKPoQ==",
            ("plotly.min.js", "LICENSE")),
    Library("chartjs", "chart.js", "4.5.1",
            "sha512-GIjfiT9dbmHRiYi6Nl2yFCq7kkwdkp1W/lp2J99rX0yo9tgJGn3lKQATztIjb5tVtevcBtIdICNWqlq5+E8/Pw==",
            ("dist/chart.umd.min.js", "LICENSE.md")),
    Library("leaflet", "leaflet", "1.9.4",
            "sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==",
            ("dist/leaflet.js", "dist/leaflet.css", "dist/images/", "LICENSE")),
)


class VendorError(Exception):
    """A library's tarball is not the one pinned here (its integrity differs, or a listed file is missing)."""


class PackFailed(Exception):
    """npm could not fetch the package (offline, no registry): the build goes on without it."""


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def installed(root: Path) -> dict[str, Any]:
    try:
        return json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def up_to_date(root: Path, lib: Library) -> bool:
    entry = installed(root).get(lib.name) or {}
    return entry.get("integrity") == lib.integrity and all((root / lib.name / f).exists() for f in entry.get("files", []))


def npm_pack(npm: str, lib: Library) -> bytes:
    """The package's tarball, fetched by npm and checked against the pinned integrity."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([npm, "pack", lib.spec, "--pack-destination", tmp, "--silent"],
                              capture_output=True, text=True, timeout=NPM_SECONDS, cwd=tmp)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or len(tarballs) != 1:
            raise PackFailed(f"npm pack {lib.spec} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
        data = tarballs[0].read_bytes()
    if integrity_of(data) != lib.integrity:
        raise VendorError(f"{lib.spec}: the tarball's sha512 is {integrity_of(data)}, not the pinned {lib.integrity}")
    return data


def wanted(lib: Library, member: str) -> str | None:
    """The path under vendor/<name>/ for a tarball member, or None to leave it out."""
    inner = member.removeprefix("package/")
    for path in lib.files:
        if inner == path or (path.endswith("/") and inner.startswith(path)):
            return inner.removeprefix("dist/")
    return None


def extract(data: bytes, lib: Library, root: Path) -> list[str]:
    """Only the listed regular files, at safe relative paths."""
    target = root / lib.name
    shutil.rmtree(target, ignore_errors=True)
    written: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            rel = wanted(lib, member.name)
            if rel is None or not member.isfile() or ".." in Path(rel).parts or Path(rel).is_absolute():
                continue
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            dest.write_bytes(source.read())
            written.append(rel)
    missing = [f for f in lib.files if not f.endswith("/") and wanted(lib, "package/" + f) not in written]
    if missing:
        raise VendorError(f"{lib.spec} has no {', '.join(missing)}")
    return sorted(written)


def vendor(root: Path, npm: str | None, warn: Any = print) -> dict[str, Any]:
    """Fetch what is missing or stale into ``root``; returns the manifest written there."""
    manifest = installed(root)
    stale = [lib for lib in LIBRARIES if not up_to_date(root, lib)]
    if stale and npm is None:
        warn("runyard: npm not found on PATH: building without the console's chart and map libraries "
             f"({', '.join(lib.spec for lib in stale)}); their asset tabs will say so")
        return manifest
    for lib in stale:
        try:
            data = npm_pack(npm, lib)
        except (PackFailed, OSError, subprocess.SubprocessError) as exc:
            warn(f"runyard: building without {lib.spec} (its asset tab will say so): {exc}")
            continue
        files = extract(data, lib, root)
        manifest[lib.name] = {"package": lib.package, "version": lib.version, "integrity": lib.integrity, "files": files}
    manifest = {k: v for k, v in manifest.items() if k in {lib.name for lib in LIBRARIES}}
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


class CustomBuildHook(BuildHookInterface):
    """Runs before the wheel (and an editable install) is built."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root) / VENDOR
        vendor(root, shutil.which("npm"), warn=lambda text: print(text, file=sys.stderr))
