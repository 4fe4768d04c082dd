"""The account-wide run queue (O1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from runyard.domain.runs import status_v1
from runyard.server.deps import PlatformDep, Viewer
from runyard.server.schemas.views import ts
from runyard.services.runs.reads import account_queue

router = APIRouter(prefix="/v1/account", tags=["account"])


@router.get("/queue")
def queue(platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return {
        "runs": [
            {
                "id": r.id,
                "user_email": r.user_email or "",
                "name": r.name or "",
                "description": r.description or "",
                "application_id": r.app_id,
                "application_instance_id": r.instance_id,
                "application_version_id": r.version_id,
                "execution_class": r.execution_class,
                "created_at": ts(r.created_at),
                "status_v2": r.status,
                "status": status_v1(r.status),
                "queuing_priority": r.priority,
            }
            for r in account_queue(platform, principal)
        ]
    }
