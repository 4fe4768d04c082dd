from __future__ import annotations

from fastapi import APIRouter, Request

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, str]:
    """Answers without a key once the server is ready, and says how runs are confined."""
    return {"status": "ok", "sandbox": request.app.state.runtime.sandbox}
