"""Signed URLs: PUT and GET of one object, authorised by signature instead of an API key."""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, StreamingResponse

from runyard.server.deps import PlatformDep
from runyard.services import signed
from runyard.storage.blobs import BlobNotFound

router = APIRouter(tags=["signed"])


class _BlobFileResponse(FileResponse):
    # Starlette reads 64 KiB per thread hop; 1 MiB cuts the server's CPU per GiB by about five.
    chunk_size = 1024 * 1024
Q = Annotated[str, Query()]


@router.put("/v1/signed/{key:path}")
async def put_signed(key: str, request: Request, platform: PlatformDep, method: Q = "", expires: Q = "", signature: Q = "") -> dict[str, int]:
    signed.check_signature(platform, "PUT", key, expires, signature)
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
    result: dict[str, object] = {}

    ended = threading.Event()

    def incoming():  # type: ignore[no-untyped-def]
        while (chunk := chunks.get()) is not None:
            yield chunk
        ended.set()

    def consume() -> None:
        try:
            result["size"] = signed.receive(platform, key, incoming())
        except BaseException as exc:  # handed back to the request
            result["error"] = exc
            while not ended.is_set() and chunks.get() is not None:  # drain so the producer never blocks
                pass

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    loop = asyncio.get_running_loop()
    try:
        async for chunk in request.stream():
            if chunk:
                try:
                    chunks.put_nowait(chunk)
                except queue.Full:
                    await loop.run_in_executor(None, chunks.put, chunk)
    finally:
        await loop.run_in_executor(None, chunks.put, None)
        await loop.run_in_executor(None, worker.join)
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return {"size": int(result["size"])}  # type: ignore[call-overload]


@router.get("/v1/signed/{key:path}")
def get_signed(key: str, platform: PlatformDep, method: Q = "", expires: Q = "", signature: Q = "") -> object:
    signed.check_signature(platform, "GET", key, expires, signature)
    local = platform.blobs.local_path(key)
    if local is not None:
        return _BlobFileResponse(local, media_type="application/octet-stream")
    if not platform.blobs.exists(key):
        raise BlobNotFound(f"blob {key!r} does not exist")
    return StreamingResponse(platform.blobs.iter_chunks(key), media_type="application/octet-stream")
