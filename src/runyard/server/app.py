"""The FastAPI app factory: wires a runtime from settings, installs routers and the error table."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runyard import __version__
from runyard.server import console, errors
from runyard.server.api import (
    account,
    admin,
    applications,
    community,
    ensembles,
    events,
    experiments,
    flows,
    health,
    instances,
    marketplace,
    online,
    operations,
    organizations,
    run_list,
    runs,
    secrets,
    signed,
    unavailable,
    versions,
    webhooks,
)
from runyard.server.edge import BodyLimits
from runyard.server.hot import HotPaths
from runyard.server.observe import Observe
from runyard.settings import Settings
from runyard.wiring import Runtime, build_runtime


class RequestIds:
    """Plain ASGI middleware: every request gets an id (the caller's ``X-Request-Id`` or a new one),
    kept in the request state for error bodies and logs and echoed as a response header.

    Plain ASGI rather than ``@app.middleware``: that one runs each request in an extra task and
    hops every body chunk through a stream, which cost a third of a small request's time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None) or os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = rid
        header = (b"x-request-id", rid.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):  # error bodies set their own
                    headers.append(header)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """A Runyard server; background work starts with the app's lifespan and stops with it."""
    settings = settings or Settings()
    runtime = runtime or build_runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            await runtime.platform.db.aclose()  # the point reads this loop opened
            runtime.stop()

    app = FastAPI(title="Runyard", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.platform = runtime.platform
    app.state.runtime = runtime

    app.add_middleware(HotPaths, platform=runtime.platform)
    app.add_middleware(BodyLimits, inline_input_max_bytes=settings.limits.inline_input_max_bytes,
                       json_body_max_bytes=settings.limits.json_body_max_bytes)
    app.add_middleware(Observe, platform=runtime.platform)
    app.add_middleware(RequestIds)  # outermost: the fast path's answers carry ids too
    errors.install(app)
    for module in (health, applications, versions, instances, runs, secrets, experiments, signed, account, admin,
                   operations, online, ensembles, flows, webhooks, events, organizations,
                   community, marketplace, run_list):
        app.include_router(module.router)
    app.include_router(organizations.me)
    app.include_router(console.router)  # the web console: sessions, /ui/ assets, its pages' URLs
    app.include_router(unavailable.router)  # last: the areas a self-hosted Runyard answers with 501
    return app
