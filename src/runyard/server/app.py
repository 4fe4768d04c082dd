"""The FastAPI app factory: wires a runtime from settings, installs routers and the error table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from runyard import __version__
from runyard.server import errors
from runyard.server.api import (
    account,
    admin,
    applications,
    experiments,
    health,
    instances,
    runs,
    secrets,
    signed,
    versions,
)
from runyard.settings import Settings
from runyard.wiring import Runtime, build_runtime


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
            runtime.stop()

    app = FastAPI(title="Runyard", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.platform = runtime.platform
    app.state.runtime = runtime

    @app.middleware("http")
    async def request_ids(request: Request, call_next) -> Response:  # type: ignore[no-untyped-def]
        request.state.request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        response = await call_next(request)
        response.headers["X-Request-Id"] = request.state.request_id
        return response

    errors.install(app)
    for module in (health, applications, versions, instances, runs, secrets, experiments, signed, account, admin):
        app.include_router(module.router)
    return app
