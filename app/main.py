"""The API application: `create_app(settings)` builds FastAPI with routes, error handlers and a lifespan.

The lifespan opens the Redis connection pool (and closes it), creates the media root and runs the retention
sweep periodically. Nothing is built at import time: `uvicorn --factory app.main:create_app` or `v2v api`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings, get_settings
from app.contracts import load_manifest
from app.errors import error_response, install_error_handlers
from app.retention import sweep_expired
from app.routes import health, jobs, models
from app.storage import MediaStorage

log = logging.getLogger(__name__)
FORM_OVERHEAD_BYTES = 1024 * 1024


class BodySizeLimit:
    """Refuse a request whose declared Content-Length exceeds `max_bytes`, before reading it (413)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                    response = error_response(
                        413, "upload_too_large", f"the request is larger than {self.max_bytes} bytes"
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _sweep_forever(app: FastAPI, settings: Settings) -> None:
    while True:
        await asyncio.sleep(settings.RETENTION_SWEEP_INTERVAL_S)
        try:
            removed = await asyncio.to_thread(
                sweep_expired, settings.MEDIA_ROOT, app.state.redis, settings.RETENTION_S
            )
            if removed:
                log.info("retention: removed %d expired jobs", removed)
        except Exception:  # keep sweeping; a failed sweep is logged, never fatal to the API
            log.exception("retention sweep failed")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    settings.MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
    pool = redis.ConnectionPool.from_url(settings.REDIS_URL, health_check_interval=30)
    app.state.redis = redis.Redis(connection_pool=pool)
    sweeper = asyncio.create_task(_sweep_forever(app, settings))
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        app.state.redis.close()
        pool.disconnect()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for `settings` (default: `get_settings()`, from V2V_* environment variables)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="vid2vid service",
        version="1.0",
        description="Label video in, synthesised video out (vid2vid and few-shot vid2vid). "
        'Errors are always `{"error": {"code": "...", "message": "..."}}`.',
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.manifest = load_manifest(settings.MANIFEST)
    app.state.storage = MediaStorage(settings.MEDIA_ROOT)
    install_error_handlers(app)
    max_request = settings.MAX_UPLOAD_BYTES + settings.MAX_REFERENCES * 2 * settings.MAX_REFERENCE_BYTES
    app.add_middleware(BodySizeLimit, max_bytes=max_request + FORM_OVERHEAD_BYTES)
    for module in (jobs, models, health):
        app.include_router(module.router)
    return app
