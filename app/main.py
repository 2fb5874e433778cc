"""The API application: `create_app(settings)` builds FastAPI with routes, error handlers and a lifespan.

The lifespan opens the Redis connection pool (and closes it), creates the media root and runs the retention
sweep periodically. Nothing is built at import time: `uvicorn --factory app.main:create_app` or `v2v api`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
from fastapi import FastAPI
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings, get_settings
from app.contracts import load_manifest
from app.errors import ApiError, error_response, install_error_handlers
from app.jobs import fetch_owned, to_public
from app.limits import recover_abandoned
from app.liveness import APIS_ALIVE_KEY, BEAT_EVERY_S, beat, forget
from app.metrics import ApiMetrics
from app.openapi import install_docs
from app.part_limits import PartMeter, PartTooLarge
from app.retention import sweep_expired
from app.routes import events, health, jobs, metrics, models, webhooks
from app.routes.web import install_web
from app.schemas import JobPublic
from app.storage import MediaStorage
from app.webhooks import WebhookDispatcher

log = logging.getLogger(__name__)
FORM_OVERHEAD_BYTES = 1024 * 1024


SMALL_BODY_BYTES = 64 * 1024
"""Cap on the body of every request other than `POST /v1/jobs` (no other route takes a body)."""
FORM_FIELD_BYTES = 64 * 1024
"""Cap on each non-file field of the job form (`model`, `options`)."""


class BodySizeLimit:
    """Refuse a request body larger than its cap with 413 "upload_too_large", without reading the rest.

    The declared `Content-Length` is checked before anything is read; then `receive` is wrapped and the bytes
    actually received are counted, so a chunked upload (or one that lies about its length) is stopped as soon
    as it passes the cap, before Starlette spools the multipart body to disk. The 413 carries
    `Connection: close`, so the server drops the connection instead of draining the rest of the upload.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, small_bytes: int = SMALL_BODY_BYTES,
                 part_caps: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.small_bytes = small_bytes
        self.part_caps = part_caps or {}
        """Per-field caps of the job form's file parts, enforced while streaming (`app.part_limits`)."""

    def cap_for(self, scope: Scope) -> int:
        if scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/jobs":
            return self.max_bytes
        return self.small_bytes

    def _meter(self, scope: Scope) -> PartMeter | None:
        for name, value in scope["headers"]:
            if name == b"content-type" and value.lower().startswith(b"multipart/form-data") and self.part_caps:
                return PartMeter(value, self.part_caps, FORM_FIELD_BYTES)
        return None

    def _too_large(self, cap: int) -> ApiError:
        return ApiError(
            413, "upload_too_large", f"the request is larger than {cap} bytes", headers={"Connection": "close"}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(scope)
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > cap):
                if value.isdigit():
                    error = self._too_large(cap)
                    response = error_response(413, error.code, error.message, error.headers)
                else:
                    response = error_response(400, "bad_request", "invalid Content-Length header")
                await response(scope, receive, send)
                return
        received = 0
        started = False
        meter = self._meter(scope) if cap == self.max_bytes else None

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if received > cap:
                    raise self._too_large(cap)
                if meter is not None:
                    try:
                        meter.feed(body)
                    except PartTooLarge as exc:
                        raise ApiError(413, "upload_too_large", str(exc), headers={"Connection": "close"}) from exc
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except ApiError as exc:  # raised by counting_receive outside a route's own error handling
            if started or exc.status_code != 413:
                raise
            await error_response(413, exc.code, exc.message, exc.headers)(scope, receive, send)


async def _sweep_forever(app: FastAPI, settings: Settings) -> None:
    while True:
        await asyncio.sleep(settings.RETENTION_SWEEP_INTERVAL_S)
        try:
            removed = await asyncio.to_thread(sweep_expired, settings.MEDIA_ROOT, app.state.redis, settings.RETENTION_S)
            if removed:
                log.info("retention: removed %d expired jobs", removed)
        except Exception:  # keep sweeping; a failed sweep is logged, never fatal to the API
            log.exception("retention sweep failed")


RECOVER_EVERY_S = 5.0
"""How often an API process looks for submits abandoned by a dead API process (`app.limits.recover_abandoned`)."""


def _beat_and_recover(app: FastAPI) -> None:
    """One heartbeat of this API process and, every RECOVER_EVERY_S, one recovery pass (blocking; run in a thread)."""
    client, name = app.state.redis, app.state.api_name
    beat(client, name, key=APIS_ALIVE_KEY)
    now = time.monotonic()
    if now - app.state.last_recovery < RECOVER_EVERY_S:
        return
    app.state.last_recovery = now
    recovered = recover_abandoned(client, app.state.storage, app.state.settings.API_DEAD_AFTER_S, skip=name)
    if recovered:
        log.warning("gave back the reservations of %d submits abandoned by a dead API process: %s",
                    len(recovered), ", ".join(recovered))


async def _beat_forever(app: FastAPI) -> None:
    while True:
        try:
            await asyncio.to_thread(_beat_and_recover, app)
        except redis.RedisError:  # Redis is down: readiness says so; beat again when it is back
            pass
        except Exception:
            log.exception("API heartbeat / submit recovery failed")
        await asyncio.sleep(BEAT_EVERY_S)


def redis_pool_options() -> dict[str, object]:
    """Connection settings that make a Redis outage a quick 503 and a Redis restart invisible.

    Bounded connect/read timeouts (a hung Redis costs a request at most ~2 x 2 s, then 503, never a hang),
    a health check on connections idle for a while, and one quick retry on a fresh connection, so the first
    request after Redis restarts reconnects instead of failing on a dead pooled socket.
    """
    return {
        "socket_connect_timeout": 2.0,
        "socket_timeout": 2.0,
        "socket_keepalive": True,
        "health_check_interval": 10,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
    }


def _webhook_dispatcher(client: redis.Redis, settings: Settings) -> WebhookDispatcher:
    def read_job(job_id: str, owner: str) -> JobPublic | None:
        try:
            return to_public(fetch_owned(client, job_id, owner), client)
        except ApiError:
            return None

    return WebhookDispatcher(client, read_job, settings.WEBHOOK_ALLOWED_NETWORKS, settings.WEBHOOK_INTERVAL_S,
                             settings.WEBHOOK_BACKOFF_S, settings.WEBHOOK_MAX_ATTEMPTS, settings.WEBHOOK_TIMEOUT_S)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    settings.MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
    pool = redis.ConnectionPool.from_url(settings.redis_url(), **redis_pool_options())
    app.state.redis = redis.Redis(connection_pool=pool)
    app.state.metrics.bind(app.state.redis)
    sweeper = asyncio.create_task(_sweep_forever(app, settings))
    beater = asyncio.create_task(_beat_forever(app))
    dispatcher = _webhook_dispatcher(app.state.redis, settings).start()
    try:
        yield
    finally:
        await asyncio.to_thread(dispatcher.stop)
        for task in (sweeper, beater):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(redis.RedisError):
            forget(app.state.redis, app.state.api_name, key=APIS_ALIVE_KEY)
        app.state.redis.close()
        pool.disconnect()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for `settings` (default: `get_settings()`, from V2V_* environment variables)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Video synthesis service",
        version="1.0",
        description="Video models over REST: translate a label video, predict futures from context frames, or "
        "generate videos from seeds. "
        'Errors are always `{"error": {"code": "...", "message": "..."}}`.',
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.manifest = load_manifest(settings.MANIFEST)
    app.state.storage = MediaStorage(settings.MEDIA_ROOT)
    app.state.metrics = ApiMetrics()
    app.state.api_name = f"api-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    app.state.last_recovery = float("-inf")
    install_error_handlers(app)
    max_request = 2 * settings.MAX_UPLOAD_BYTES + settings.MAX_REFERENCES * 2 * settings.MAX_REFERENCE_BYTES  # + truth
    part_caps = {"video": settings.MAX_UPLOAD_BYTES, "truth": settings.MAX_UPLOAD_BYTES,
                 "references": settings.MAX_REFERENCE_BYTES, "reference_labels": settings.MAX_REFERENCE_BYTES}
    app.add_middleware(BodySizeLimit, max_bytes=max_request + FORM_OVERHEAD_BYTES, part_caps=part_caps)
    for module in (jobs, events, webhooks, models, health, metrics):
        app.include_router(module.router)
    install_docs(app)
    install_web(app, settings.SAMPLES_DIR)
    return app
