from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    """Answers without a key once the server is ready; says how runs are confined and which server
    process runs the dispatcher (``role``: single, leader or standby)."""
    runtime = request.app.state.runtime
    body: dict[str, Any] = {"status": "ok", "sandbox": runtime.sandbox}
    if runtime.leadership is not None:
        body["dispatcher"] = runtime.leadership.describe()
    return body
