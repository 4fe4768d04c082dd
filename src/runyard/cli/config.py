"""Where the CLI finds its server and key: flags, then environment, then a profile file.

The profile file is ``~/.runyard/config.toml`` (or ``config.yaml``), one table per profile::

    [default]
    endpoint = "http://127.0.0.1:8000"
    api_key = "ry_..."

Each setting is resolved on its own, so ``--endpoint`` may point a profile's key at another server.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ENDPOINT_ENV = ("RUNYARD_ENDPOINT", "NEXTMV_ENDPOINT")
API_KEY_ENV = ("RUNYARD_API_KEY", "NEXTMV_API_KEY")
PROFILE_ENV = "RUNYARD_PROFILE"
DEFAULT_PROFILE = "default"
TOML_NAME, YAML_NAME = "config.toml", "config.yaml"


class ConfigError(Exception):
    """The CLI is not configured well enough to reach a server."""


@dataclass(frozen=True)
class Connection:
    """A server to talk to and the key to talk with."""

    endpoint: str
    api_key: str


def config_dir() -> Path:
    return Path.home() / ".runyard"


def config_path() -> Path:
    """The profile file in use: ``config.toml`` unless only ``config.yaml`` exists."""
    toml, yml = config_dir() / TOML_NAME, config_dir() / YAML_NAME
    return yml if yml.exists() and not toml.exists() else toml


def read_profiles(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every profile of the file (empty when there is no file)."""
    path = path or config_path()
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text) or {}
    except (OSError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"could not read {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(f"{path} must hold one table per profile, like [default]")
    return data


def resolve(*, endpoint: str | None, api_key: str | None, profile: str | None) -> Connection:
    """The connection from flags > environment > profile; ``ConfigError`` names what is missing."""
    settings = _profile(profile)
    found_endpoint = endpoint or _first_env(ENDPOINT_ENV) or settings.get("endpoint")
    found_key = api_key or _first_env(API_KEY_ENV) or settings.get("api_key")
    if not found_endpoint:
        raise ConfigError(_missing("endpoint", "--endpoint", ENDPOINT_ENV))
    if not found_key:
        raise ConfigError(_missing("API key", "--api-key", API_KEY_ENV))
    return Connection(str(found_endpoint).rstrip("/"), str(found_key))


def has_endpoint(*, endpoint: str | None, profile: str | None) -> bool:
    """Whether a server is configured at all (``keys`` works on a local data dir otherwise)."""
    return bool(endpoint or _first_env(ENDPOINT_ENV) or _profile(profile).get("endpoint"))


def save_profile(name: str, values: dict[str, str]) -> Path:
    """Write ``values`` into profile ``name`` (other profiles are kept); the file is private (0600)."""
    path = config_path()
    profiles = read_profiles(path)
    profiles[name] = {**profiles.get(name, {}), **values}
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _dump_toml(profiles) if path.suffix == ".toml" else yaml.safe_dump(profiles, sort_keys=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def _profile(name: str | None) -> dict[str, Any]:
    chosen = name or os.getenv(PROFILE_ENV) or DEFAULT_PROFILE
    profiles = read_profiles()
    if chosen not in profiles:
        if name or os.getenv(PROFILE_ENV):
            raise ConfigError(f"profile {chosen!r} is not in {config_path()} (create it with: runyard configure --profile {chosen})")
        return {}
    return profiles[chosen]


def _first_env(names: tuple[str, ...]) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def _missing(what: str, flag: str, env: tuple[str, ...]) -> str:
    return f"no {what} configured: pass {flag}, set {env[0]}, or run `runyard configure`"


def _dump_toml(profiles: dict[str, dict[str, Any]]) -> str:
    # Profiles hold flat scalars, so a tiny writer is enough; JSON strings are valid TOML strings.
    blocks = []
    for name, values in profiles.items():
        lines = [f"[{json.dumps(name)}]" if not name.replace("-", "").replace("_", "").isalnum() else f"[{name}]"]
        for key, value in values.items():
            lines.append(f"{key} = {json.dumps(value)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
