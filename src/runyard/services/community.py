"""Community apps from a catalog folder an admin configures (``RUNYARD_COMMUNITY_DIR``), so an
air-gapped installation offers its own templates through ``nextmv community list|clone``.

The catalog is a folder of app folders. Each holds the app (its ``app.yaml`` and code) and a small
``community.yaml``::

    description: Vehicle routing with nextroute   # required
    version: v1.2.0                               # default v1
    type: python                                  # default: app.yaml's type

The official SDK asks ``v0/internal/tools?file=community-apps/manifest.yml`` for a URL, downloads the
manifest (YAML, ``apps: [{name, description, type, app_versions, latest_app_version}]``), and clones
with ``community-apps/<name>/<version>/<name>_<version>.tar.gz``. Both files are made from the folder
when asked for; the URLs are signed and expire, as every URL handed to a client without a key.
"""

from __future__ import annotations

import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from runyard.domain.errors import Invalid, NotAvailable, NotFound
from runyard.storage.blobs import SignedUrlError, sign, verify

CATALOG_FILE = "community.yaml"
ROOT = "community-apps"
MANIFEST = "manifest.yml"
DEFAULT_VERSION = "v1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SKIP = {CATALOG_FILE, "__pycache__", ".git", ".venv", ".DS_Store"}
MAX_TEMPLATE_BYTES = 64 * 1024 * 1024
NOT_CONFIGURED = (
    "community apps are not available on this Runyard: an admin can offer app templates by setting "
    "RUNYARD_COMMUNITY_DIR to a folder of app folders (each with app.yaml and community.yaml); else start "
    "from the templates that ship with the SDK (`nextmv init`) and push with `nextmv cloud app push`"
)


class CatalogError(Invalid):
    """The community catalog has an entry that cannot be read."""


@dataclass(frozen=True)
class CommunityApp:
    name: str
    description: str
    type: str
    version: str
    path: Path

    def manifest_entry(self) -> dict[str, object]:
        return {"name": self.name, "description": self.description, "type": self.type,
                "app_versions": [self.version], "latest_app_version": self.version}


def catalog_dir(configured: Path | None) -> Path:
    """The configured catalog folder; ``NotAvailable`` (501) when none is configured or it is missing."""
    if configured is None:
        raise NotAvailable(NOT_CONFIGURED)
    if not configured.is_dir():
        raise NotAvailable(f"the community catalog folder {configured.name!r} does not exist on this server")
    return configured


def _read_entry(folder: Path) -> CommunityApp | None:
    meta_path = folder / CATALOG_FILE
    if not _NAME.match(folder.name) or not meta_path.is_file() or not (folder / "app.yaml").is_file():
        return None
    try:
        meta = yaml.safe_load(meta_path.read_text()) or {}
        app = yaml.safe_load((folder / "app.yaml").read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CatalogError(f"community app {folder.name!r}: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(app, dict):
        raise CatalogError(f"community app {folder.name!r}: community.yaml and app.yaml must be mappings")
    version = str(meta.get("version") or DEFAULT_VERSION)
    if not _NAME.match(version):
        raise CatalogError(f"community app {folder.name!r}: version {version!r} is not a plain name")
    return CommunityApp(name=folder.name, description=str(meta.get("description") or ""),
                        type=str(meta.get("type") or app.get("type") or "python"), version=version, path=folder)


def list_apps(configured: Path | None) -> list[CommunityApp]:
    """Every app folder of the catalog that has an ``app.yaml`` and a ``community.yaml``, by name."""
    root = catalog_dir(configured)
    found = [_read_entry(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.is_symlink()]
    return [a for a in found if a is not None]


def manifest_text(configured: Path | None) -> str:
    """The catalog as the SDK's ``manifest.yml``."""
    return yaml.safe_dump({"apps": [a.manifest_entry() for a in list_apps(configured)]}, sort_keys=False)


def _member_filter(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if Path(info.name).name in _SKIP or not (info.isfile() or info.isdir()):
        return None  # links could point out of the template; the catalog manifest is the server's
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _resolve(configured: Path | None, file: str) -> CommunityApp | None:
    """The app whose tarball ``file`` names, or None for the manifest; ``NotFound`` for anything else."""
    catalog_dir(configured)
    directory, _, rest = file.partition("/")
    if directory != ROOT:
        raise NotFound(f"{file!r} is not a community catalog file (it starts with {ROOT}/)")
    if rest == MANIFEST:
        return None
    match = re.fullmatch(r"([^/]+)/([^/]+)/([^/]+)_([^/]+)\.tar\.gz", rest)
    if match is not None and match.group(1) == match.group(3) and match.group(2) == match.group(4):
        for app in list_apps(configured):
            if (app.name, app.version) == match.groups()[:2]:
                return app
        raise NotFound(f"community app {match.group(1)!r} has no version {match.group(2)!r}")
    raise NotFound(f"{file!r} is not a community catalog file")


def check_file(configured: Path | None, file: str) -> None:
    """``NotFound`` unless ``file`` names the manifest or a catalog app's tarball (before a URL is signed)."""
    _resolve(configured, file)


def _tarball(app: CommunityApp) -> bytes:
    """The app folder as ``<name>/…`` in a gzip'ed tarball."""
    size = sum(p.stat().st_size for p in app.path.rglob("*") if p.is_file() and not p.is_symlink())
    if size > MAX_TEMPLATE_BYTES:
        raise CatalogError(f"community app {app.name!r} is larger than {MAX_TEMPLATE_BYTES // 2**20} MiB")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(app.path, arcname=app.name, filter=_member_filter)
    return buffer.getvalue()


def file_content(configured: Path | None, file: str) -> tuple[bytes, str]:
    """(content, media type) of one catalog file the SDK asks for (``community-apps/…``)."""
    app = _resolve(configured, file)
    if app is None:
        return manifest_text(configured).encode(), "application/yaml"
    return _tarball(app), "application/gzip"


def sign_file(secret: str, file: str, ttl: int) -> tuple[int, str]:
    return sign(secret, "GET", f"{ROOT}-catalog/{file}", ttl)


def verify_file(secret: str, file: str, expires: str, signature: str) -> bool:
    try:
        verify(secret, "GET", f"{ROOT}-catalog/{file}", int(expires), signature)
    except (SignedUrlError, ValueError):
        return False
    return True
