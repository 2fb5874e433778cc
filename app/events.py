"""Live progress as server-sent events (`GET /v1/jobs/{id}/events`).

The stream reads the job's record (the same `JobPublic` as `GET /v1/jobs/{id}`) every `interval_s` and sends an
event whenever something changed: `status` when the status changed, `progress` when only the frame count did, and
one last `done` once the job is succeeded, failed or canceled, after which the stream ends. Each event's data is
the job's JSON plus `eta_s` (seconds left, estimated from the frames done since the job started; null until a
frame is done). A job deleted while watched ends the stream with an `error` event carrying the usual error body.
Comments (`: keep-alive`) every `keepalive_s` keep proxies from closing an idle stream; a stream lasts at most
`max_s` (clients reconnect, as EventSource does by itself).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from app.errors import ApiError, error_body
from app.schemas import TERMINAL, JobPublic, JobStatus

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


def eta_seconds(job: JobPublic, now: datetime | None = None) -> float | None:
    """Seconds left at the rate the job's frames have come since it started; None when it cannot be told yet."""
    if job.status in TERMINAL:
        return 0.0
    done, total = job.progress.frames_done, job.progress.frames_total
    if job.status != JobStatus.RUNNING or job.started_at is None or done <= 0:
        return None
    elapsed = ((now or datetime.now(UTC)) - job.started_at).total_seconds()
    return round(max(0.0, elapsed / done * max(0, total - done)), 1)


def event_payload(job: JobPublic) -> dict[str, object]:
    return {**job.model_dump(mode="json"), "eta_s": eta_seconds(job)}


def format_event(event: str, data: dict[str, object]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def job_events(
    read: Callable[[], JobPublic],
    disconnected: Callable[[], Awaitable[bool]],
    interval_s: float = 0.5,
    keepalive_s: float = 15.0,
    max_s: float = 3600.0,
) -> AsyncIterator[bytes]:
    """The event stream of one job; `read` returns its current public view (raises ApiError once it is gone)."""
    yield b"retry: 2000\n\n"
    started = last_sent = time.monotonic()
    last: tuple[str, int, int] | None = None
    while time.monotonic() - started < max_s:
        try:
            job = await asyncio.to_thread(read)
        except ApiError as exc:
            yield format_event("error", error_body(exc.code, exc.message))
            return
        state = (job.status.value, job.progress.frames_done, job.progress.frames_total)
        if job.status in TERMINAL:
            yield format_event("done", event_payload(job))
            return
        if state != last:
            kind = "status" if last is None or last[0] != state[0] else "progress"
            yield format_event(kind, event_payload(job))
            last, last_sent = state, time.monotonic()
        elif time.monotonic() - last_sent >= keepalive_s:
            yield b": keep-alive\n\n"
            last_sent = time.monotonic()
        if await disconnected():
            return
        await asyncio.sleep(interval_s)
