"""Community apps (``nextmv community list|clone``) from the catalog folder an admin configures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from runyard.domain.errors import Forbidden
from runyard.server.deps import PlatformDep, Viewer
from runyard.services import community

# Internal to the SDK (and a 501 without a catalog): left out of the OpenAPI schema, as the 501 areas are.
router = APIRouter(prefix="/v0/internal/tools", tags=["community"], include_in_schema=False)
FILES = "/v0/internal/tools/files/"


@router.get("")
def file_url(request: Request, platform: PlatformDep, principal: Viewer,
             file: Annotated[str, Query(description="community-apps/manifest.yml or an app's tarball")] = "") -> dict[str, str]:
    """A signed, expiring URL of one catalog file (the SDK downloads it without a key)."""
    community.check_file(platform.settings.community_dir, file)
    expires, sig = community.sign_file(platform.signing_secret, file, platform.settings.limits.signed_url_ttl_seconds)
    base = (platform.settings.public_url or str(request.base_url)).rstrip("/")
    return {"url": f"{base}{FILES}{file}?expires={expires}&signature={sig}"}


@router.get("/files/{file:path}")
async def download(file: str, platform: PlatformDep, expires: Annotated[str, Query()] = "",
                   signature: Annotated[str, Query()] = "") -> Response:
    if not community.verify_file(platform.signing_secret, file, expires, signature):
        raise Forbidden("the URL signature does not match or has expired: ask v0/internal/tools for a new one")
    content, media_type = await run_in_threadpool(community.file_content, platform.settings.community_dir, file)
    return Response(content, media_type=media_type)
