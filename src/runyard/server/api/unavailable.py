"""Nextmv Cloud calls a self-hosted Runyard does not serve: a deliberate 501 naming what to use instead.

The official 1.13.0 SDK and CLI reach these paths (integrations, SSO; community apps without a
catalog folder are answered by ``community``). A bare 404 reads as "Runyard is broken"; a
501 with one line says the feature is out of scope here and points to the Runyard way. The key is still required, so the
answer tells nothing to a caller without one.
"""

from __future__ import annotations

from fastapi import APIRouter

from runyard.domain.errors import NotAvailable
from runyard.server.deps import Viewer
from runyard.services import community

router = APIRouter(tags=["not available"])

INTEGRATIONS = (
    "integrations are not available on a self-hosted Runyard: runs execute on Runyard's own executor "
    "(the embedded worker pool or a Ray cluster, chosen with RUNYARD_EXECUTOR)"
)
SSO = (
    "SSO is not available on a self-hosted Runyard: clients authenticate with API keys "
    "(`runyard keys create`); put an identity-aware proxy in front of the server for single sign-on"
)
COMMUNITY = community.NOT_CONFIGURED  # answered by the community router itself

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

# Path prefix → message. Each prefix is answered for itself and every path below it.
AREAS: dict[str, str] = {
    "/v1/integrations": INTEGRATIONS,
    "/v1/enterprise/sso": SSO,
}


def _unavailable(message: str):  # type: ignore[no-untyped-def]
    async def endpoint(principal: Viewer) -> None:
        raise NotAvailable(message)

    return endpoint


for _prefix, _message in AREAS.items():
    for _path in (_prefix, _prefix + "/{rest:path}"):
        router.add_api_route(_path, _unavailable(_message), methods=ALL_METHODS, include_in_schema=False)
