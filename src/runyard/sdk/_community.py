"""Community apps: the app templates the server's admin offers (``RUNYARD_COMMUNITY_DIR``), listed
and cloned as the 1.13.0 SDK's ``nextmv.cloud.community`` does."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path, PurePosixPath

import yaml
from pydantic import AliasChoices, Field

from runyard.sdk._base_model import BaseModel
from runyard.sdk._client import Client

LATEST_VERSION = "latest"
_ROOT = "community-apps"


class CommunityApp(BaseModel):
    """One template of the catalog."""

    description: str
    name: str
    app_type: str = Field(serialization_alias="type", validation_alias=AliasChoices("type", "app_type"))
    app_versions: list[str] | None = None
    latest_app_version: str | None = None


def _download(client: Client, file: str) -> bytes:
    url = client.request("GET", "v0/internal/tools", query_params={"file": f"{_ROOT}/{file}"}).json()["url"]
    return client.request("GET", url, headers={}).content  # the URL is the credential


def list_community_apps(client: Client) -> list[CommunityApp]:
    """The templates the server offers."""
    manifest = yaml.safe_load(_download(client, "manifest.yml")) or {}
    return [CommunityApp.from_dict(a) for a in manifest.get("apps") or []]


def clone_community_app(client: Client, app: str, directory: str | os.PathLike[str] | None = None,
                        version: str = LATEST_VERSION) -> Path:
    """Unpack template ``app`` (its latest version unless ``version``) into ``directory`` (default: ``app``)."""
    found = next((a for a in list_community_apps(client) if a.name == app), None)
    if found is None:
        raise ValueError(f"community app {app!r} not found")
    chosen = found.latest_app_version if version == LATEST_VERSION else version
    if not chosen or chosen not in (found.app_versions or []):
        raise ValueError(f"community app {app!r} does not have version {version!r}")
    data = _download(client, f"{app}/{chosen}/{app}_{chosen}.tar.gz")
    target = Path(directory or app)
    if target.exists() and any(target.iterdir()):
        raise ValueError(f"{target} exists and is not empty")
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            inner = parts[1:] if parts and parts[0] == app else parts
            if not inner or not (member.isfile() or member.isdir()) or ".." in inner or PurePosixPath(member.name).is_absolute():
                continue
            dest = target.joinpath(*inner)
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            dest.write_bytes(source.read() if source else b"")
            dest.chmod(member.mode & 0o755 | 0o600)
    return target
