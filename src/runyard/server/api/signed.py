"""Signed URLs: PUT and GET of one object, authorised by signature instead of an API key."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from runyard.domain.errors import Invalid
from runyard.server.deps import PlatformDep
from runyard.services import signed
from runyard.services.platform import Platform
from runyard.storage.blobs import BlobNotFound, BlobWriter

router = APIRouter(tags=["signed"])

# Body chunks arrive from the server in pieces of up to 256 KiB (uvicorn + httptools). They are gathered
# (not copied) into blocks of at least this size, each written with one ``writev`` by a worker thread
# while the next block is received. Smaller blocks were no cheaper (per-chunk queue hops cost ~2.8 s of
# CPU per GiB); bigger ones cost more: more pieces alive at once means malloc hands memory back to the
# kernel and faults it in again.
WRITE_BLOCK = 512 * 1024
MAX_PARTS = 256  # bounded even when a client sends tiny chunks


class _BlobFileResponse(FileResponse):
    # Starlette reads 64 KiB per thread hop; 1 MiB cuts the server's CPU per GiB by about five
    # (4 MiB measured no better).
    chunk_size = 1024 * 1024


Q = Annotated[str, Query()]


@router.put("/v1/signed/{key:path}")
async def put_signed(key: str, request: Request, platform: PlatformDep, method: Q = "", expires: Q = "", signature: Q = "") -> dict[str, int]:
    signed.check_signature(platform, "PUT", key, expires, signature)  # before a byte is read or stored
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (error := signed.too_large(platform, int(declared))) is not None:
        raise error
    target = await run_in_threadpool(signed.claim, platform, key)  # one PUT per URL: a second one is 409
    hint = int(declared) if declared.isdigit() else None  # lets the store reserve the space
    try:
        writer = await run_in_threadpool(lambda: platform.blobs.open_writer(
            key, max_bytes=platform.settings.limits.upload_max_bytes, size_hint=hint))
    except BaseException:
        await run_in_threadpool(signed.release, platform, target)
        raise
    claim_of = [target]
    try:
        size = await _receive_into(request, writer, platform, claim_of)
        claim_of[0] = await run_in_threadpool(signed.renew, platform, claim_of[0])  # still ours: publish
        await run_in_threadpool(writer.commit)
    except ValueError as exc:  # the writer's limit
        writer.abort()
        await run_in_threadpool(signed.release, platform, claim_of[0])
        raise Invalid(str(exc)) from None
    except BaseException:
        # Aborted, disconnected or failed: the temp object goes and nothing becomes visible. (A write
        # still running in a worker thread holds the writer's lock; abort waits for it.) The URL may
        # then be tried again.
        writer.abort()
        await run_in_threadpool(signed.release, platform, claim_of[0])
        raise
    await run_in_threadpool(signed.record_received, platform, claim_of[0], size)
    return {"size": size}


async def _receive_into(request: Request, writer: BlobWriter, platform: Platform, claim_of: list[signed.UploadTarget]) -> int:
    """Read the request body straight from ASGI ``receive`` into ``writer``: the chunks are gathered
    (not copied) until they make ``WRITE_BLOCK`` bytes, written with one ``write_parts`` call in a
    worker thread, and the next block is received meanwhile. At most two blocks are held. The PUT's
    claim of its URL is renewed as it goes (``signed.renew``), so a slow upload keeps it."""
    loop = asyncio.get_running_loop()
    renew_every, renewed = signed.renew_every(platform), loop.time()
    receive = request.receive
    pending: asyncio.Future[None] | None = None
    parts: list[bytes] = []
    gathered = received = 0
    more = True
    try:
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if loop.time() - renewed >= renew_every:
                claim_of[0] = await run_in_threadpool(signed.renew, platform, claim_of[0])
                renewed = loop.time()
            if body:
                received += len(body)
                if (error := signed.too_large(platform, received)) is not None:
                    raise error
                parts.append(body)
                gathered += len(body)
            if gathered >= WRITE_BLOCK or len(parts) >= MAX_PARTS or (parts and not more):
                if pending is not None:
                    await pending
                # A worker thread, not the event loop: a write can block on the disk for long (writeback
                # throttling), and the loop serves every other request meanwhile.
                pending = loop.run_in_executor(None, writer.write_parts, parts)
                parts, gathered = [], 0
        if pending is not None:
            await pending
    except BaseException:
        if pending is not None:  # still running: its outcome no longer matters (the caller aborts)
            pending.add_done_callback(lambda f: f.cancelled() or f.exception())
        raise
    return received


@router.get("/v1/signed/{key:path}")
def get_signed(key: str, platform: PlatformDep, method: Q = "", expires: Q = "", signature: Q = "") -> object:
    signed.check_signature(platform, "GET", key, expires, signature)
    local = platform.blobs.local_path(key)
    if local is not None:
        return _BlobFileResponse(local, media_type="application/octet-stream")
    if not platform.blobs.exists(key):
        raise BlobNotFound(f"blob {key!r} does not exist")
    return StreamingResponse(platform.blobs.iter_chunks(key), media_type="application/octet-stream")
