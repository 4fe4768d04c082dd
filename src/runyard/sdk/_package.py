"""Packaging an app directory for push: the manifest's ``files`` plus the manifest itself.

Unlike the official SDK, dependencies are not pre-installed into the bundle: the manifest's
``python.pip-requirements`` (an inline list, or a file that is shipped with the bundle) tells the
server what to install.
"""

from __future__ import annotations

import glob
import os
import platform
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

MANIFEST_FILE_NAME = "app.yaml"
_MANDATORY = {"python": ["main.py"], "go": ["main"], "java": ["main.jar"]}
_DEFAULT_RUNTIME = "ghcr.io/nextmv-io/runtime/python:3.11"


@dataclass
class Bundle:
    """A packaged app: the .tar.gz path, the files it holds, and the activation requirements."""

    path: str
    files: list[str]
    requirements: dict[str, Any] = field(default_factory=dict)


def read_manifest(app_dir: str) -> dict[str, Any]:
    """The app's ``app.yaml`` as a dict."""
    path = os.path.join(app_dir, MANIFEST_FILE_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {MANIFEST_FILE_NAME} in {os.path.abspath(app_dir)}")
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{MANIFEST_FILE_NAME} must be a mapping")
    return data


def requirements_payload(manifest: dict[str, Any]) -> dict[str, Any]:
    """The ``requirements`` of the activation request (``PUT …/binary``)."""
    req: dict[str, Any] = {
        "executable_type": str(manifest.get("type") or "python"),
        "runtime": str(manifest.get("runtime") or _DEFAULT_RUNTIME),
    }
    options = ((manifest.get("configuration") or {}).get("options")) or None
    if isinstance(options, dict):
        items = []
        for item in options.get("items") or []:
            entry = {k: v for k, v in item.items() if k != "type" and v is not None}
            entry["option_type"] = item.get("option_type") or item.get("type")
            entry.setdefault("description", "")
            entry.setdefault("required", False)
            items.append(entry)
        req["options"] = {"strict": bool(options.get("strict", False)), **({"items": items} if items else {})}
    return req


def run_hooks(app_dir: str, manifest: dict[str, Any], say: Callable[[str], None]) -> None:
    """Run the manifest's ``build.command`` and ``pre-push`` command in the app directory."""
    build = manifest.get("build") or {}
    if build.get("command"):
        env = {**os.environ, **{k: str(v) for k, v in (build.get("environment") or {}).items()}}
        say(f"Running build command: {build['command']}")
        _run(build["command"].split(" "), app_dir, env, "build command")
    pre_push = manifest.get("pre-push") or manifest.get("pre_push")
    if pre_push:
        argv = ["cmd", "/c", pre_push] if platform.system() == "Windows" else ["bash", "-c", pre_push]
        say(f"Running pre-push command: {pre_push}")
        _run(argv, app_dir, dict(os.environ), "pre-push command")


def _run(argv: list[str], cwd: str, env: dict[str, str], what: str) -> None:
    try:
        subprocess.run(argv, env=env, check=True, text=True, capture_output=True, cwd=cwd)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"error running {what}: {exc.stderr}") from exc


def find_files(app_dir: str, patterns: list[str]) -> list[str]:
    """Files matched by the manifest's ``files`` globs (``dir/`` = everything below, ``!`` excludes)."""
    found: list[str] = []
    missing: list[str] = []
    for raw in patterns:
        pattern = raw + "*" if raw.endswith("/") else raw
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!")
        matches = [os.path.normpath(m) for m in glob.glob(pattern, root_dir=app_dir, recursive=True)]
        if negated:
            found = [f for f in found if f not in set(matches)]
        elif not matches:
            missing.append(raw)
        else:
            found.extend(m for m in matches if os.path.isfile(os.path.join(app_dir, m)) and m not in found)
    if missing:
        raise FileNotFoundError(f"could not find files listed in manifest: {', '.join(missing)}")
    return found


def package(app_dir: str, manifest: dict[str, Any], on_file: Callable[[str], None] | None = None) -> Bundle:
    """Write the bundle to a temporary .tar.gz (the caller removes it)."""
    kind = str(manifest.get("type") or "python")
    files = find_files(app_dir, [str(p) for p in manifest.get("files") or []])
    missing = [m for m in _MANDATORY.get(kind, []) if m not in files]
    if missing:
        raise FileNotFoundError(f"missing mandatory files: {', '.join(missing)}")
    requirements_file = ((manifest.get("python") or {}).get("pip-requirements"))
    if isinstance(requirements_file, str) and requirements_file.strip():
        name = os.path.normpath(requirements_file.strip())
        if not os.path.isfile(os.path.join(app_dir, name)):
            raise FileNotFoundError(f"pip requirements file '{name}' not found in '{app_dir}'")
        if name not in files:
            files.append(name)  # the server installs from it
    members = [MANIFEST_FILE_NAME, *[f for f in files if f != MANIFEST_FILE_NAME]]
    handle, path = tempfile.mkstemp(prefix="runyard-app-", suffix=".tar.gz")
    os.close(handle)
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            tar.add(os.path.join(app_dir, member), arcname=member, recursive=False)
            if on_file:
                on_file(member)
    return Bundle(path=path, files=members, requirements=requirements_payload(manifest))
